"""Structured logs: one JSON object a line, with the request or event ids that matter."""

import json
import logging
import sys

_logger = logging.getLogger("image-service.events")
if not _logger.handlers:
    _handler = logging.StreamHandler(sys.stdout)
    _handler.setFormatter(logging.Formatter("%(message)s"))
    _logger.addHandler(_handler)
    _logger.setLevel(logging.INFO)
    _logger.propagate = False


def log_event(event: str, **fields: object) -> None:
    _logger.info(json.dumps({"event": event, **fields}, default=str, sort_keys=True))
