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


def _metric(**values: int) -> str:
    """chalicelib.logs.metric's line for the cleanup's counts."""
    directive = {"CloudWatchMetrics": [{"Metrics": [{"Name": name} for name in values]}]}
    return _line(event="metric", level="INFO", function="cleanup", _aws=directive, **values)


@pytest.mark.parametrize(
    "line",
    [
        _line(event="cleanup_run", examined=0, durationMs=3),
        _line(event="cleanup_run", examined=22, orphansDeleted=0, durationMs=1530),
        _line(
            event="cleanup_run",
            examined=0,
            orphansDeleted=0,
            durationMs=616,
            function="cleanup",
            lambdaRequestId="e000e35f",
            level="INFO",
            time="2026-12-02T05:11:19.022Z",
        ),
        _metric(CleanupExamined=0, CleanupOrphansDeleted=0),
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
        _line(event="cleanup_run", examined=4, expired=2, function="cleanup", level="INFO"),
        _metric(CleanupExamined=4, CleanupExpired=2),
        _line(event="metric", UploadsReady=1, _aws={"CloudWatchMetrics": []}),
        "not json at all",
        "[1, 2]",
    ],
)
def test_everything_else_the_app_logs_is_printed(line):
    assert console.IdleCleanupFilter().filter(_record(line))
