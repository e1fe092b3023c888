"""The upload pipeline in-process against moto: verdicts, idempotence, bounded work."""

import hashlib
import io
import tracemalloc

import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.response import StreamingBody
from PIL import Image as PILImage

from chalicelib import aws, blobs, errors, image_operations, processing, records, settings
from chalicelib.access import Access
from chalicelib.callers import Caller
from chalicelib.images import Status
from chalicelib.imaging import fingerprint
from tests.support import pictures

ALICE = Caller(id="alice-sub", name="alice")


def jpeg(size=(1200, 900)) -> bytes:
    return pictures.jpeg(size, (30, 140, 90))


def new_upload(data: bytes | None, content_type="image/jpeg", filename="photo.jpg"):
    created = image_operations.create_image(
        Access(ALICE), {"filename": filename, "contentType": content_type}
    )
    key = created["upload"]["fields"]["key"]
    if data is not None:
        aws.client("s3").put_object(Bucket=settings.get().bucket, Key=key, Body=data)
    return created["image"]["id"], key


def variant_keys(image_id: str) -> list[str]:
    return blobs.list_keys(f"{blobs.VARIANTS}{image_id}/")


def test_a_jpeg_becomes_ready_with_every_variant(resources):
    image_id, key = new_upload(jpeg())
    assert processing.process(key) == "ready"
    image = records.get_image(image_id)
    assert image.status == Status.READY
    assert (image.content.width, image.content.height, image.content.format) == (1200, 900, "jpeg")
    assert sorted(image.content.variants) == ["hd-rotated", "preview", "thumbnail"]
    assert image.content.variants["hd-rotated"].width == 1280
    assert len(variant_keys(image_id)) == 4  # and the original without personal metadata
    log = records.get_upload(image_id, key.rsplit("/", 1)[1])
    assert log.status == Status.READY
    assert log.durationMs is not None


def test_the_same_event_twice_makes_one_set_of_variants_and_one_version_bump(resources, calls):
    image_id, key = new_upload(jpeg())
    calls.clear()
    processing.process(key)
    version = records.get_image(image_id).version
    puts = calls["PutObject"]
    assert processing.process(key) == "skipped"
    assert records.get_image(image_id).version == version
    assert calls["PutObject"] == puts == 4
    assert len(variant_keys(image_id)) == 4


def test_one_processed_upload_costs_at_most_eight_aws_calls_and_its_duplicate_lookup(
    resources, calls
):
    # One GET of the upload (size, ETag and bytes together); three variants and the shared
    # original are four PutObjects; the duplicate index costs one query a fingerprint band
    # (owner scope: no collection here) and one batch write.
    _, key = new_upload(jpeg())
    calls.clear()
    processing.process(key)
    lookup = {"Query": fingerprint.BANDS, "BatchWriteItem": 1}
    assert {name: calls[name] for name in lookup} == lookup
    assert (calls["GetObject"], calls["HeadObject"]) == (1, 0)
    assert sum(calls.values()) - sum(lookup.values()) <= 8, dict(calls)


def test_an_object_above_the_limit_is_refused_from_its_size_without_reading_it(
    configure, calls, monkeypatch
):
    configure(MAX_UPLOAD_BYTES="50000")
    image_id, key = new_upload(b"\xff\xd8" + b"\0" * 60_000)
    reads = []
    real_read = StreamingBody.read
    monkeypatch.setattr(
        StreamingBody, "read", lambda body, amt=None: reads.append(amt) or real_read(body, amt)
    )
    calls.clear()
    assert processing.process(key) == "failed"
    assert reads == []  # the body of the one GET was closed unread
    assert (calls["GetObject"], calls["HeadObject"]) == (1, 0)
    image = records.get_image(image_id)
    assert image.status == Status.FAILED
    assert image.failure.code == "too_large"
    assert "60002 bytes" in image.failure.message and "50000" in image.failure.message


def test_an_object_at_the_limit_is_read_whole(configure):
    configure(MAX_UPLOAD_BYTES="50000")
    data = pictures.jpeg((300, 200), (30, 140, 90))
    data += b"\0" * (50_000 - len(data))  # JPEG ignores what follows its end
    image_id, key = new_upload(data)
    assert processing.process(key) == "ready"
    assert records.get_image(image_id).content.bytes == 50_000


