"""The life cycle of an image and its uploads: which status may follow which, the pure
changes that move a record along it, the decision a claim makes, and the retry loop every
conditional write of them shares.

    awaiting_upload → processing → ready | failed
    awaiting_upload → expired | failed         (the cleanup: no upload came, or it gave up)
    processing → awaiting_upload               (a transient error hands the claim back)
    processing → processing                    (a claim whose lease ran out is taken over)
    expired → processing                       (the object landed as the cleanup expired it)
    ready → processing                         (its upload URL was used again)
    ready | failed | expired | awaiting_upload → awaiting_upload   (an image's replacement)
    anything → deleted

Every change of a record is made by `_moved`, which checks the table, and for an image sets
`updatedAt` and the next `version` (every write of an image is conditional on the version
it was read at). Pure but for the last section, the conditional writes that processing,
the cleanup and the routes share: the write of a held claim with its retries, giving up on a
stuck upload, and the tombstone. The writes that make a terminal status queue its event
(chalicelib.events) right there.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from chalicelib import blobs, events, records
from chalicelib.failures import Code
from chalicelib.images import Content, Failure, Image, Status, Upload, now_iso
from chalicelib.logs import log_event, metric

# How often a conditional write is tried again after losing to an unrelated change.
WRITE_ATTEMPTS = 3

# Which status may follow which, for an image and for one of its uploads (a replacement is a
# new upload, so an upload never goes back to awaiting_upload once finished). Anything may
# become deleted.
IMAGE_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.AWAITING_UPLOAD: frozenset(
        {Status.PROCESSING, Status.EXPIRED, Status.FAILED, Status.AWAITING_UPLOAD}
    ),
    Status.PROCESSING: frozenset(
        {Status.READY, Status.FAILED, Status.PROCESSING, Status.AWAITING_UPLOAD}
    ),
    Status.READY: frozenset({Status.AWAITING_UPLOAD, Status.PROCESSING}),
    Status.FAILED: frozenset({Status.AWAITING_UPLOAD}),
    Status.EXPIRED: frozenset({Status.AWAITING_UPLOAD, Status.PROCESSING}),
    Status.DELETED: frozenset(),
}
UPLOAD_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.AWAITING_UPLOAD: frozenset({Status.PROCESSING, Status.EXPIRED, Status.FAILED}),
    Status.PROCESSING: frozenset(
        {Status.READY, Status.FAILED, Status.PROCESSING, Status.AWAITING_UPLOAD}
    ),
    Status.READY: frozenset({Status.PROCESSING}),
    Status.FAILED: frozenset(),
    Status.EXPIRED: frozenset({Status.PROCESSING}),
    Status.DELETED: frozenset(),
}


class IllegalTransition(Exception):
    """A bug: code tried to move a record along an edge the life cycle does not have."""


def may_become(record: Image | Upload, new: Status) -> bool:
    table = IMAGE_TRANSITIONS if isinstance(record, Image) else UPLOAD_TRANSITIONS
    return new == Status.DELETED or new in table[record.status]


def _moved[Record: (Image, Upload)](
    record: Record, status: Status | None, now: str, **fields: Any
) -> Record:
    """The one place a record changes. `status` None keeps it (an edit of an image)."""
    if status is not None:
        if not may_become(record, status):
            kind = type(record).__name__.lower()
            raise IllegalTransition(f"an {kind} cannot go from {record.status} to {status}")
        fields["status"] = status
    if isinstance(record, Image):
        fields.update(updatedAt=now, version=record.version + 1)
    return replace(record, **fields)


# --- the changes --------------------------------------------------------------------------


def claim(image: Image, upload: Upload, now: str, lease_until: str) -> tuple[Image, Upload]:
    """A run takes the upload: processing, under a lease, one attempt more."""
    return (
        _moved(image, Status.PROCESSING, now, failure=None, uploadedAt=now),
        _moved(
            upload,
            Status.PROCESSING,
            now,
            uploadedAt=upload.uploadedAt or now,
            claimedAt=now,
            leaseUntil=lease_until,
            attempts=upload.attempts + 1,
            failure=None,
        ),
    )


def verdict(
    image: Image,
    upload: Upload,
    now: str,
    *,
    content: Content | None,
    failure: Failure | None,
    duration_ms: int,
    keep_served: bool,
) -> tuple[Image, Upload]:
    """ready with `content`, or failed with `failure`. A failed upload leaves the version
    being served, unless `keep_served` is false (its original was overwritten). A replacement
    that is served from now on gives the image its name and type."""
    status = Status.READY if content is not None else Status.FAILED
    served = content or (image.content if keep_served else None)
    renamed: dict[str, Any] = {}
    if content is not None and upload.replaces:
        renamed = {
            "filename": upload.filename if upload.renames else image.filename,
            "declaredType": upload.declaredType or image.declaredType,
        }
    return (
        _moved(image, status, now, failure=failure, processedAt=now, content=served, **renamed),
        _moved(upload, status, now, failure=failure, processedAt=now, durationMs=duration_ms),
    )


def release(image: Image, upload: Upload, now: str) -> tuple[Image, Upload]:
    """A run hands its claim back (processing → awaiting_upload) so a retry can claim it."""
    return (
        _moved(image, Status.AWAITING_UPLOAD, now),
        _moved(upload, Status.AWAITING_UPLOAD, now),
    )


def expire(image: Image, upload: Upload, now: str, failure: Failure) -> tuple[Image, Upload]:
    """No upload arrived before its URL expired."""
    return (
        _moved(image, Status.EXPIRED, now, failure=failure),
        _moved(upload, Status.EXPIRED, now, failure=failure, processedAt=now),
    )


def retire(upload: Upload, status: Status, now: str, failure: Failure | None) -> Upload:
    """An upload that no longer matters: its image is gone (deleted) or a newer upload
    replaced it (failed or expired, with `failure`)."""
    if status == Status.DELETED:
        return _moved(upload, status, now, deletedAt=now)
    return _moved(upload, status, now, failure=failure, processedAt=now)


def replacement(image: Image, upload_id: str, now: str, **named: str) -> Image:
    """The image waits for a new upload; the served version stays until it is processed.
    `named` (filename, declaredType) when nothing is served yet."""
    return _moved(image, Status.AWAITING_UPLOAD, now, uploadId=upload_id, failure=None, **named)


def tombstone(image: Image, now: str) -> Image:
    return _moved(image, Status.DELETED, now)


def edit(image: Image, now: str, **changes: Any) -> Image:
    """Title, description, filename: the status stays."""
    return _moved(image, None, now, **changes)


def unserve(image: Image, now: str) -> Image:
    """The served version's original was overwritten: nothing vouches for it any more."""
    return _moved(image, None, now, content=None)


