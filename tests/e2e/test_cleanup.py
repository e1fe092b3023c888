"""The scheduled cleanup in a running local stack: an upload whose S3 event is dropped on
purpose is still processed, by the cleanup, within a few of its intervals."""

import time

import pytest

from tests.support import localstack, pictures

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack_dropping_every_event(tmp_path):
    running = localstack.start(
        tmp_path,
        extra_env={"CLEANUP_STUCK_SECONDS": "1"},
        args=("--cleanup-interval", "1", "--drop-events", "."),
    )
    yield running
    running.stop()


def test_an_upload_whose_event_is_dropped_is_processed_by_the_cleanup(
    stack_dropping_every_event,
):
    stack = stack_dropping_every_event
    stack.create_user("dora")
    started = time.monotonic()
    image = localstack.upload(stack, "dora", pictures.jpeg((800, 600)))
    record = localstack.wait_until_done(stack, "dora", image["id"], timeout=20)
    took = time.monotonic() - started

    assert record["status"] == "ready", record
    assert sorted(record["variants"]) == ["hd-rotated", "preview", "thumbnail"]
    # Its only event was dropped, so nothing but the cleanup can have processed it.
    dropped = [line for line in stack.output if "dropped S3 event on purpose" in line]
    assert [line for line in dropped if image["id"] in line]
    assert took < 10, f"processed {took:.1f}s after the upload"