def test_a_png_claiming_100000_by_100000_pixels_is_refused_from_its_header(resources):
    image_id, key = new_upload(pictures.png_claiming(100_000, 100_000), content_type="image/png")
    tracemalloc.start()
    try:
        assert processing.process(key) == "failed"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 * 1024 * 1024
    image = records.get_image(image_id)
    assert image.failure.code == "too_many_pixels"


@pytest.mark.parametrize(
    ("data", "content_type", "code"),
    [
        (b"just some text, not a picture\n", "image/jpeg", "not_an_image"),
        (b"<!doctype html><html><body>hi</body></html>", "image/png", "not_an_image"),
        (b"", "image/jpeg", "empty"),
        (jpeg()[:2000], "image/jpeg", "corrupt"),
    ],
    ids=["text-named-jpg", "html-as-png", "zero-bytes", "truncated-jpeg"],
)
def test_a_bad_upload_ends_failed_with_its_code_and_is_not_kept(
    resources, data, content_type, code
):
    image_id, key = new_upload(data, content_type=content_type)
    assert processing.process(key) == "failed"
    image = records.get_image(image_id)
    assert image.status == Status.FAILED
    assert image.failure.code == code
    assert image.failure.message
    assert blobs.head(key) is None
    assert variant_keys(image_id) == []
    upload = records.uploads_of(image_id)[0]
    assert (upload.status, upload.failure.code) == (Status.FAILED, code)


def test_a_transient_error_releases_the_claim_so_a_retry_succeeds(resources, monkeypatch):
    image_id, key = new_upload(jpeg())

    def unreachable(*args, **kwargs):
        raise EndpointConnectionError(endpoint_url="https://s3.example")

    monkeypatch.setattr(blobs, "fetch", unreachable)
    with pytest.raises(EndpointConnectionError):
        processing.process(key)
    assert records.get_image(image_id).status == Status.AWAITING_UPLOAD
    monkeypatch.undo()
    assert processing.process(key) == "ready"


def test_a_transient_error_after_an_edit_made_meanwhile_still_lets_the_retry_finish(
    resources, monkeypatch
):
    image_id, key = new_upload(jpeg())
    make = processing.make_variants

    def make_edit_then_fail(job):
        make(job)
        image_operations.update_image(records.get_image(job.image_id), {"title": "mine"})
        raise EndpointConnectionError(endpoint_url="https://s3.example")

    monkeypatch.setattr(
        processing,
        "STEPS",
        tuple(make_edit_then_fail if step is make else step for step in processing.STEPS),
    )
    with pytest.raises(EndpointConnectionError):
        processing.process(key)
    assert records.get_image(image_id).status == Status.AWAITING_UPLOAD
    monkeypatch.undo()

    assert processing.process(key) == "ready"  # Lambda's retry of the event
    image = records.get_image(image_id)
    assert (image.status, image.title) == (Status.READY, "mine")


def test_an_object_posted_again_after_a_failed_verdict_is_removed_by_its_event(resources):
    image_id, key = new_upload(b"not an image")
    assert processing.process(key) == "failed"
    aws.client("s3").put_object(Bucket=settings.get().bucket, Key=key, Body=b"nor is this")

    assert processing.process(key) == "skipped"

    assert blobs.head(key) is None
    assert records.get_image(image_id).failure.code == "not_an_image"


def test_the_size_and_etag_recorded_are_those_of_the_bytes_validated(resources):
    data = jpeg((800, 600))
    image_id, key = new_upload(data)
    assert processing.process(key) == "ready"
    stored = aws.client("s3").head_object(Bucket=settings.get().bucket, Key=key)
    content = records.get_image(image_id).content
    assert (content.bytes, content.etag) == (len(data), stored["ETag"])
    assert content.sha256 == hashlib.sha256(data).hexdigest()


def test_a_ready_image_posted_again_through_its_upload_url_is_processed_again(resources):
    first, second = jpeg((1200, 900)), jpeg((900, 1200))
    image_id, key = new_upload(first)
    assert processing.process(key) == "ready"

    aws.client("s3").put_object(Bucket=settings.get().bucket, Key=key, Body=second)
    assert processing.process(key) == "ready"

    content = records.get_image(image_id).content
    assert content.sha256 == hashlib.sha256(second).hexdigest()
    assert (content.width, content.height) == (900, 1200)
    assert content.variants["preview"].height == 1200