# --- the claim's decision -----------------------------------------------------------------


class Claim(Enum):
    GONE = "the image is gone; its upload was removed"
    OVERWRITTEN = "superseded; the served original was overwritten and is no longer served"
    SUPERSEDED = "superseded by a newer upload"
    GIVE_UP = "given up"
    FAILED_AGAIN = "already failed; an object posted again was removed"
    BUSY = "claimed by a run whose lease holds"
    DONE = "already finished"
    TAKE = "claim it"


@dataclass(frozen=True)
class Seen:
    """What a claim found: the records, and the facts about the object it needed."""

    image: Image | None
    upload: Upload | None
    upload_id: str  # the upload the event is for
    now: str
    lease_end: str | None  # when the upload's claim runs out, for a processing upload
    take_over_claims_before: str | None
    max_attempts: int
    overwritten: bool = False  # the object is not the one validated (see processing)
    arrived: bool = False  # the object of an expired upload is there


def decide_claim(seen: Seen) -> Claim:
    """What a run does with the event it was given, from what it read. Pure."""
    image, upload = seen.image, seen.upload
    if image is None or image.status == Status.DELETED:
        return Claim.GONE
    if upload is None or image.uploadId != seen.upload_id:
        return Claim.OVERWRITTEN if seen.overwritten else Claim.SUPERSEDED
    if is_stuck(seen) and upload.attempts >= seen.max_attempts:
        return Claim.GIVE_UP
    if upload.status == Status.FAILED:
        # The still-valid upload URL was used again after the verdict: the bytes are never
        # processed (a new version is a replacement), so they are not kept either.
        return Claim.FAILED_AGAIN
    if upload.status == Status.PROCESSING:
        return Claim.TAKE if is_stuck(seen) else Claim.BUSY
    if upload.status == Status.AWAITING_UPLOAD:
        return Claim.TAKE
    # The cleanup may expire an upload just as its object lands; what arrived is processed.
    late = upload.status == Status.EXPIRED and seen.arrived
    reposted = upload.status == Status.READY and seen.overwritten
    return Claim.TAKE if late or reposted else Claim.DONE


def is_stuck(seen: Seen) -> bool:
    """A processing upload whose run is taken to have died: its lease ran out, or (for the
    cleanup's re-drive) it was claimed before the instant the re-drive takes over from."""
    upload = seen.upload
    if upload is None or upload.status != Status.PROCESSING:
        return False
    assert seen.lease_end is not None
    return seen.lease_end <= seen.now or (
        seen.take_over_claims_before is not None
        and (upload.claimedAt or "") < seen.take_over_claims_before
    )


