"""The upload pipeline, run for every object created under uploads/.

    claim → fetch → validate → make_variants → store_variants
          → store_shared_original → find_duplicates → index_fingerprint → record_ready

make_variants also learns what the picture is like (placeholder, colours, fingerprint,
focus: imaging.knowing) from the same decode; find_duplicates looks the fingerprint up in
the owner's and the collection's duplicate index, index_fingerprint adds it there.

Each step is a small function over one Job. A step ends the run early by raising Skip
(nothing to do: a duplicate, late or superseded event) or Rejected (a permanent verdict on
the bytes, recorded as `failed` with a code and a message). Any other exception is
transient (throttling, network): the claim is released and the exception propagates, so
Lambda retries the event and the scheduled cleanup re-drives it if retries run out.

A claim carries a lease (`processing_lease_seconds`). A run killed before it could release
its claim (out of memory, out of time) leaves it behind; once the lease has run out, the
next try of the event (or the cleanup) takes it over as a new attempt, and after
`cleanup_max_attempts` the upload fails with processing_timeout. While the lease holds,
another try of the same event raises Busy, so Lambda tries it again later. The writes of
the claim, the verdict and the release, with their retries, are chalicelib.lifecycle's.
"""

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from chalicelib import blobs, duplicates, imaging, lifecycle, metadata, records, settings
from chalicelib.failures import Code, Rejected
from chalicelib.images import (
    Content,
    Failure,
    Focus,
    Image,
    Knowledge,
    Status,
    Upload,
    Variant,
    now_iso,
    parse_iso,
)
from chalicelib.imaging import fingerprint, formats
from chalicelib.lifecycle import Claim, Orphaned, Skip
from chalicelib.logs import bound, log_error, log_event, metric

log = logging.getLogger(__name__)


class Busy(Exception):
    """Another run holds a live claim on the upload. Not a Skip: that run may be dying, so
    the event is left to be tried again (Lambda's retry) rather than acknowledged."""


@dataclass
class Job:
    key: str
    image_id: str
    upload_id: str
    # The cleanup's re-drive may take over a claim made before this instant (its run died);
    # a younger claim belongs to a run that is still working.
    take_over_claims_before: str | None = None
    started: float = field(default_factory=time.monotonic)
    image: Image | None = None
    upload: Upload | None = None
    claimed: bool = False
    reposted: bool = False  # a ready upload's object was replaced through its upload URL
    etag: str | None = None
    data: bytes = b""
    probe: imaging.Probe | None = None
    encoded: list[imaging.Encoded] = field(default_factory=list)
    variants: dict[str, Variant] = field(default_factory=dict)
    shared: Variant | None = None
    knowledge: imaging.Knowledge | None = None
    lookalikes: duplicates.Found | None = None

    def made_keys(self) -> list[str]:
        """The upload and every object this run stored for it."""
        shared = [self.shared.key] if self.shared else []
        return [self.key, *(variant.key for variant in self.variants.values()), *shared]


def claim(job: Job) -> None:
    """awaiting_upload → processing, in one conditional write; skip anything else. A write
    that loses to another change (an edit of the title, say) reads the record again."""
    lifecycle.retrying(
        job,
        _try_claim,
        lambda job: job,  # each try reads the records afresh
        lost=records.LostWrite,
        gave_up=lambda: Skip(
            "the record kept changing while it was claimed; the cleanup re-drives it"
        ),
    )


