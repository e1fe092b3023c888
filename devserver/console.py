"""What the local stack prints: quiet by default, everything with --verbose.

Shown always: the app's own log lines (one JSON object a line) for everything that happened,
the devserver's warnings and errors, and real errors in full, with their tracebacks.
Left out unless --verbose: moto's server log (werkzeug's line for every request to the local
AWS, several per upload), the AWS SDK's chatter below warnings ("Found credentials in
environment variables" each time a client is made) and a scheduled cleanup run that changed
nothing (the schedule fires every few seconds locally, so an idle stack would print a line
every ten seconds forever).
The app logs exactly as in the cloud; only what reaches this terminal is chosen here.
"""

import json
import logging
import sys

APP_EVENTS = "image-service.events"  # chalicelib.logs' logger
LIBRARIES = ("werkzeug", "botocore", "boto3", "urllib3")
# A cleanup run's summary and its metric line (chalicelib.cleanup); their counts other than
# these say what the run changed.
_NOT_CHANGES = {"examined", "durationMs", "CleanupExamined", "CleanupDurationMs"}


class IdleCleanupFilter(logging.Filter):
    """Drops the lines of a cleanup run that changed nothing: its `cleanup_run` summary and
    its metric line (every count but the items examined is 0). Strings (the level, the time,
    the function and request ids every line carries) are not counts."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            fields = json.loads(record.getMessage())
        except (TypeError, ValueError):
            return True
        if not isinstance(fields, dict) or not _of_cleanup_run(fields):
            return True
        return any(
            value
            for name, value in fields.items()
            if name not in _NOT_CHANGES and isinstance(value, int | float)
        )


def _of_cleanup_run(fields: dict[str, object]) -> bool:
    if fields.get("event") == "cleanup_run":
        return True
    return fields.get("event") == "metric" and "CleanupExamined" in fields


def configure(level: str = "INFO", *, verbose: bool = False) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    # werkzeug logs moto's requests at INFO and a request that failed inside moto at ERROR,
    # with its traceback: the failures stay visible, the request lines only when asked for.
    for library in LIBRARIES:
        logging.getLogger(library).setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        logging.getLogger(APP_EVENTS).addFilter(IdleCleanupFilter())
