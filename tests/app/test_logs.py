"""Logs an operator can follow and metrics CloudWatch can read (chalicelib/logs.py), from the
real app in-process: each line one JSON object with level, time, function and request ids;
one line per API request; errors with their stack; EMF metric lines."""

import json
import logging

import pytest
from chalice.test import Client

from chalicelib import apikeys, cleanup, logs, processing
from tests.app import test_cleanup, test_processing, test_renders
from tests.app.test_processing import jpeg, new_upload

LOGGERS = ("image-service.events", "image-service", "chalicelib")


@pytest.fixture
def lines():
    """Every line the app logs during the test, parsed, as its own handlers format them."""
    seen: list[dict] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(json.loads(self.format(record)))

    handlers = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        handler = Collect()
        handler.setFormatter(logger.handlers[0].formatter)
        logger.addHandler(handler)
        handlers.append((logger, handler))
    yield seen
    for logger, handler in handlers:
        logger.removeHandler(handler)


def metrics(lines: list[dict]) -> dict[str, dict]:
    """Metric name -> the EMF line that carries it."""
    found = {}
    for line in lines:
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                found[metric["Name"]] = line
    return found


def s3_event(key: str) -> dict:
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Post",
                "s3": {"bucket": {"name": "image-service-test"}, "object": {"key": key}},
            }
        ]
    }


def test_an_event_line_has_level_time_and_its_fields(app_module, lines):
    logs.log_event("upload_ready", imageId="img_1", durationMs=12)

    (line,) = lines
    assert line["level"] == "INFO"
    assert line["time"].endswith("Z") and "T" in line["time"]
    assert {k: line[k] for k in ("event", "imageId", "durationMs")} == {
        "event": "upload_ready",
        "imageId": "img_1",
        "durationMs": 12,
    }


def test_an_api_request_is_logged_once_with_route_status_duration_and_ids(app_module, lines):
    with Client(app_module.app) as client:
        answer = client.http.get("/health")
    assert answer.status_code == 200

    (request,) = [line for line in lines if line["event"] == "request"]
    assert (request["method"], request["route"], request["status"]) == ("GET", "/health", 200)
    assert isinstance(request["durationMs"], int)
    assert request["function"] == "api_handler"
    assert request["lambdaRequestId"]


def test_an_error_in_a_route_is_logged_with_its_stack_trace_and_a_500(
    app_module, lines, monkeypatch
):
    def broken() -> dict:
        raise RuntimeError("the table is on fire")

    monkeypatch.setattr(app_module.openapi, "document", broken)
    with Client(app_module.app) as client:
        answer = client.http.get("/openapi.json")
    assert answer.status_code == 500

    (error,) = [line for line in lines if line["level"] == "ERROR"]
    assert "RuntimeError: the table is on fire" in error["stack"]
    assert "Traceback (most recent call last)" in error["stack"]
    assert error["lambdaRequestId"]
    (request,) = [line for line in lines if line["event"] == "request"]
    assert request["status"] == 500
    assert request["lambdaRequestId"] == error["lambdaRequestId"]


def test_a_processed_upload_logs_its_ids_on_every_line_and_emits_ready_metrics(app_module, lines):
    _, key = new_upload(jpeg())
    with Client(app_module.app) as client:
        client.lambda_.invoke("handle_upload", s3_event(key))

    image_id, upload_id = key.split("/")[1:]
    mine = [line for line in lines if line.get("lambdaRequestId")]
    assert mine, lines
    assert {line["function"] for line in mine} == {"handle_upload"}
    assert len({line["lambdaRequestId"] for line in mine}) == 1
    assert all(line["imageId"] == image_id and line["uploadId"] == upload_id for line in mine)
    found = metrics(lines)
    ready, took = found["UploadsReady"], found["ProcessingTime"]
    assert ready["UploadsReady"] == 1
    assert ready["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ImageService"
    assert ready["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Stage"]]
    assert took["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "ProcessingTime", "Unit": "Milliseconds"}
    ]
    assert took["ProcessingTime"] >= 0


def test_a_failed_upload_is_counted_by_its_code(app_module, lines):
    _, key = new_upload(b"not an image at all", content_type="image/png", filename="x.png")
    assert processing.process(key) == "failed"

    failed = metrics(lines)["UploadsFailed"]
    assert failed["UploadsFailed"] == 1
    assert failed["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Code", "Stage"]]
    (verdict,) = [line for line in lines if line["event"] == "upload_failed"]
    assert failed["Code"] == verdict["code"]


def test_an_s3_handler_that_raises_is_logged_with_its_stack_and_the_ids(
    app_module, lines, monkeypatch
):
    _, key = new_upload(jpeg())

    def unreachable(job):
        raise ConnectionError("S3 is unreachable")

    monkeypatch.setattr(processing, "STEPS", (processing.claim, unreachable))
    with Client(app_module.app) as client, pytest.raises(ConnectionError):
        client.lambda_.invoke("handle_upload", s3_event(key))

    errors = [line for line in lines if line["level"] == "ERROR"]
    assert [line["event"] for line in errors] == ["upload_error", "invocation_failed"]
    assert all("ConnectionError: S3 is unreachable" in line["stack"] for line in errors)
    assert errors[0]["imageId"] == key.split("/")[1]
    assert errors[0]["lambdaRequestId"] == errors[1]["lambdaRequestId"]


def test_a_render_is_counted_made_then_served_from_the_cache(resources, lines):
    image = test_renders.new_image(test_renders.jpeg((800, 600)))

    test_renders.redirect(image, w="200")
    test_renders.redirect(image, w="200")

    counted = [
        name for line in lines for name in ("RendersMade", "RendersCached") if line.get(name) == 1
    ]
    assert counted == ["RendersMade", "RendersCached"]


def test_a_cleanup_run_emits_its_counts_as_metrics(resources, lines):
    test_cleanup.new_upload()
    counts = cleanup.run(test_cleanup.later(hours=1))

    found = metrics(lines)
    assert found["CleanupExpired"]["CleanupExpired"] == counts["expired"] == 1
    assert found["CleanupExamined"]["CleanupExamined"] == counts["examined"]
    assert "CleanupDurationMs" not in found


def test_each_use_of_an_api_key_is_counted_by_key(resources, lines):
    key = apikeys.issue(test_processing.ALICE, {"name": "partner"})

    apikeys.record_use(key["keyId"])

    used = metrics(lines)["ApiKeyUses"]
    assert (used["ApiKeyUses"], used["KeyId"]) == (1, key["keyId"])
    assert used["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["KeyId", "Stage"]]
