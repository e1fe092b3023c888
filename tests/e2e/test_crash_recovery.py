"""An upload whose handler is killed mid-run (as Lambda kills one out of memory or time) ends
ready within minutes, its attempts counted in the log, whether the event's own retry or the
cleanup takes the dead run's claim over.

The local stack's CRASH_EVENTS runs the first delivery of each upload event in a child
process that is SIGKILLed as it reads the object from S3, after its claim (devserver/events.py).
"""

import json
import time

import pytest

from tests.support import localstack, pictures

pytestmark = pytest.mark.e2e

LEASE_SECONDS = 3


def start(tmp_path, cleanup_interval: str):
    return localstack.start(
        tmp_path,
        extra_env={"CRASH_EVENTS": ".", "PROCESSING_LEASE_SECONDS": str(LEASE_SECONDS)},
        args=("--cleanup-interval", cleanup_interval),
    )


@pytest.fixture
def stack_with_a_cleanup_every_second(tmp_path):
    running = start(tmp_path, "1")
    yield running
    running.stop()


@pytest.fixture
def stack_without_a_cleanup(tmp_path):
    running = start(tmp_path, "3600")
    yield running
    running.stop()


def log_of(stack, image_id: str) -> list[dict]:
    lines = [line for line in stack.output if line.startswith('{"') and image_id in line]
    return [json.loads(line) for line in lines]


def upload_and_wait(stack, user: str, timeout: float) -> tuple[dict, dict, float]:
    stack.create_user(user)
    started = time.monotonic()
    image = localstack.upload(stack, user, pictures.jpeg((800, 600)))
    record = localstack.wait_until_done(stack, user, image["id"], timeout=timeout)
    return image, record, time.monotonic() - started


def log_once_ready(stack, image_id: str, seconds: float = 10) -> list[dict]:
    """The image's log lines, once its upload_ready line is in: the stack's output is read
    by a thread, so the line may come in just after the API answered `ready`."""
    deadline = time.monotonic() + seconds
    while True:
        log = log_of(stack, image_id)
        if any(line["event"] == "upload_ready" for line in log) or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def assert_killed_then_taken_over(stack, image_id: str) -> list[dict]:
    log = log_once_ready(stack, image_id)
    killed = [line for line in stack.output if "killed mid-run on purpose" in line]
    assert [line for line in killed if image_id in line], "the handler was never killed"
    claims = [line for line in log if line["event"] == "upload_claimed"]
    assert [claim["attempt"] for claim in claims] == [1, 2]
    assert claims[0]["tookOver"] is None
    # The second claim names the dead run's claim, whose lease had run out.
    assert claims[1]["tookOver"]["leaseUntil"] == claims[0]["leaseUntil"]
    (ready,) = [line for line in log if line["event"] == "upload_ready"]
    assert ready["attempt"] == 2
    return log


def test_a_handler_killed_mid_run_is_taken_over_by_the_cleanup_after_its_lease(
    stack_with_a_cleanup_every_second,
):
    stack = stack_with_a_cleanup_every_second
    # Stated bound: the lease, a cleanup interval, and processing (one child's start-up).
    image, record, took = upload_and_wait(stack, "kim", timeout=LEASE_SECONDS + 12)
    assert record["status"] == "ready", record
    assert sorted(record["variants"]) == ["hd-rotated", "preview", "thumbnail"]
    assert_killed_then_taken_over(stack, image["id"])
    print(f"killed mid-run, ready after {took:.1f} s (lease {LEASE_SECONDS} s, cleanup 1 s)")


def test_a_handler_killed_mid_run_is_taken_over_by_its_events_retry(stack_without_a_cleanup):
    stack = stack_without_a_cleanup
    # No cleanup runs: the event comes back after the queue's visibility timeout (30 s),
    # as Lambda's retry does a minute later, finds the lease run out and takes over.
    image, record, took = upload_and_wait(stack, "lou", timeout=45)
    assert record["status"] == "ready", record
    log = assert_killed_then_taken_over(stack, image["id"])
    assert not [line for line in log if line["event"] == "cleanup_run"]
    print(f"killed mid-run, ready after {took:.1f} s via the event's retry")
