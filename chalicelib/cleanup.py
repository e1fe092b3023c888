"""The scheduled sweep that keeps the bucket and the table honest.

    expire → redrive_arrived → redrive_stuck → remove_orphans → purge_tombstones

Each step is a small function over one Sweep. Uploads and tombstones that need attention
are found through the sparse sweep index (oldest first, a Query per page, never a Scan);
objects are found by listing the bucket a page at a time from where the last run stopped.

Every run is bounded: it examines at most `cleanup_batch` candidates in all and stops
starting new work when its time budget is spent. Each step first gets an equal share of
the batch, then what the others left goes to the steps that had more, in order, so one
backlog cannot starve the rest. What is left is found again by the next run; every
action is a conditional write or a delete, so running twice does no harm. An error on
one item is logged and counted, and the run goes on.
"""

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib import blobs, lifecycle, processing, records, settings
from chalicelib.failures import Code
from chalicelib.images import Failure, Image, Status, Upload, parse_iso
from chalicelib.logs import log_event, metric

ORPHANS = "ORPHANS"
ORPHAN_PREFIXES = (blobs.RENDERS, blobs.UPLOADS, blobs.VARIANTS)  # in listing order


@dataclass
class Sweep:
    """One run: its clock, what it may still examine, and what it did."""

    now: datetime
    config: settings.Settings
    deadline: float
    left: int
    counts: Counter[str] = field(default_factory=Counter)
    resume: dict[str, Any] = field(default_factory=dict)

    def has_time(self) -> bool:
        return time.monotonic() < self.deadline

    def has_room(self) -> bool:
        return self.left > 0 and self.has_time()

    def ago(self, seconds: float) -> str:
        return _iso(self.now - timedelta(seconds=seconds))

    def examine(self, count: int) -> None:
        self.left -= count
        self.counts["examined"] += count

    def attempt(self, step: str, subject: str, action: Callable[..., None], *args: Any) -> None:
        """Do one item's work; a failure is logged and counted, never the end of the run."""
        try:
            action(self, *args)
        except Exception as error:
            self.counts["errors"] += 1
            log_event("cleanup_error", step=step, subject=subject, error=repr(error))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _due(sweep: Sweep, step: str, status: Status, limit: int, **ages: str) -> Iterator[dict]:
    """Items of the sweep index in `status` within `ages`, one page of at most `limit`,
    continuing after the page this step saw earlier in the run. Stops when time is up."""
    page = records.sweep_page(status, limit=limit, start=sweep.resume.get(step), **ages)
    sweep.resume[step] = page.next_key
    sweep.examine(len(page.items))
    for item in page.items:
        if not sweep.has_time():
            return
        yield item


def expire(sweep: Sweep, limit: int) -> bool:
    """Uploads whose URL expired (plus grace) with no object → expired. One whose object is
    there after all (its event was lost, or it landed during the sweep) is processed."""
    config = sweep.config
    before = sweep.ago(config.upload_url_expiry_seconds + config.cleanup_grace_seconds)
    for item in _due(sweep, "expire", Status.AWAITING_UPLOAD, limit, before=before):
        upload = Upload.from_item(item)
        sweep.attempt("expire", upload.key, _expire_one, upload)
    return sweep.resume["expire"] is not None


def _expire_one(sweep: Sweep, upload: Upload) -> None:
    grace = timedelta(seconds=sweep.config.cleanup_grace_seconds)
    if parse_iso(upload.expiresAt) + grace > sweep.now:
        return  # made with a longer expiry than today's setting; its URL is still good
    image = _current_image(sweep, upload, Status.EXPIRED)
    if image is None:
        return
    # Looked for last, just before the write: an object that lands while the sweep runs is
    # processed, not expired. (One landing in the moment between the two is still processed:
    # its event claims an expired upload whose object is there.)
    if blobs.head(upload.key) is not None:
        _redrive(sweep, upload)
        return
    failure = Failure(Code.UPLOAD_EXPIRED, "no upload arrived before its URL expired")
    now = _iso(sweep.now)
    try:
        records.save_transition(
            *lifecycle.expire(image, upload, now, failure),
            upload_was=Status.AWAITING_UPLOAD,
            image_version_was=image.version,
        )
    except records.LostWrite:
        sweep.counts["raced"] += 1  # the upload arrived and was claimed meanwhile
        return
    sweep.counts["expired"] += 1