def _try_claim(job: Job) -> None:
    seen = _seen(job)
    decision = lifecycle.decide_claim(seen)
    image, upload = seen.image, seen.upload
    if decision is Claim.GONE:
        blobs.delete([job.key])
    elif decision is Claim.OVERWRITTEN:
        assert image is not None
        _stop_serving_overwritten(image)
    elif decision is Claim.GIVE_UP:
        assert upload is not None
        message = f"processing did not finish after {upload.attempts} attempts"
        lifecycle.fail_stuck(upload, Code.PROCESSING_TIMEOUT, message)
        raise Skip(f"given up after {upload.attempts} attempts")
    elif decision is Claim.FAILED_AGAIN:
        blobs.delete([job.key])
    elif decision is Claim.BUSY:
        raise Busy(f"claimed by a run whose lease holds until {seen.lease_end}")
    elif decision is Claim.DONE:
        assert upload is not None
        raise Skip(f"already {upload.status}")
    if decision is not Claim.TAKE:
        raise Skip(decision.value)
    assert image is not None and upload is not None
    job.reposted = upload.status == Status.READY and seen.overwritten
    stuck = lifecycle.is_stuck(seen)
    claimed_image, claimed_upload = lifecycle.claim(image, upload, seen.now, _plus_lease(seen.now))
    records.save_transition(
        claimed_image, claimed_upload, upload_was=upload.status, image_version_was=image.version
    )
    job.image, job.upload, job.claimed = claimed_image, claimed_upload, True
    log_event(
        "upload_claimed",
        imageId=job.image_id,
        uploadId=job.upload_id,
        attempt=claimed_upload.attempts,
        leaseUntil=claimed_upload.leaseUntil,
        # A claim whose run died: which one was taken over, and when its lease ran out.
        tookOver={"claimedAt": upload.claimedAt, "leaseUntil": seen.lease_end} if stuck else None,
    )


def _seen(job: Job) -> lifecycle.Seen:
    """The records, and only the facts about the object that the decision needs for them:
    whether it was overwritten (a superseded or a ready upload), or has landed (an expired
    one)."""
    image, upload = records.get_image_and_upload(job.image_id, job.upload_id)
    overwritten = arrived = False
    if image is not None and image.status != Status.DELETED:
        current = upload is not None and image.uploadId == job.upload_id
        if not current or (upload is not None and upload.status == Status.READY):
            overwritten = _posted_again(job.key, image.content)
        elif upload is not None and upload.status == Status.EXPIRED:
            arrived = blobs.exists(job.key)
    return lifecycle.Seen(
        image=image,
        upload=upload,
        upload_id=job.upload_id,
        now=now_iso(),
        lease_end=_lease_end(upload) if upload and upload.status == Status.PROCESSING else None,
        take_over_claims_before=job.take_over_claims_before,
        max_attempts=settings.get().cleanup_max_attempts,
        overwritten=overwritten,
        arrived=arrived,
    )


def _plus_lease(moment: str) -> str:
    end = parse_iso(moment) + timedelta(seconds=settings.get().processing_lease_seconds)
    return end.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _lease_end(upload: Upload) -> str:
    """When the claim on a processing upload runs out (claims made before leases existed
    hold for one lease from their claim)."""
    return upload.leaseUntil or _plus_lease(upload.claimedAt or upload.createdAt)


def _posted_again(key: str, served: Content | None) -> bool:
    """Whether the object under a ready upload's key is no longer the one validated: its
    upload URL (valid for minutes) was used again, so the served original is unchecked
    bytes until they are processed like a new version."""
    if served is None or served.key != key or served.etag is None:
        return False
    found = blobs.head(key)
    return found is not None and found.etag != served.etag


def _stop_serving_overwritten(image: Image) -> None:
    """The served version's original was overwritten through its old upload URL while a
    replacement is pending, so nothing vouches for it any more: the image stops serving that
    version (the replacement is served as usual once it is ready). A lost write is an error,
    so the event is retried against the fresh record."""
    assert image.content is not None
    records.save_image(lifecycle.unserve(image, now_iso()), image_version_was=image.version)
    _remove_version(image.content)
    _remove_renders(image.id)


def fetch(job: Job) -> None:
    """The object's size, identity and bytes, from one GET: an object above the limit is
    refused from its size alone, its body unread; the bytes validated are the object whose
    size and ETag are recorded (the same response), even if the upload URL is used again."""
    limit = settings.get().max_upload_bytes
    found = blobs.fetch(job.key, limit)
    if found is None:
        raise Rejected(Code.MISSING, "the uploaded object is no longer in storage")
    if found.size == 0:
        raise Rejected(Code.EMPTY, "the upload is empty (0 bytes)")
    if found.data is None:
        raise Rejected(
            Code.TOO_LARGE, f"the upload is {found.size} bytes; the limit is {limit} bytes"
        )
    job.etag, job.data = found.etag, found.data


