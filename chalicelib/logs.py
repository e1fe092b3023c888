"""Structured logs and metrics: one JSON object a line on stdout.

Every line carries its level, its time, the function, the Lambda request id and the API
request id (where there is one): `invocation`, the middleware of every handler, binds them
for the length of one invocation, and the caller adds the image and upload ids it names.
Every API request is logged once (`request`: method, route, status, duration); an error
carries its stack trace. Lines of the standard `logging` loggers of chalicelib and Chalice
(its "Caught exception" of a 500) are written the same way.

Metrics are lines in CloudWatch's embedded metric format (EMF): in Lambda, CloudWatch Logs
turns each into metrics of the namespace ImageService with the stage as a dimension, with
no API call and no client; locally they are in the console like every other line.

Hand-written rather than aws-lambda-powertools' Logger and Metrics, which do the same: the
whole format is the few lines below, and importing powertools' Logger and Metrics costs the
API function's cold start more than this module does (docs/operations.md has the figures).
"""

import contextvars
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

NAMESPACE = "ImageService"
# Never mutated: `bound` sets a new mapping and resets it after.
_bound: contextvars.ContextVar[tuple[tuple[str, Any], ...]] = contextvars.ContextVar(
    "log_fields", default=()
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _base(level: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"level": level, "time": _now()}
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if function:
        fields["function"] = function
    trace = os.environ.get("_X_AMZN_TRACE_ID")  # set by Lambda for each invocation (X-Ray)
    if trace:
        fields["traceId"] = trace
    return {**fields, **dict(_bound.get())}


def _stack(error: BaseException) -> str:
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


def line(level: str, event: str, fields: dict[str, Any], error: BaseException | None) -> str:
    record = {**_base(level), "event": event, **fields}
    if error is not None:
        record["error"] = repr(error)
        record["stack"] = _stack(error)
    return json.dumps(record, default=str, sort_keys=True)


class JsonFormatter(logging.Formatter):
    """A standard logging record as one of our lines (its message as `message`)."""

    def format(self, record: logging.LogRecord) -> str:
        error = record.exc_info[1] if record.exc_info else None
        fields = {"logger": record.name, "message": record.getMessage()}
        return line(record.levelname, "log", fields, error)


def _handler(formatter: logging.Formatter) -> logging.Handler:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    return handler


def _configure(name: str, formatter: logging.Formatter) -> logging.Logger:
    logger = logging.getLogger(name)
    if not logger.handlers:
        logger.addHandler(_handler(formatter))
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


_logger = _configure("image-service.events", logging.Formatter("%(message)s"))
# chalicelib's own loggers, and Chalice's app logger (configured here first, Chalice keeps
# it: a 500's "Caught exception" and its stack trace become one line of ours).
_configure("chalicelib", JsonFormatter())
_configure("image-service", JsonFormatter())


def log_event(event: str, **fields: object) -> None:
    _logger.info(line("INFO", event, fields, None))


def log_error(event: str, error: BaseException, **fields: object) -> None:
    _logger.error(line("ERROR", event, fields, error))


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add fields (image and upload ids, say) to every line logged inside the block."""
    merged = {**dict(_bound.get()), **{k: v for k, v in fields.items() if v is not None}}
    token = _bound.set(tuple(merged.items()))
    try:
        yield
    finally:
        _bound.reset(token)


def metric(
    values: dict[str, float], unit: str = "Count", dimensions: dict[str, str] | None = None
) -> None:
    """One EMF line: each of `values` a metric of NAMESPACE, by stage and `dimensions`."""
    from chalicelib import settings

    dims = {"Stage": settings.get().stage, **(dimensions or {})}
    directive = {
        "Timestamp": int(time.time() * 1000),
        "CloudWatchMetrics": [
            {
                "Namespace": NAMESPACE,
                "Dimensions": [sorted(dims)],
                "Metrics": [{"Name": name, "Unit": unit} for name in sorted(values)],
            }
        ],
    }
    record = {**_base("INFO"), "event": "metric", "_aws": directive, **dims, **values}
    _logger.info(json.dumps(record, default=str, sort_keys=True))


def invocation(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Middleware of every handler: binds the function and request ids for its lines, logs
    an API request once when answered, and an error with its stack trace."""
    from chalice.app import Request

    if isinstance(event, Request):
        return _request(event, get_response)
    context = getattr(event, "context", None)
    with bound(
        function=getattr(context, "function_name", None),
        lambdaRequestId=getattr(context, "aws_request_id", None),
    ):
        try:
            return get_response(event)
        except Exception as error:
            log_error("invocation_failed", error)
            raise


def _request(request: Any, get_response: Callable[[Any], Any]) -> Any:
    context = request.lambda_context
    api = request.context or {}
    started = time.monotonic()
    with bound(
        function=getattr(context, "function_name", None),
        lambdaRequestId=getattr(context, "aws_request_id", None),
        apiRequestId=api.get("requestId"),
    ):
        facts = {"method": request.method, "route": api.get("resourcePath"), "path": request.path}
        try:
            response = get_response(request)
        except Exception as error:
            log_error("request", error, **facts, status=500, durationMs=_ms(started))
            raise
        log_event("request", **facts, status=response.status_code, durationMs=_ms(started))
        return response


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
