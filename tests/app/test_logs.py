"""Structured event lines survive the app's import (Chalice quietens its own app logger)."""

import json
import logging

from chalicelib import logs


def test_an_event_is_logged_as_one_json_line_after_the_app_is_imported(app_module):
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append
    logger = logs._logger
    logger.addHandler(handler)
    try:
        logs.log_event("upload_ready", imageId="img_1", durationMs=12)
    finally:
        logger.removeHandler(handler)
    assert app_module.app.log.name != logger.name
    assert [json.loads(record.getMessage()) for record in seen] == [
        {"event": "upload_ready", "imageId": "img_1", "durationMs": 12}
    ]