def validate(job: Job) -> None:
    config = settings.get()
    job.probe = imaging.probe(
        job.data,
        allowed_formats=config.allowed_formats,
        max_pixels=config.max_pixels,
        # Half the function's memory: the rest is the runtime's, and the estimate's margin.
        memory_budget=config.processing_memory_mb * 2**20 // 2,
        specs=config.variants,
    )


def make_variants(job: Job) -> None:
    assert job.probe is not None
    made = imaging.make_upload(job.data, job.probe, settings.get().variants)
    job.encoded, job.knowledge = made.variants, made.knowledge


def find_duplicates(job: Job) -> None:
    """Never a verdict: an upload that looks like others is kept, and says so."""
    assert job.image and job.knowledge
    job.lookalikes = duplicates.find(
        job.image_id, job.knowledge.fingerprint, job.image.ownerId, job.image.collectionId
    )


def index_fingerprint(job: Job) -> None:
    """Before the record says ready, so that no ready image is missing from the index (an
    index item of a run that dies later is ignored: its record never has that fingerprint)."""
    assert job.image and job.knowledge
    duplicates.index(
        job.image_id,
        job.knowledge.fingerprint,
        job.image.ownerId,
        job.image.collectionId,
        now_iso(),
    )


def store_variants(job: Job) -> None:
    for encoded in job.encoded:
        key = blobs.variant_key(job.image_id, job.upload_id, encoded.name, encoded.extension)
        blobs.write(key, encoded.data, encoded.content_type)
        job.variants[encoded.name] = Variant(
            key, encoded.width, encoded.height, len(encoded.data), encoded.format
        )


def store_shared_original(job: Job) -> None:
    """What everyone but the owner downloads: the original without personal metadata."""
    assert job.probe is not None
    data, fmt = metadata.shared_copy(job.data, job.probe)
    served = formats.named(fmt)
    key = blobs.variant_key(job.image_id, job.upload_id, "original", served.extension)
    blobs.write(key, data, served.media_type)
    width, height = job.probe.oriented_size
    job.shared = Variant(key, width, height, len(data), fmt)


def record_ready(job: Job) -> None:
    assert job.image and job.upload
    assert job.probe
    width, height = job.probe.oriented_size
    content = Content(
        uploadId=job.upload_id,
        key=job.key,
        bytes=len(job.data),
        width=width,
        height=height,
        format=job.probe.format,
        sha256=hashlib.sha256(job.data).hexdigest(),
        frames=job.probe.frames,
        variants=job.variants,
        etag=job.etag,
        shared=job.shared,
        knowledge=_knowledge(job),
    )
    previous = job.image.content
    try:
        _finish(job, content=content)
    except Orphaned:
        # What was made here is referenced by no record: remove it now.
        blobs.delete(job.made_keys())
        raise
    if previous and previous.uploadId != job.upload_id:
        _remove_version(previous)
    if previous and previous.sha256 != content.sha256:
        _remove_renders(job.image_id)


def _knowledge(job: Job) -> Knowledge | None:
    learnt = job.knowledge
    if learnt is None:
        return None
    return Knowledge(
        placeholder=learnt.placeholder,
        average=learnt.average,
        dominant=learnt.dominant,
        fingerprint=fingerprint.to_hex(learnt.fingerprint),
        focus=Focus.of(*learnt.focus),
        duplicateOf=job.lookalikes.ids if job.lookalikes else [],
    )


STEPS = (
    claim,
    fetch,
    validate,
    make_variants,
    store_variants,
    store_shared_original,
    find_duplicates,
    index_fingerprint,
    record_ready,
)


def process(key: str, *, take_over_claims_before: str | None = None) -> str:
    """Run the pipeline for one uploaded object. Returns the outcome for the log."""
    parsed = blobs.parse_upload_key(key)
    if parsed is None:
        log_event("upload_ignored", key=key, reason="not an upload key")
        return "ignored"
    job = Job(
        key=key,
        image_id=parsed[0],
        upload_id=parsed[1],
        take_over_claims_before=take_over_claims_before,
    )
    with bound(imageId=job.image_id, uploadId=job.upload_id):
        return _run(job)