def redrive_arrived(sweep: Sweep, limit: int) -> bool:
    """Uploads still awaited some minutes after they were created, with their URL still
    valid: if the object is there, its S3 event was lost; process it."""
    config = sweep.config
    since = sweep.ago(config.upload_url_expiry_seconds + config.cleanup_grace_seconds)
    before = sweep.ago(config.cleanup_stuck_seconds)
    if since >= before:
        return False
    step = "redrive_arrived"
    for item in _due(sweep, step, Status.AWAITING_UPLOAD, limit, since=since, before=before):
        upload = Upload.from_item(item)
        sweep.attempt(step, upload.key, _redrive_if_arrived, upload)
    return sweep.resume[step] is not None


def _redrive_if_arrived(sweep: Sweep, upload: Upload) -> None:
    if blobs.head(upload.key) is not None:
        _redrive(sweep, upload)


def redrive_stuck(sweep: Sweep, limit: int) -> bool:
    """Uploads whose claim's lease ran out unfinished (the Lambda died and its retries ran
    out): process again, or give up after `cleanup_max_attempts`."""
    before = sweep.ago(sweep.config.processing_lease_seconds)
    for item in _due(sweep, "redrive_stuck", Status.PROCESSING, limit, before=before):
        upload = Upload.from_item(item)
        sweep.attempt("redrive_stuck", upload.key, _redrive, upload)
    return sweep.resume["redrive_stuck"] is not None


def _redrive(sweep: Sweep, upload: Upload) -> None:
    if _current_image(sweep, upload, Status.FAILED) is None:
        return
    attempts = sweep.config.cleanup_max_attempts
    if upload.attempts >= attempts:
        message = f"processing did not finish after {upload.attempts} attempts"
        if lifecycle.fail_stuck(upload, Code.PROCESSING_TIMEOUT, message):
            sweep.counts["timedOut"] += 1
        return
    stale = sweep.ago(sweep.config.processing_lease_seconds)
    try:
        outcome = processing.process(upload.key, take_over_claims_before=stale)
    except processing.Busy:
        outcome = "skipped"
    # Skipped: a live run (the upload's own event, say) has it; that run finishes it.
    sweep.counts["redriven" if outcome != "skipped" else "raced"] += 1


def _current_image(sweep: Sweep, upload: Upload, superseded: Status) -> Image | None:
    """The image, if this upload is its latest and it is not deleted. Otherwise the upload
    no longer matters: it is retired from the sweep (to `superseded`, or `deleted` with its
    image) and None is returned."""
    image = records.get_image(upload.imageId)
    if image is not None and image.status != Status.DELETED and image.uploadId == upload.uploadId:
        return image
    now = _iso(sweep.now)
    if image is None or image.status == Status.DELETED:
        retired = lifecycle.retire(upload, Status.DELETED, now, None)
        blobs.delete([upload.key])
    else:
        failure = Failure(Code.SUPERSEDED, "a newer upload replaced this one before it finished")
        retired = lifecycle.retire(upload, superseded, now, failure)
    try:
        records.save_upload(retired, upload_was=upload.status)
    except records.LostWrite:
        sweep.counts["raced"] += 1
        return None
    sweep.counts["retired"] += 1
    return None


def remove_orphans(sweep: Sweep, limit: int) -> bool:
    """Objects older than `cleanup_orphan_age_seconds` that no live record points at. The
    bucket is listed a page at a time from where the last run stopped (one pass over every
    prefix, then from the start again); records are read by key."""
    after = records.sweep_position(ORPHANS)
    while limit > 0 and sweep.has_time():
        prefix = _prefix_of(after)
        keys, truncated = blobs.list_page(prefix, after, limit)
        sweep.examine(len(keys))
        limit -= len(keys)
        sweep.attempt("remove_orphans", prefix, _delete_orphans, keys)
        after = keys[-1][0] if truncated else _next_prefix(prefix)
        records.save_sweep_position(ORPHANS, after)
        if not after:
            return False
    return True


