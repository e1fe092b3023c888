"""The scheduled cleanup in-process against moto, with the clock moved by the test."""

import copy
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import moto.dynamodb.models as moto_dynamodb
import pytest
from botocore.exceptions import EndpointConnectionError
from moto.dynamodb.models.table import Table

from chalicelib import (
    aws,
    blobs,
    cleanup,
    image_operations,
    lifecycle,
    processing,
    records,
    settings,
)
from chalicelib.access import Access
from chalicelib.callers import Caller
from chalicelib.failures import Code
from chalicelib.images import Image, Status, Upload
from devserver import moto_fixes
from tests.support import pictures
from tests.support.aws_guards import forbid_scans, query_costs

ALICE = Caller(id="alice-sub", name="alice")
ACTIONS = ("expired", "redriven", "timedOut", "orphansDeleted", "purged", "retired")


def later(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


def after_creation(image_id: str, seconds: float) -> datetime:
    """`seconds` after the image was created (not after now: making the upload takes a
    moment, which a bound a second away would otherwise have to absorb)."""
    created = datetime.fromisoformat(records.get_image(image_id).createdAt)
    return created + timedelta(seconds=seconds)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def put(key: str, data: bytes = b"bytes") -> None:
    aws.client("s3").put_object(Bucket=settings.get().bucket, Key=key, Body=data)


def new_upload(data: bytes | None = None) -> tuple[str, str]:
    created = image_operations.create_image(
        Access(ALICE), {"filename": "photo.jpg", "contentType": "image/jpeg"}
    )
    key = created["upload"]["fields"]["key"]
    if data is not None:
        put(key, data)
    return created["image"]["id"], key


def upload_of(key: str) -> Upload:
    image_id, upload_id = blobs.parse_upload_key(key)
    return records.get_upload(image_id, upload_id)


def claim_and_die(key: str) -> None:
    """What a Lambda that dies right after its claim leaves behind."""
    image_id, upload_id = blobs.parse_upload_key(key)
    processing.claim(processing.Job(key=key, image_id=image_id, upload_id=upload_id))


def handled(counts: dict[str, int]) -> int:
    return sum(counts.get(name, 0) for name in ACTIONS)


def keys() -> set[str]:
    return {key for prefix in cleanup.ORPHAN_PREFIXES for key in blobs.list_keys(prefix)}


@pytest.fixture
def photo():
    return pictures.jpeg((64, 48))


def test_an_upload_whose_url_expired_without_an_object_becomes_expired_and_stays_in_the_log(
    resources,
):
    image_id, key = new_upload()
    counts = cleanup.run(later(seconds=900 + 300 + 1))
    assert counts["expired"] == 1
    assert records.get_image(image_id).status == Status.EXPIRED
    row = upload_of(key)
    assert row.status == Status.EXPIRED
    assert row.failure.code == "upload_expired"
    assert records.sweep_page(Status.AWAITING_UPLOAD, before="9", limit=10).items == []
    assert cleanup.run(later(seconds=2000)).get("expired", 0) == 0


@pytest.mark.parametrize("age", [60, 600, 900 + 299])
def test_an_upload_whose_url_is_still_valid_is_untouched(resources, age):
    image_id, key = new_upload()
    version = records.get_image(image_id).version
    counts = cleanup.run(after_creation(image_id, age))
    assert handled(counts) == 0
    image = records.get_image(image_id)
    assert (image.status, image.version) == (Status.AWAITING_UPLOAD, version)
    assert upload_of(key).status == Status.AWAITING_UPLOAD


def test_an_upload_that_arrived_but_whose_event_was_lost_is_processed_not_expired(resources, photo):
    image_id, key = new_upload(photo)
    counts = cleanup.run(later(seconds=900 + 300 + 60))
    assert counts.get("expired", 0) == 0
    assert counts["redriven"] == 1
    assert records.get_image(image_id).status == Status.READY
    assert upload_of(key).status == Status.READY


def test_an_upload_that_lands_while_the_sweep_runs_is_processed_not_expired(
    resources, photo, monkeypatch
):
    image_id, key = new_upload()
    real_get_image = records.get_image

    def the_object_lands_as_the_sweep_reads_the_record(wanted):
        put(key, photo)
        return real_get_image(wanted)

    monkeypatch.setattr(records, "get_image", the_object_lands_as_the_sweep_reads_the_record)
    counts = cleanup.run(later(seconds=900 + 300 + 1))
    monkeypatch.setattr(records, "get_image", real_get_image)
    assert counts.get("expired", 0) == 0
    assert counts["redriven"] == 1
    assert records.get_image(image_id).status == Status.READY
    row = upload_of(key)
    assert (row.status, row.failure) == (Status.READY, None)


def test_an_upload_that_lands_between_the_check_and_the_expiry_is_still_processed(
    resources, photo, monkeypatch
):
    image_id, key = new_upload()
    real_head = blobs.head

    def head_then_the_object_lands(wanted):
        found = real_head(wanted)
        put(key, photo)
        return found

    monkeypatch.setattr(blobs, "head", head_then_the_object_lands)
    assert cleanup.run(later(seconds=900 + 300 + 1))["expired"] == 1
    monkeypatch.setattr(blobs, "head", real_head)
    assert processing.process(key) == "ready"  # the S3 event of the late object
    assert records.get_image(image_id).status == Status.READY
    row = upload_of(key)
    assert (row.status, row.failure) == (Status.READY, None)


def test_an_upload_its_event_claims_while_the_sweep_looks_at_it_is_left_to_that_run(
    resources, photo, monkeypatch
):
    image_id, key = new_upload(photo)  # arrived; its event is late
    when = later(seconds=301)
    real_head = blobs.head

    def head_while_the_event_claims(wanted):
        found = real_head(wanted)
        with monkeypatch.context() as inner:
            inner.setattr(processing, "now_iso", lambda: iso(when))
            claim_and_die(key)  # the event's run claims it and is still working on it
        return found

    monkeypatch.setattr(blobs, "head", head_while_the_event_claims)
    counts = cleanup.run(when)
    monkeypatch.setattr(blobs, "head", real_head)
    assert counts.get("redriven", 0) == 0
    assert upload_of(key).attempts == 1
    assert records.get_image(image_id).status == Status.PROCESSING


def test_giving_up_on_a_claim_leaves_a_newer_claim_working(resources, photo, monkeypatch):
    """The cleanup gives up on the claim it saw; if another run has taken the upload over
    since (its lease had run out), that run's claim is not failed under it."""
    image_id, key = new_upload(photo)
    claim_and_die(key)
    seen = upload_of(key)
    when = later(seconds=settings.get().processing_lease_seconds + 1)
    monkeypatch.setattr(processing, "now_iso", lambda: iso(when))
    claim_and_die(key)  # a retry takes the expired claim over, and is still working
    assert not lifecycle.fail_stuck(seen, Code.PROCESSING_TIMEOUT, "given up")
    row = upload_of(key)
    assert (row.status, row.attempts) == (Status.PROCESSING, 2)
    assert records.get_image(image_id).status == Status.PROCESSING


def test_an_expired_upload_whose_object_never_came_stays_expired_on_a_stray_event(resources):
    image_id, key = new_upload()
    cleanup.run(later(seconds=900 + 300 + 1))
    assert processing.process(key) == "skipped"
    assert records.get_image(image_id).status == Status.EXPIRED


def test_an_upload_whose_event_was_lost_is_processed_a_few_minutes_later(resources, photo):
    image_id, _ = new_upload(photo)
    assert handled(cleanup.run(later(seconds=60))) == 0
    assert cleanup.run(later(seconds=301))["redriven"] == 1
    assert records.get_image(image_id).status == Status.READY


def test_a_stuck_processing_upload_is_redriven_to_ready_once_its_lease_runs_out(resources, photo):
    image_id, key = new_upload(photo)
    claim_and_die(key)
    lease = settings.get().processing_lease_seconds
    assert handled(cleanup.run(later(seconds=lease - 5))) == 0
    assert cleanup.run(later(seconds=lease + 1))["redriven"] == 1
    assert records.get_image(image_id).status == Status.READY
    assert upload_of(key).attempts == 2


def test_an_upload_released_through_lambdas_three_tries_is_redriven_to_ready(
    resources, photo, monkeypatch
):
    image_id, key = new_upload(photo)

    def unreachable(*args, **kwargs):
        raise EndpointConnectionError(endpoint_url="https://s3.example")

    monkeypatch.setattr(blobs, "fetch", unreachable)
    for _ in range(3):  # the event and Lambda's two retries, all during an S3 outage
        with pytest.raises(EndpointConnectionError):
            processing.process(key)
    monkeypatch.undo()

    assert cleanup.run(later(seconds=400))["redriven"] == 1
    assert records.get_image(image_id).status == Status.READY


def test_an_upload_stuck_through_its_attempts_fails_with_processing_timeout(
    configure, photo, monkeypatch
):
    configure(CLEANUP_MAX_ATTEMPTS="3")
    image_id, key = new_upload(photo)
    claim_and_die(key)
    monkeypatch.setattr(processing, "STEPS", (processing.claim,))  # every redrive dies too
    outcomes = [cleanup.run(later(hours=1)) for _ in range(3)]
    assert [o.get("redriven", 0) for o in outcomes] == [1, 1, 0]
    assert outcomes[2]["timedOut"] == 1
    image = records.get_image(image_id)
    assert image.status == Status.FAILED
    assert image.failure.code == "processing_timeout"
    row = upload_of(key)
    assert (row.status, row.attempts, row.failure.code) == (
        Status.FAILED,
        3,
        "processing_timeout",
    )
    assert blobs.head(key) is None
    assert handled(cleanup.run(later(hours=2))) == 0


def test_an_upload_replaced_before_it_arrived_is_retired_from_the_sweep(resources):
    image_id, first = new_upload()
    image = records.get_image(image_id)
    image_operations.replace_content(ALICE, image, {"contentType": "image/png"})
    counts = cleanup.run(later(seconds=900 + 300 + 1))
    assert counts["retired"] == 1
    assert upload_of(first).status == Status.EXPIRED
    assert records.get_image(image_id).status == Status.EXPIRED  # its own upload expired too
    assert records.sweep_page(Status.AWAITING_UPLOAD, before="9", limit=10).items == []


def test_orphans_older_than_a_day_are_deleted_younger_and_live_ones_kept(resources, photo):
    live_id, live_key = new_upload(photo)
    processing.process(live_key)
    live_render = blobs.render_key(live_id, "abc", "webp")
    put(live_render)
    gone_id, gone_key = new_upload(photo)
    processing.process(gone_key)
    image_operations.delete_image(records.get_image(gone_id))
    leftovers = {
        blobs.render_key(gone_id, "abc", "webp"),
        blobs.upload_key(gone_id, "up-late"),
        blobs.upload_key("img-never-was", "up-1"),
        blobs.variant_key("img-never-was", "up-1", "thumbnail", "jpg"),
        blobs.upload_key(live_id, "up-no-row"),
        blobs.variant_key(live_id, "up-no-row", "thumbnail", "jpg"),
        "uploads/not-a-key-we-make",
    }
    for key in leftovers:
        put(key)
    live = keys() - leftovers
    assert len(live) == 6  # the original, its shared copy, three variants and a render

    assert cleanup.run(later(hours=23)).get("orphansDeleted", 0) == 0
    assert keys() == live | leftovers
    counts = cleanup.run(later(days=1, minutes=1))
    assert counts["orphansDeleted"] == len(leftovers)
    assert keys() == live
    assert cleanup.run(later(days=2)).get("orphansDeleted", 0) == 0


def test_the_orphan_pass_resumes_where_the_last_run_stopped(configure):
    configure(CLEANUP_BATCH="10")
    orphans = {blobs.upload_key(f"img-{n:02}", "up") for n in range(25)}
    orphans |= {blobs.render_key(f"img-{n:02}", "x", "png") for n in range(5)}
    for key in orphans:
        put(key)
    runs = [cleanup.run(later(days=2)) for _ in range(5)]
    assert all(run["examined"] <= 10 for run in runs)
    assert sum(run.get("orphansDeleted", 0) for run in runs) == len(orphans)
    assert keys() == set()


def test_tombstones_older_than_the_retention_are_purged_younger_kept(configure, photo):
    configure(TOMBSTONE_RETENTION_DAYS="30")
    image_id, key = new_upload(photo)
    processing.process(key)
    image_operations.delete_image(records.get_image(image_id))
    assert handled(cleanup.run(later(days=29))) == 0
    assert records.get_image(image_id).status == Status.DELETED
    assert len(records.uploads_of(image_id)) == 1
    assert cleanup.run(later(days=30, minutes=1))["purged"] == 1
    assert records.get_image(image_id) is None
    assert records.uploads_of(image_id) == []
    assert handled(cleanup.run(later(days=31))) == 0


def test_a_tombstone_with_more_upload_rows_than_one_page_is_purged_whole(configure, photo):
    configure(TOMBSTONE_RETENTION_DAYS="30")
    image_id, key = new_upload(photo)
    processing.process(key)
    image_operations.delete_image(records.get_image(image_id))
    with aws.table().batch_writer() as batch:  # a long history of replacements
        for n in range(1_100):
            batch.put_item(Item={"pk": f"IMG#{image_id}", "sk": f"UP#old{n:05d}"})

    assert cleanup.run(later(days=31))["purged"] == 1

    left = aws.table().query(
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": f"IMG#{image_id}"},
        Select="COUNT",
    )
    assert left["Count"] == 0


def test_an_error_on_one_item_is_counted_and_the_run_goes_on(resources, monkeypatch):
    ids = [new_upload()[0] for _ in range(3)]
    real_get = records.get_image

    def flaky(image_id):
        if image_id == ids[1]:
            raise ConnectionError("the network blinked")
        return real_get(image_id)

    monkeypatch.setattr(records, "get_image", flaky)
    counts = cleanup.run(later(hours=1))
    assert (counts["expired"], counts["errors"]) == (2, 1)
    monkeypatch.setattr(records, "get_image", real_get)
    assert cleanup.run(later(hours=1))["expired"] == 1
    assert {records.get_image(i).status for i in ids} == {Status.EXPIRED}


def test_a_run_stops_starting_work_when_its_time_budget_is_spent(configure, monkeypatch):
    configure(CLEANUP_BUDGET_SECONDS="1")
    for _ in range(8):
        new_upload()
    # The run's own clock, moved by the work instead of by the machine: each HEAD "takes"
    # 0.3 s, so the verdict does not depend on how loaded the machine is.
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(cleanup, "time", SimpleNamespace(monotonic=lambda: clock.now))
    real_head = blobs.head

    def slow_head(key):
        clock.now += 0.3
        return real_head(key)

    monkeypatch.setattr(blobs, "head", slow_head)
    first = cleanup.run(later(hours=1))
    assert 1 <= first["expired"] < 8
    assert first["durationMs"] <= 1300  # stopped after the HEAD that spent the budget
    monkeypatch.setattr(blobs, "head", real_head)
    assert cleanup.run(later(hours=1))["expired"] == 8 - first["expired"]


def test_a_run_logs_one_line_with_its_counts(resources, caplog):
    new_upload()
    with caplog.at_level("INFO", logger="image-service"):
        cleanup.run(later(hours=1))
    lines = [r.getMessage() for r in caplog.records if "cleanup_run" in r.getMessage()]
    assert len(lines) == 1
    assert '"expired": 1' in lines[0]
    assert '"durationMs"' in lines[0]


# 10,000 images, of which 300 need attention -------------------------------------------------

QUIET_READY, QUIET_FRESH, QUIET_TOMBSTONES = 9_500, 150, 50
EXPIRED, ARRIVED, STUCK, OLD_TOMBSTONES = 100, 50, 50, 100


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _image_and_upload(n: int, status: Status, created: datetime, **upload_fields):
    image_id, upload_id = f"img-{n:05}", f"up-{n:05}"
    at = _iso(created)
    image = Image(
        id=image_id,
        ownerId=f"owner-{n % 50}",
        ownerName="someone",
        filename="photo.jpg",
        declaredType="image/jpeg",
        status=status,
        uploadId=upload_id,
        createdAt=at,
        updatedAt=at,
    )
    upload = Upload(
        imageId=image_id,
        uploadId=upload_id,
        ownerId=image.ownerId,
        ownerName=image.ownerName,
        filename="photo.jpg",
        status=status,
        createdAt=at,
        expiresAt=_iso(created + timedelta(seconds=900)),
        key=blobs.upload_key(image_id, upload_id),
        **upload_fields,
    )
    return image, upload


def _items(n: int, status: Status, created: datetime, **upload_fields) -> list[dict]:
    image, upload = _image_and_upload(n, status, created, **upload_fields)
    image_item = records._image_item(image)
    upload_item = records._upload_item(upload)
    if status == Status.DELETED:
        image_item.update(sweepPk="SWEEP#deleted", sweepSk=f"{_iso(created)}#{image.id}")
    if status not in (Status.AWAITING_UPLOAD, Status.PROCESSING):
        del upload_item["sweepPk"], upload_item["sweepSk"]
    return [image_item, upload_item]


class _TableBackup:
    """moto backs up every table a transaction touches with a deepcopy, which costs seconds
    per write at 20,000 items. Our transactions only Put, and a Put replaces an item rather
    than changing it, so a copy of the item maps is an exact backup."""

    def __getattr__(self, name):
        return getattr(copy, name)

    def deepcopy(self, value, memo=None):
        if not isinstance(value, Table):
            return copy.deepcopy(value, memo)
        backup = copy.copy(value)
        backup.items = defaultdict(dict, {h: dict(r) for h, r in value.items.items()})
        return backup


@pytest.fixture
def large_table(monkeypatch):
    monkeypatch.setattr(moto_dynamodb, "copy", _TableBackup())
    # And moto sorts all 20,000 items for every query; the local stack's fix reads the
    # partition only, with the same answers (tests/unit/test_moto_fixes.py).
    monkeypatch.setattr(Table, "query", moto_fixes.query_one_partition(Table.query))


@pytest.mark.slow
def test_ten_thousand_records_with_300_needing_attention_are_swept_in_bounded_runs(
    configure, photo, large_table
):
    configure(CLEANUP_BATCH="100", CLEANUP_MAX_ATTEMPTS="3")
    now = datetime.now(UTC)
    plan = (
        [(Status.READY, now - timedelta(days=3), {})] * QUIET_READY
        + [(Status.AWAITING_UPLOAD, now - timedelta(seconds=30), {})] * QUIET_FRESH
        + [(Status.DELETED, now - timedelta(days=2), {})] * QUIET_TOMBSTONES
        + [(Status.AWAITING_UPLOAD, now - timedelta(hours=2), {})] * EXPIRED
        + [(Status.AWAITING_UPLOAD, now - timedelta(minutes=10), {})] * ARRIVED
        + [
            (
                Status.PROCESSING,
                now - timedelta(hours=1),
                {"attempts": 3, "claimedAt": _iso(now - timedelta(hours=1))},
            )
        ]
        * STUCK
        + [(Status.DELETED, now - timedelta(days=40), {})] * OLD_TOMBSTONES
    )
    assert len(plan) == 10_000
    arrived = range(QUIET_READY + QUIET_FRESH + QUIET_TOMBSTONES + EXPIRED, len(plan))[:ARRIVED]
    written = time.monotonic()
    with aws.table().batch_writer() as batch:
        for n, (status, created, fields) in enumerate(plan):
            for item in _items(n, status, created, **fields):
                batch.put_item(Item=item)
    for n in arrived:
        put(blobs.upload_key(f"img-{n:05}", f"up-{n:05}"), photo)

    print(f"\nwritten in {time.monotonic() - written:.1f}s")  # figures for the report (-s)
    client = aws.table().meta.client
    forbid_scans(client)
    costs = query_costs(client)
    runs = []
    for _ in range(8):
        before = costs.scanned
        started = time.monotonic()
        counts = cleanup.run(now)
        runs.append((counts, costs.scanned - before, time.monotonic() - started))
        if handled(counts) == 0:
            break

    for counts, scanned, _ in runs:
        assert handled(counts) <= counts["examined"] <= 100
        assert scanned <= 100 + 2 * counts.get("purged", 0)  # a purge reads its image's rows
    assert handled(runs[0][0]) < 300
    assert len(runs) <= 6, [r[0] for r in runs]
    assert handled(runs[-1][0]) == 0
    totals = sum((Counter(r[0]) for r in runs), Counter())
    assert (totals["expired"], totals["redriven"], totals["timedOut"], totals["purged"]) == (
        EXPIRED,
        ARRIVED,
        STUCK,
        OLD_TOMBSTONES,
    )
    assert totals["errors"] == 0
    left = {
        status: len(records.sweep_page(status, before="9", limit=1000).items)
        for status in (Status.AWAITING_UPLOAD, Status.PROCESSING, Status.DELETED)
    }
    assert left == {
        Status.AWAITING_UPLOAD: QUIET_FRESH,
        Status.PROCESSING: 0,
        Status.DELETED: QUIET_TOMBSTONES,
    }
    print(  # figures for the report, shown with -s
        "\n".join(
            f"run {i}: handled {handled(c)} examined {c['examined']} query items {s} in {d:.2f}s"
            for i, (c, s, d) in enumerate(runs, 1)
        )
    )


# What one run of an idle deployment costs: it decides how often the cleanup can run.
# Measured here: 4 queries of the sweep index (one a step that reads it), 3 bucket listings
# (one a prefix), one read and 3 writes of the listing position: 11 calls. At one run every
# 2 minutes that is 720 runs a day: 2,160 S3 LISTs (about $0.33 a month at $0.005 per
# 1,000) and 5,760 DynamoDB requests (under $0.01), plus 720 short invocations.
IDLE_RUN_CALLS = 11


def test_an_idle_cleanup_run_costs_a_handful_of_aws_calls(resources, calls):
    cleanup.run()
    assert sum(calls.values()) <= IDLE_RUN_CALLS, dict(calls)
    assert calls["ListObjectsV2"] == len(cleanup.ORPHAN_PREFIXES)
    assert "Scan" not in calls
