"""A claim's lease: a run killed mid-way (out of memory, out of time) leaves its claim behind,
and the next try of the event takes it over once the lease has run out, instead of skipping
it as 'already processing' and leaving it to an hourly sweep."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chalicelib import aws, blobs, image_operations, processing, records, settings
from chalicelib.access import Access
from chalicelib.callers import Caller
from chalicelib.images import Status, parse_iso
from tests.support import pictures

ALICE = Caller(id="alice-sub", name="alice")
CONFIG = Path(__file__).resolve().parents[2] / ".chalice" / "config.json"


def new_upload() -> tuple[str, str]:
    created = image_operations.create_image(
        Access(ALICE), {"filename": "photo.jpg", "contentType": "image/jpeg"}
    )
    key = created["upload"]["fields"]["key"]
    data = pictures.jpeg((64, 48))
    aws.client("s3").put_object(Bucket=settings.get().bucket, Key=key, Body=data)
    return created["image"]["id"], key


def claim_and_die(key: str) -> None:
    """What a run killed right after its claim (before it could release it) leaves behind."""
    image_id, upload_id = blobs.parse_upload_key(key)
    processing.claim(processing.Job(key=key, image_id=image_id, upload_id=upload_id))


def upload_of(key: str):
    return records.get_upload(*blobs.parse_upload_key(key))


def at(monkeypatch, seconds_from_now: float) -> None:
    """Move processing's clock."""
    moment = datetime.now(UTC) + timedelta(seconds=seconds_from_now)
    stamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    monkeypatch.setattr(processing, "now_iso", lambda: stamp)


def log_lines(caplog) -> list[dict]:
    return [json.loads(message) for message in caplog.messages if message.startswith('{"')]


def test_a_claim_carries_a_lease_no_longer_than_the_upload_functions_timeout(resources):
    _, key = new_upload()
    claim_and_die(key)
    row = upload_of(key)
    lease = parse_iso(row.leaseUntil) - parse_iso(row.claimedAt)
    assert lease == timedelta(seconds=settings.get().processing_lease_seconds)
    for stage in json.loads(CONFIG.read_text())["stages"].values():
        functions = stage["lambda_functions"]
        # Both run the pipeline: the upload's event, and the cleanup's re-drives.
        for name in ("handle_upload", "cleanup"):
            assert lease.total_seconds() <= functions[name]["lambda_timeout"], name


def test_a_retry_after_the_lease_ran_out_takes_over_as_a_new_attempt(
    resources, monkeypatch, caplog
):
    caplog.set_level("INFO")
    image_id, key = new_upload()
    claim_and_die(key)
    before = upload_of(key)
    at(monkeypatch, settings.get().processing_lease_seconds + 1)

    assert processing.process(key) == "ready"

    assert records.get_image(image_id).status == Status.READY
    assert upload_of(key).attempts == 2
    lines = log_lines(caplog)
    claimed = [line for line in lines if line["event"] == "upload_claimed"][-1]
    assert claimed["attempt"] == 2
    assert claimed["tookOver"] == {"claimedAt": before.claimedAt, "leaseUntil": before.leaseUntil}
    (ready,) = [line for line in lines if line["event"] == "upload_ready"]
    assert ready["attempt"] == 2


def test_a_retry_while_the_lease_holds_is_busy_and_left_to_be_tried_again(resources):
    image_id, key = new_upload()
    claim_and_die(key)
    with pytest.raises(processing.Busy):
        processing.process(key)
    row = upload_of(key)
    assert (row.status, row.attempts) == (Status.PROCESSING, 1)
    assert records.get_image(image_id).status == Status.PROCESSING


def test_a_retry_after_the_last_allowed_attempt_died_fails_with_processing_timeout(
    configure, monkeypatch
):
    configure(CLEANUP_MAX_ATTEMPTS="2")
    lease = settings.get().processing_lease_seconds
    image_id, key = new_upload()
    claim_and_die(key)
    at(monkeypatch, lease + 1)
    claim_and_die(key)  # attempt 2 of 2 dies too
    at(monkeypatch, 2 * lease + 2)

    assert processing.process(key) == "skipped"

    image, row = records.get_image(image_id), upload_of(key)
    assert (image.status, image.failure.code) == (Status.FAILED, "processing_timeout")
    assert (row.status, row.attempts, row.failure.code) == (
        Status.FAILED,
        2,
        "processing_timeout",
    )
    assert blobs.head(key) is None