# --- conditional writes -------------------------------------------------------------------


def retrying[State, Result](
    state: State,
    write: Callable[[State], Result],
    read_again: Callable[[State], State],
    *,
    lost: type[Exception],
    gave_up: Callable[[], Exception],
) -> Result:
    """`write(state)`, a conditional write; each time it is `lost` to another change,
    `read_again` (which raises to stop when the change no longer applies) and write again:
    WRITE_ATTEMPTS times in all, then raise `gave_up()`."""
    for _ in range(WRITE_ATTEMPTS):
        try:
            return write(state)
        except lost:
            state = read_again(state)
    raise gave_up()


class Skip(Exception):
    """The event needs nothing (more) from this run: it is acknowledged, not retried."""


class Orphaned(Skip):
    """The image was deleted or replaced under the run: nothing references what it made."""


def write_held(
    image: Image,
    upload: Upload,
    upload_was: Status,
    change: Callable[[Image, Upload], tuple[Image, Upload]],
) -> Image:
    """Write `change` of an image and the upload a run holds, conditional on both. A write
    that loses to an unrelated change (an edit of the title, say) reads the record again
    and applies `change` to it; one that keeps losing leaves the upload to the cleanup
    (Skip). A terminal status written here queues its event. Returns the written image."""

    def write(held: tuple[Image, Upload]) -> Image:
        changed_image, changed_upload = change(*held)
        records.save_transition(
            changed_image, changed_upload, upload_was=upload_was, image_version_was=held[0].version
        )
        return changed_image

    written = retrying(
        (image, upload),
        write,
        lambda held: read_again(held[1], upload_was),
        lost=records.LostWrite,
        gave_up=lambda: Skip(
            "the record kept changing while it was written; the cleanup re-drives it"
        ),
    )
    events.emit(written)
    return written


def read_again(held: Upload, upload_was: Status) -> tuple[Image, Upload]:
    """After a lost write: the fresh records if `held` is still the upload the image waits
    for, in the status and under the claim it was written from; else stop (the image was
    deleted, replaced, given up on, or claimed by another run)."""
    image, upload = records.get_image_and_upload(held.imageId, held.uploadId)
    if image is None or image.status == Status.DELETED:
        raise Orphaned("the image was deleted while its upload was processed")
    if upload is None or image.uploadId != held.uploadId:
        raise Orphaned("superseded by a newer upload while it was processed")
    if upload.status != upload_was:
        raise Skip(f"the upload became {upload.status} while it was processed")
    if upload.claimedAt != held.claimedAt:
        raise Skip("another run claimed the upload while this one processed it")
    return image, upload


def record_failure(image_id: str, upload_id: str, code: Code, message: str, attempt: int | None):
    """The log line and metric of a failed upload."""
    log_event(
        "upload_failed",
        imageId=image_id,
        uploadId=upload_id,
        code=code,
        message=message,
        attempt=attempt,
    )
    metric({"UploadsFailed": 1}, dimensions={"Code": code})


def fail_stuck(seen: Upload, code: Code, message: str) -> bool:
    """Give up on an upload that never finished (after K attempts: the claim, or the
    cleanup). Only the claim that was seen is given up: if another run has claimed it
    since, nothing is written. Returns whether it was failed."""
    started = time.monotonic()
    image, upload = records.get_image_and_upload(seen.imageId, seen.uploadId)
    if image is None or upload is None or image.uploadId != seen.uploadId:
        return False
    if (upload.status, upload.claimedAt) != (seen.status, seen.claimedAt):
        return False
    record_failure(image.id, upload.uploadId, code, message, upload.attempts)
    try:
        write_held(
            image,
            upload,
            upload.status,
            lambda image, upload: verdict(
                image,
                upload,
                now_iso(),
                content=None,
                failure=Failure(code, message),
                duration_ms=int((time.monotonic() - started) * 1000),
                keep_served=True,
            ),
        )
    except Skip as skip:
        log_event("upload_fail_lost", imageId=image.id, uploadId=upload.uploadId, reason=str(skip))
        return False
    # The bytes that never finished are never served; keep no copy of them.
    blobs.delete([upload.key])
    return True


def delete(image: Image) -> Image:
    """An image becomes a `deleted` tombstone, its uploads with it, in conditional writes
    (records.LostWrite if the image changed since it was read); queues the event."""
    now = now_iso()
    tomb = tombstone(image, now)
    records.tombstone(tomb, image_version_was=image.version, deleted_at=now)
    records.mark_uploads_deleted(image.id, now)
    events.emit(tomb)
    return tomb