def _prefix_of(after: str) -> str:
    for prefix in ORPHAN_PREFIXES:
        if after.startswith(prefix):
            return prefix
    return ORPHAN_PREFIXES[0]


def _next_prefix(prefix: str) -> str:
    position = ORPHAN_PREFIXES.index(prefix) + 1
    return ORPHAN_PREFIXES[position] if position < len(ORPHAN_PREFIXES) else ""


def _delete_orphans(sweep: Sweep, listed: list[tuple[str, datetime]]) -> None:
    cutoff = sweep.now - timedelta(seconds=sweep.config.cleanup_orphan_age_seconds)
    old = [key for key, modified in listed if modified < cutoff]
    owners = {key: _owner(key) for key in old}
    images, uploads = records.images_and_upload_ids(
        {owner[0] for owner in owners.values() if owner},
        {owner for key, owner in owners.items() if owner and key.startswith(blobs.UPLOADS)},
    )
    orphans = [key for key, owner in owners.items() if not _is_live(key, owner, images, uploads)]
    blobs.delete(orphans)
    sweep.counts["orphansDeleted"] += len(orphans)


def _owner(key: str) -> tuple[str, str] | None:
    """(imageId, uploadId or '') of a key the service made, or None for a stray key."""
    parts = key.split("/")
    if not all(parts):
        return None
    if key.startswith(blobs.UPLOADS) and len(parts) == 3:
        return parts[1], parts[2]
    if key.startswith(blobs.VARIANTS) and len(parts) == 4:
        return parts[1], parts[2]
    if key.startswith(blobs.RENDERS) and len(parts) == 3:
        return parts[1], ""
    return None


def _is_live(
    key: str,
    owner: tuple[str, str] | None,
    images: dict[str, Image],
    uploads: set[tuple[str, str]],
) -> bool:
    """Whether a live image still points at the object: renders belong to the image,
    originals and variants to its latest upload or to the version it serves."""
    if owner is None:
        return False
    image = images.get(owner[0])
    if image is None or image.status == Status.DELETED:
        return False
    if key.startswith(blobs.RENDERS):
        return True
    served = image.content.uploadId if image.content else None
    if owner[1] not in (image.uploadId, served):
        return False
    return owner in uploads if key.startswith(blobs.UPLOADS) else True


def purge_tombstones(sweep: Sweep, limit: int) -> bool:
    """`deleted` images older than the retention period, removed with their log rows."""
    days = sweep.config.cleanup_tombstone_retention_days
    before = _iso(sweep.now - timedelta(days=days))
    for item in _due(sweep, "purge_tombstones", Status.DELETED, limit, before=before):
        sweep.attempt("purge_tombstones", item["id"], _purge, item["id"])
    return sweep.resume["purge_tombstones"] is not None


def _purge(sweep: Sweep, image_id: str) -> None:
    records.purge(image_id)
    sweep.counts["purged"] += 1


STEPS = (expire, redrive_arrived, redrive_stuck, remove_orphans, purge_tombstones)


def run(now: datetime | None = None) -> dict[str, int]:
    """One bounded pass of every step. `now` is injectable so tests can move the clock."""
    started = time.monotonic()
    config = settings.get()
    sweep = Sweep(
        now=now or datetime.now(UTC),
        config=config,
        deadline=started + config.cleanup_budget_seconds,
        left=config.cleanup_batch,
    )
    share = max(1, config.cleanup_batch // len(STEPS))
    pending = list(STEPS)
    for quota in (share, None):
        with_more = []
        for step in pending:
            if sweep.has_room() and step(sweep, min(quota or sweep.left, sweep.left)):
                with_more.append(step)
        pending = with_more
    counts = {"examined": 0, **sweep.counts}
    counts["durationMs"] = int((time.monotonic() - started) * 1000)
    log_event("cleanup_run", **counts)
    metric(
        {
            f"Cleanup{name[:1].upper()}{name[1:]}": n
            for name, n in counts.items()
            if name != "durationMs"
        }
    )
    return counts