def test_a_ready_image_posted_again_with_a_non_image_fails_and_serves_nothing_unchecked(
    resources,
):
    image_id, key = new_upload(jpeg())
    assert processing.process(key) == "ready"

    html = b"<html><script>alert(1)</script></html>"
    aws.client("s3").put_object(Bucket=settings.get().bucket, Key=key, Body=html)
    assert processing.process(key) == "failed"

    image = records.get_image(image_id)
    assert (image.status, image.failure.code, image.content) == (
        Status.FAILED,
        "not_an_image",
        None,
    )
    assert blobs.head(key) is None
    assert variant_keys(image_id) == []


def test_an_old_upload_url_used_again_while_a_replacement_is_pending_stops_that_version(
    resources,
):
    image_id, key = new_upload(jpeg())
    assert processing.process(key) == "ready"
    created = image_operations.replace_content(
        ALICE, records.get_image(image_id), {"contentType": "image/jpeg"}
    )

    aws.client("s3").put_object(Bucket=settings.get().bucket, Key=key, Body=b"<html></html>")
    assert processing.process(key) == "skipped"

    image = records.get_image(image_id)
    assert (image.status, image.content) == (Status.AWAITING_UPLOAD, None)
    assert blobs.head(key) is None
    assert variant_keys(image_id) == []
    new_key = created["upload"]["fields"]["key"]
    aws.client("s3").put_object(Bucket=settings.get().bucket, Key=new_key, Body=jpeg((800, 600)))
    assert processing.process(new_key) == "ready"
    assert records.get_image(image_id).content.width == 800


def test_an_event_for_a_deleted_image_removes_the_object(resources):
    image_id, key = new_upload(None)
    image_operations.delete_image(records.get_image(image_id))
    aws.client("s3").put_object(Bucket=settings.get().bucket, Key=key, Body=jpeg())
    assert processing.process(key) == "skipped"
    assert blobs.head(key) is None


def test_an_event_for_a_superseded_upload_changes_nothing(resources):
    image_id, old_key = new_upload(None)
    image = records.get_image(image_id)
    image_operations.replace_content(ALICE, image, {"contentType": "image/jpeg"})
    aws.client("s3").put_object(Bucket=settings.get().bucket, Key=old_key, Body=jpeg())
    version = records.get_image(image_id).version
    assert processing.process(old_key) == "skipped"
    assert records.get_image(image_id).version == version


def test_a_key_outside_the_upload_layout_is_ignored(resources):
    assert processing.process("uploads/../../etc/passwd") == "ignored"
    assert processing.process("uploads/only-one-part") == "ignored"


def edit_while_processing(monkeypatch, edit):
    """Run `edit` (a user's request) in the middle of the pipeline, after the claim."""
    make = processing.make_variants

    def make_then_edit(job):
        make(job)
        edit(job.image_id)

    monkeypatch.setattr(
        processing,
        "STEPS",
        tuple(make_then_edit if step is make else step for step in processing.STEPS),
    )


def test_an_edit_made_while_the_upload_is_processed_is_kept_and_the_upload_gets_ready(
    resources, monkeypatch
):
    image_id, key = new_upload(jpeg())
    edit_while_processing(
        monkeypatch,
        lambda image_id: image_operations.update_image(
            records.get_image(image_id), {"title": "mine"}
        ),
    )
    assert processing.process(key) == "ready"
    image = records.get_image(image_id)
    assert (image.status, image.title) == (Status.READY, "mine")
    assert records.uploads_of(image_id)[0].status == Status.READY
    assert len(variant_keys(image_id)) == 4


def test_an_edit_that_loses_only_to_the_pipeline_is_applied_to_the_new_version(resources):
    image_id, key = new_upload(jpeg())
    read_before = records.get_image(image_id)
    assert processing.process(key) == "ready"  # claims and finishes: two version bumps
    edited = image_operations.update_image(read_before, {"description": "taken at dawn"})
    image = records.get_image(image_id)
    assert (image.status, image.description) == (Status.READY, "taken at dawn")
    assert edited["version"] == image.version == read_before.version + 3


def test_an_edit_that_loses_to_another_edit_or_names_a_stale_version_gets_409(resources):
    image_id, key = new_upload(jpeg())
    read_before = records.get_image(image_id)
    image_operations.update_image(records.get_image(image_id), {"title": "first"})
    with pytest.raises(errors.Conflict):
        image_operations.update_image(read_before, {"title": "second"})
    processing.process(key)
    with pytest.raises(errors.Conflict):
        image_operations.update_image(
            records.get_image(image_id), {"title": "third", "version": read_before.version}
        )
    assert records.get_image(image_id).title == "first"


