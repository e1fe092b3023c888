"""Delivers S3 ObjectCreated notifications to the app's on_s3_event handler.

Locally the bucket notifies an SQS queue; this pump long-polls it and calls the handler with
the event Lambda would receive (one record per invocation, as S3 -> Lambda delivers), skips
S3's test event, and deletes a message only after the handler returned. A handler that
raises gets the message back after EVENT_RETRY_SECONDS (30; Lambda waits about one minute,
then two), as Lambda retries an asynchronous event; after the template's
UploadRetryAttempts retries, or once the event is older than UploadEventMaxAgeSeconds, the
event goes to the failure queue in the record Lambda's on-failure destination sends
(requestContext, requestPayload, responsePayload), and is deleted from the event queue.

FAIL_EVENTS (a regex of upload keys) injects a DynamoDB outage: while the handler runs for
a matching key, every DynamoDB call it makes fails as a throttled one does, for the first
FAIL_EVENTS_TIMES deliveries of that key (all of them when unset).

CRASH_EVENTS (a regex of upload keys) injects the fault Lambda's memory and time limits
cause: the first delivery of a matching key runs the handler in a child process that is
killed (SIGKILL) the moment it reads the object from S3, after its claim. Nothing is
released or recorded; the message comes back as a failed invocation's retry would, and the
cleanup may re-drive it first.
"""

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Self
from urllib.parse import unquote_plus

log = logging.getLogger("devserver.events")
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Retries:
    """Lambda's retry policy for the S3 event function (infra/template.yaml's parameters)."""

    attempts: int  # retries after the first try
    max_age_seconds: int
    delay_seconds: int
    failure_queue_url: str
    function_arn: str


class _QueuePoller:
    """Long-polls one SQS queue on a daemon thread until stop(), handing each message to
    `_handle`; a failed receive is logged and tried again a second later."""

    RECEIVE: ClassVar[dict[str, Any]] = {}  # receive_message's other parameters

    def __init__(self, sqs: Any, queue_url: str, name: str):
        self._sqs = sqs
        self._queue_url = queue_url
        self._name = name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                response = self._sqs.receive_message(
                    QueueUrl=self._queue_url, WaitTimeSeconds=1, **self.RECEIVE
                )
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("receiving from %s failed", self._name)
                self._stop.wait(1)
                continue
            for message in response.get("Messages", []):
                self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        raise NotImplementedError


class EventPump(_QueuePoller):
    RECEIVE: ClassVar[dict[str, Any]] = {
        "MaxNumberOfMessages": 10,
        "VisibilityTimeout": 30,
        "AttributeNames": ["ApproximateReceiveCount", "SentTimestamp"],
    }

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Callable[[dict, Any], Any],
        context_factory: Callable[[], Any],
        retries: Retries,
        *,
        drop: Callable[[dict], bool] | None = None,
    ):
        super().__init__(sqs, queue_url, "s3-events")
        self._handler = handler
        self._context_factory = context_factory
        self._retries = retries
        self._drop = drop
        crash = os.environ.get("CRASH_EVENTS", "")
        self._crash = re.compile(crash) if crash else None
        self._crashed: set[str] = set()
        self._outage = _Outage.from_environment()
        self.delivered = 0

    def _handle(self, message: dict[str, Any]) -> None:
        try:
            body = json.loads(message["Body"])
        except ValueError:
            body = {}
        records = body.get("Records") or []  # s3:TestEvent has no Records
        try:
            for record in records:
                key = record["s3"]["object"]["key"]
                if self._drop and self._drop(record):
                    log.info("dropped S3 event on purpose: %s", key)
                    continue
                if self._crash and self._crash.search(key) and key not in self._crashed:
                    self._crashed.add(key)
                    _run_killed_mid_way({"Records": [record]})
                    continue
                with self._outage.during(key):
                    self._handler({"Records": [record]}, self._context_factory())
                self.delivered += 1
        except Exception as error:
            self._failed(message, body, error)
            return
        self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _failed(self, message: dict[str, Any], body: dict[str, Any], error: Exception) -> None:
        """Try again later, as Lambda does, or keep the event in the failure queue."""
        attributes = message.get("Attributes", {})
        tries = int(attributes.get("ApproximateReceiveCount", "1"))
        sent = int(attributes.get("SentTimestamp", "0")) / 1000
        too_old = sent and time.time() - sent > self._retries.max_age_seconds
        if tries <= self._retries.attempts and not too_old:
            log.exception("on_s3_event handler raised; the event will be delivered again")
            self._sqs.change_message_visibility(
                QueueUrl=self._queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=self._retries.delay_seconds,
            )
            return
        condition = "EventAgeExceeded" if too_old else "RetriesExhausted"
        log.exception(
            "on_s3_event handler raised (%s); the event goes to the failure queue", condition
        )
        self._sqs.send_message(
            QueueUrl=self._retries.failure_queue_url,
            MessageBody=json.dumps(self._failure_record(body, error, tries, condition)),
        )
        self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _failure_record(
        self, event: dict[str, Any], error: Exception, tries: int, condition: str
    ) -> dict[str, Any]:
        """What Lambda's on-failure destination sends for an asynchronous invocation."""
        return {
            "version": "1.0",
            "timestamp": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{self._retries.function_arn}:$LATEST",
                "condition": condition,
                "approximateInvokeCount": tries,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_tb(error.__traceback__),
            },
        }


