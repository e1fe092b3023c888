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
_CLEANUP_RUN = "cleanup_run"
LIBRARIES = ("werkzeug", "botocore", "boto3", "urllib3")
_NOT_CHANGES = {"event", "examined", "durationMs"}  # the fields of a run that did nothing


class IdleCleanupFilter(logging.Filter):
    """Drops the app's `cleanup_run` line when the run changed nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            fields = json.loads(record.getMessage())
        except (TypeError, ValueError):
            return True
        if not isinstance(fields, dict) or fields.get("event") != _CLEANUP_RUN:
            return True
        return any(value for name, value in fields.items() if name not in _NOT_CHANGES)


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