def _run(job: Job) -> str:
    try:
        for step in STEPS:
            step(job)
    except Skip as skip:
        log_event("upload_skipped", imageId=job.image_id, uploadId=job.upload_id, reason=str(skip))
        return "skipped"
    except Rejected as rejected:
        return _fail(job, rejected.code, rejected.message)
    except Busy as busy:
        log_event("upload_busy", imageId=job.image_id, uploadId=job.upload_id, reason=str(busy))
        raise
    except Exception as error:
        log_error("upload_error", error, imageId=job.image_id, uploadId=job.upload_id)
        _release(job)
        raise
    took = _elapsed_ms(job)
    log_event(
        "upload_ready",
        imageId=job.image_id,
        uploadId=job.upload_id,
        format=job.probe.format if job.probe else None,
        durationMs=took,
        attempt=job.upload.attempts if job.upload else None,
        duplicateOf=job.lookalikes.ids if job.lookalikes else None,
        # Counted, not timed: the duplicate index items this upload's queries read.
        duplicatesExamined=job.lookalikes.examined if job.lookalikes else None,
    )
    metric({"UploadsReady": 1})
    metric({"ProcessingTime": took}, unit="Milliseconds")
    return "ready"


def _fail(job: Job, code: Code, message: str, upload_was: Status = Status.PROCESSING) -> str:
    attempt = job.upload.attempts if job.upload else None
    lifecycle.record_failure(job.image_id, job.upload_id, code, message, attempt)
    if not job.claimed or job.image is None or job.upload is None:
        return "failed"
    # A ready upload whose original was overwritten through its URL cannot go back to the
    # version it had (_finish drops it): that original is gone, so its variants and renders
    # go too.
    lost = job.image.content if job.reposted else None
    try:
        _finish(job, failure=Failure(code, message), upload_was=upload_was)
    except Skip as skip:
        log_event(
            "upload_fail_lost", imageId=job.image_id, uploadId=job.upload_id, reason=str(skip)
        )
        return "skipped"
    # The rejected bytes are never served; keep no copy of them (or of partial variants).
    blobs.delete(job.made_keys())
    if lost is not None:
        _remove_version(lost)
        _remove_renders(job.image_id)
    return "failed"


def _finish(
    job: Job,
    *,
    content: Content | None = None,
    failure: Failure | None = None,
    upload_was: Status = Status.PROCESSING,
) -> None:
    """Record the verdict on the image and its upload row in one conditional write. A failed
    upload leaves the image's content (the version being served) as it was, unless it was
    the overwritten original of a reposted upload. An edit made while the upload was
    processed is kept: the verdict is written onto the edited record."""

    def verdict(image: Image, upload: Upload) -> tuple[Image, Upload]:
        return lifecycle.verdict(
            image,
            upload,
            now_iso(),
            content=content,
            failure=failure,
            duration_ms=_elapsed_ms(job),
            keep_served=not job.reposted,
        )

    _write(job, upload_was, verdict)


def _write(
    job: Job, upload_was: Status, change: Callable[[Image, Upload], tuple[Image, Upload]]
) -> None:
    """lifecycle.write_held of the image and the upload this run holds."""
    assert job.image and job.upload
    lifecycle.write_held(job.image, job.upload, upload_was, change)


def _release(job: Job) -> None:
    """Hand a claimed upload back (processing → awaiting_upload) so a retry can claim it."""
    if not job.claimed or job.image is None or job.upload is None:
        return

    try:
        _write(
            job,
            Status.PROCESSING,
            lambda image, upload: lifecycle.release(image, upload, now_iso()),
        )
    except Skip as skip:
        log_event(
            "upload_release_lost", imageId=job.image_id, uploadId=job.upload_id, reason=str(skip)
        )
    except Exception:
        log.exception("could not release the claim; the cleanup will re-drive it")


def _remove_version(content: Content) -> None:
    blobs.delete(content.stored_keys())


def _remove_renders(image_id: str) -> None:
    blobs.delete_prefix(f"{blobs.RENDERS}{image_id}/")


def _elapsed_ms(job: Job) -> int:
    return int((time.monotonic() - job.started) * 1000)