def test_an_image_deleted_while_its_upload_is_processed_keeps_no_objects(resources, monkeypatch):
    image_id, key = new_upload(jpeg())
    edit_while_processing(
        monkeypatch, lambda image_id: image_operations.delete_image(records.get_image(image_id))
    )
    assert processing.process(key) == "skipped"
    assert records.get_image(image_id).status == Status.DELETED
    assert blobs.head(key) is None
    assert variant_keys(image_id) == []


def _download_name(url: str) -> str:
    from urllib.parse import parse_qs, urlparse

    return parse_qs(urlparse(url).query)["response-content-disposition"][0]


def _replace(image_id: str, body: dict, data: bytes) -> str:
    created = image_operations.replace_content(ALICE, records.get_image(image_id), body)
    key = created["upload"]["fields"]["key"]
    aws.client("s3").put_object(Bucket=settings.get().bucket, Key=key, Body=data)
    return processing.process(key)


def test_a_failed_replacement_keeps_the_served_versions_filename_and_type(resources):
    image_id, key = new_upload(jpeg(), filename="cat.jpg")
    assert processing.process(key) == "ready"
    replacement = {"filename": "dog.png", "contentType": "image/png"}
    assert _replace(image_id, replacement, b"not an image at all") == "failed"
    image = records.get_image(image_id)
    assert image.content.format == "jpeg"
    assert (image.filename, image.declaredType) == ("cat.jpg", "image/jpeg")
    url = image_operations.content_url(ALICE, image, "original")
    assert _download_name(url) == "inline; filename=\"cat.jpg\"; filename*=UTF-8''cat.jpg"
    rows = {row.filename: row.status for row in records.uploads_of(image_id)}
    assert rows == {"cat.jpg": Status.READY, "dog.png": Status.FAILED}


def test_a_rename_made_while_a_replacement_is_pending_is_kept_once_it_is_served(resources):
    image_id, key = new_upload(jpeg(), filename="cat.jpg")
    assert processing.process(key) == "ready"
    created = image_operations.replace_content(
        ALICE, records.get_image(image_id), {"contentType": "image/jpeg"}
    )
    image_operations.update_image(records.get_image(image_id), {"filename": "tabby.jpg"})

    new_key = created["upload"]["fields"]["key"]
    aws.client("s3").put_object(Bucket=settings.get().bucket, Key=new_key, Body=jpeg((800, 600)))
    assert processing.process(new_key) == "ready"

    image = records.get_image(image_id)
    assert (image.filename, image.content.width) == ("tabby.jpg", 800)


def test_a_replacement_gives_the_image_its_filename_and_type_once_it_is_served(resources):
    image_id, key = new_upload(jpeg(), filename="cat.jpg")
    assert processing.process(key) == "ready"
    created = image_operations.replace_content(
        ALICE, records.get_image(image_id), {"filename": "dog.png", "contentType": "image/png"}
    )
    assert (created["image"]["filename"], created["image"]["declaredType"]) == (
        "cat.jpg",
        "image/jpeg",
    )
    new_key = created["upload"]["fields"]["key"]
    buffer = io.BytesIO()
    PILImage.new("RGB", (64, 48), (1, 2, 3)).save(buffer, "PNG")
    png = buffer.getvalue()
    aws.client("s3").put_object(Bucket=settings.get().bucket, Key=new_key, Body=png)
    assert processing.process(new_key) == "ready"
    image = records.get_image(image_id)
    assert (image.filename, image.declaredType, image.content.format) == (
        "dog.png",
        "image/png",
        "png",
    )
    url = image_operations.content_url(ALICE, image, "original")
    assert _download_name(url) == "inline; filename=\"dog.png\"; filename*=UTF-8''dog.png"


def test_a_replacement_of_an_image_never_served_names_the_record_at_once(resources):
    image_id, _ = new_upload(None, filename="first.jpg")
    created = image_operations.replace_content(
        ALICE, records.get_image(image_id), {"filename": "second.png", "contentType": "image/png"}
    )
    assert (created["image"]["filename"], created["image"]["declaredType"]) == (
        "second.png",
        "image/png",
    )


def test_an_object_gone_before_its_event_is_processed_fails_as_missing(resources):
    image_id, key = new_upload(jpeg())
    aws.client("s3").delete_object(Bucket=settings.get().bucket, Key=key)
    assert processing.process(key) == "failed"
    assert records.get_image(image_id).failure.code == "missing"
