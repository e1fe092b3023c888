"""What the local stack prints: a cleanup run that changed nothing is left out, everything
else the app logs is kept."""

import json
import logging

import pytest

from devserver import console


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord(console.APP_EVENTS, logging.INFO, __file__, 1, message, None, None)


def _line(**fields: object) -> str:
    return json.dumps(fields, sort_keys=True)


@pytest.mark.parametrize(
    "line",
    [
        _line(event="cleanup_run", examined=0, durationMs=3),
        _line(event="cleanup_run", examined=22, orphansDeleted=0, durationMs=1530),
    ],
)
def test_a_cleanup_run_that_changed_nothing_is_not_printed(line):
    assert not console.IdleCleanupFilter().filter(_record(line))


@pytest.mark.parametrize(
    "line",
    [
        _line(event="cleanup_run", examined=3, expired=1, durationMs=20),
        _line(event="cleanup_run", examined=1, reprocessed=1, orphansDeleted=0, durationMs=5),
        _line(event="upload_ready", imageId="img_1", durationMs=700),
        _line(event="upload_failed", imageId="img_1", code="not_an_image"),
        "not json at all",
        "[1, 2]",
    ],
)
def test_everything_else_the_app_logs_is_printed(line):
    assert console.IdleCleanupFilter().filter(_record(line))