class _Outage:
    """FAIL_EVENTS: DynamoDB fails for the handler of matching keys (see the module doc)."""

    def __init__(self, pattern: re.Pattern[str] | None, times: int | None):
        self._pattern = pattern
        self._times = times
        self._seen: dict[str, int] = {}
        self._active = threading.local()
        if pattern is not None:
            self._install()

    @classmethod
    def from_environment(cls) -> "_Outage":
        pattern = os.environ.get("FAIL_EVENTS", "")
        times = os.environ.get("FAIL_EVENTS_TIMES", "")
        return cls(re.compile(pattern) if pattern else None, int(times) if times else None)

    @contextlib.contextmanager
    def during(self, key: str) -> Iterator[None]:
        """`key` as the event names it (URL-encoded, as S3 sends it)."""
        key = unquote_plus(key)
        failing = False
        if self._pattern is not None and self._pattern.search(key):
            self._seen[key] = self._seen.get(key, 0) + 1
            failing = self._times is None or self._seen[key] <= self._times
        self._active.on = failing
        try:
            yield
        finally:
            self._active.on = False

    def _install(self) -> None:
        import botocore.client
        from botocore.exceptions import ClientError

        real_call = botocore.client.BaseClient._make_api_call
        active = self._active
        assert self._pattern is not None

        def failing(client: Any, operation: str, params: dict) -> Any:
            if (
                getattr(active, "on", False)
                and client.meta.service_model.service_name == "dynamodb"
            ):
                error = {"Code": "ProvisionedThroughputExceededException", "Message": "FAIL_EVENTS"}
                raise ClientError({"Error": error}, operation)
            return real_call(client, operation, params)

        botocore.client.BaseClient._make_api_call = failing
        log.warning("FAIL_EVENTS: DynamoDB fails for the handler of %s", self._pattern.pattern)


def _run_killed_mid_way(event: dict) -> None:
    """Run the upload handler in a child process that dies as an OOM-killed Lambda does."""
    key = event["Records"][0]["s3"]["object"]["key"]
    log.warning("running the handler in a child to be killed mid-run: %s", key)
    child = subprocess.run(
        [sys.executable, "-m", "devserver.events", json.dumps(event)],
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    if child.returncode == -signal.SIGKILL:
        log.warning("the handler was killed mid-run on purpose (SIGKILL): %s", key)
        raise RuntimeError("the handler's process was killed")  # the event comes back
    if child.returncode != 0:
        raise RuntimeError(f"the handler's child process exited with {child.returncode}")


def _die_at_the_first_read(event: dict) -> None:
    """In the child: the app's S3 handler, killed by its own process when it first reads an
    object (by then it has claimed the upload), before anything can be released."""
    import botocore.client
    from chalice.local import LambdaContext

    from devserver import stack

    real_call = botocore.client.BaseClient._make_api_call

    def dying(client: Any, operation: str, params: dict) -> Any:
        if operation == "GetObject":
            os.kill(os.getpid(), signal.SIGKILL)
        return real_call(client, operation, params)

    botocore.client.BaseClient._make_api_call = dying
    import app

    context = LambdaContext(function_name="process", memory_size=2048, max_runtime_ms=120_000)
    stack._handler(app, "s3")(event, context)


class Timer:
    """Fires a scheduled handler every `interval` seconds, as EventBridge would."""

    def __init__(
        self,
        handler: Callable[[dict, Any], Any],
        interval: float,
        context_factory: Callable[[], Any],
    ):
        self._handler = handler
        self._interval = interval
        self._context_factory = context_factory
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="schedule", daemon=True)

    def start(self) -> "Timer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "000000000000",
                "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": os.environ.get("AWS_REGION", "us-east-1"),
                "resources": [],
                "detail": {},
            }
            try:
                self._handler(event, self._context_factory())
            except Exception:
                log.exception("scheduled handler raised")


class QueuePump(_QueuePoller):
    """Drains one SQS queue, handing each message to `deliver`; a message is deleted only
    after `deliver` returned, so one that raises comes back after its visibility timeout,
    as Lambda's SQS event source would retry it."""

    RECEIVE: ClassVar[dict[str, Any]] = {
        "MaxNumberOfMessages": 1,
        "VisibilityTimeout": 10,
        "AttributeNames": ["All"],
    }

    def __init__(self, sqs: Any, queue_url: str, deliver: Callable[[dict], None], name: str):
        super().__init__(sqs, queue_url, name)
        self._deliver = deliver

    def _handle(self, message: dict[str, Any]) -> None:
        try:
            self._deliver(message)
        except Exception:
            log.exception("%s: the handler raised; the message will come back", self._name)
            return
        self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])


def sqs_event(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source gives a function for one message."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": queue_arn.split(":")[3],  # arn:aws:sqs:REGION:ACCOUNT:NAME
            }
        ]
    }


class BusLog:
    """The local bus consumer: every event the bus routed to its queue, one JSON object a
    line in a file (tests read it), and a line on the console."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def __call__(self, message: dict[str, Any]) -> None:
        envelope = json.loads(message["Body"])
        with self._lock, self.path.open("a") as out:
            out.write(json.dumps(envelope, sort_keys=True) + "\n")
        log.info(
            "bus: %s %s", envelope.get("detail-type"), envelope.get("detail", {}).get("imageId")
        )


if __name__ == "__main__":
    _die_at_the_first_read(json.loads(sys.argv[1]))
