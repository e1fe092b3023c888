"""The operations behind the image routes. Each takes the caller and parsed input, enforces
access through chalicelib.access, and returns what the route renders."""

import hashlib
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib import (
    blobs,
    cursors,
    delivery,
    lifecycle,
    records,
    refocus,
    settings,
    table,
    validation,
)
from chalicelib.access import Access
from chalicelib.callers import Caller
from chalicelib.errors import (
    Conflict,
    Invalid,
    NotFound,
    PreconditionFailed,
    TooLarge,
    Unprocessable,
)
from chalicelib.ids import new_id
from chalicelib.images import Content, Image, Status, Upload, Variant, now_iso

VARIANT_ORIGINAL = "original"
# How long a retried POST /images with the same Idempotency-Key gets the first answer back:
# a day, as common practice (Stripe's) has it, far beyond any client's retries.
IDEMPOTENCY_SECONDS = 24 * 3600
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def _expiry(now: str) -> str:
    seconds = settings.get().upload_url_expiry_seconds
    moment = datetime.fromisoformat(now.replace("Z", "+00:00")) + timedelta(seconds=seconds)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_upload(
    caller: Caller, image_id: str, upload_id: str, filename: str, content_type: str, now: str
) -> Upload:
    """A log row for an upload that is now awaited at its own key."""
    return Upload(
        imageId=image_id,
        uploadId=upload_id,
        ownerId=caller.id,
        ownerName=caller.name,
        filename=filename,
        declaredType=content_type,
        status=Status.AWAITING_UPLOAD,
        createdAt=now,
        expiresAt=_expiry(now),
        key=blobs.upload_key(image_id, upload_id),
    )


def new_image(
    caller: Caller,
    *,
    filename: str,
    content_type: str,
    title: str = "",
    description: str = "",
    collection_id: str | None = None,
) -> tuple[Image, Upload]:
    now = now_iso()
    image_id, upload_id = new_id("img"), new_id("up")
    image = Image(
        id=image_id,
        ownerId=caller.id,
        ownerName=caller.name,
        filename=filename,
        declaredType=content_type,
        status=Status.AWAITING_UPLOAD,
        uploadId=upload_id,
        createdAt=now,
        updatedAt=now,
        title=title,
        description=description,
        collectionId=collection_id,
    )
    upload = new_upload(caller, image_id, upload_id, filename, content_type, now)
    return image, upload


def create_image(
    access: Access, body: dict[str, Any], idempotency_key: str | None = None
) -> dict[str, Any]:
    """POST /images (JSON): a record awaiting its upload, and a presigned POST to send it.
    With an Idempotency-Key, a retry of the same request answers what the first one did
    (the same image, the same upload form) instead of making a second record."""
    key = _idempotency_key(idempotency_key)
    validation.only_fields(
        body, {"filename", "contentType", "title", "description", "collectionId"}
    )
    filename = validation.filename(body, required=True)
    content_type = validation.content_type(body)
    title = validation.text(body, "title", max_length=200, single_line=True) or ""
    description = validation.text(body, "description", max_length=2000) or ""
    collection_id = _collection_id(body)
    if collection_id:
        access.require_member(collection_id)
    image, upload = new_image(
        access.caller,
        filename=filename or "",
        content_type=content_type,
        title=title,
        description=description,
        collection_id=collection_id,
    )
    answer = {"image": image.public(), "upload": blobs.presigned_post(upload.key, content_type)}
    if key is None:
        records.create(image, upload)
        return answer
    fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    try:
        kept = records.create_once(
            image,
            upload,
            key=key,
            fingerprint=fingerprint,
            answer=json.dumps(answer),
            now_epoch=int(time.time()),
            keep_seconds=IDEMPOTENCY_SECONDS,
        )
    except records.KeyReused:
        raise Unprocessable(
            "this Idempotency-Key was used for a request with another body",
            code="IdempotencyKeyReusedError",
        ) from None
    return json.loads(kept)


def _idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not _IDEMPOTENCY_KEY.match(value):
        raise Invalid("Idempotency-Key must be 1 to 255 visible ASCII characters")
    return value


def create_image_from_body(
    caller: Caller, data: bytes, declared: str | None, filename: str | None
) -> dict[str, Any]:
    """POST /images/raw with the image itself as the body: stored where a presigned POST
    would put it, so the same S3 event processes it."""
    content_type = validation.media_type(declared)
    limit = settings.get().max_direct_upload_bytes
    if len(data) > limit:
        raise TooLarge(
            f"a direct upload may be at most {limit} bytes; use the JSON form "
            "to get a presigned POST for larger files"
        )
    if not data:
        raise Invalid("the request body is empty")
    name = validation.filename({"filename": filename}, required=False) if filename else None
    image, upload = new_image(caller, filename=name or "upload", content_type=content_type)
    records.create(image, upload)
    blobs.write(upload.key, data, content_type, blobs.PRIVATE_IMMUTABLE)
    return image.public()


def _collection_id(body: dict[str, Any]) -> str | None:
    value = body.get("collectionId")
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 64:
        raise Invalid("collectionId must be a collection's id")
    return value


def image_view(caller: Caller, image: Image) -> dict[str, Any]:
    shown = image.public()
    if image.content:
        links = {VARIANT_ORIGINAL: _original_url(caller, image, image.content)}
        for name, variant in image.content.variants.items():
            links[name] = _variant_link(image, variant)
        shown["links"] = links
    return shown


def content_url(caller: Caller, image: Image, variant: str) -> str:
    """Where to fetch one variant (or the original) of the currently served version."""
    names = {VARIANT_ORIGINAL, *(spec.name for spec in settings.get().variants)}
    if variant not in names:
        raise NotFound(f"no variant {variant!r}; there are {', '.join(sorted(names))}")
    if image.content is None:
        raise Conflict(f"the image is not ready yet (status {image.status})")
    if variant == VARIANT_ORIGINAL:
        return _original_url(caller, image, image.content)
    found = image.content.variants.get(variant)
    if found is None:
        raise Conflict("this variant was not made for the served version")
    return _variant_link(image, found)


def _variant_link(image: Image, variant: Variant) -> str:
    return delivery.made_link(variant.key, variant.format, prefix=f"{blobs.VARIANTS}{image.id}/")


def _original_url(caller: Caller, image: Image, content: Content) -> str:
    """The owner gets the exact bytes uploaded; everyone else (collection members, admins,
    API keys) the shared copy, without where the photo was taken (chalicelib.metadata)."""
    if image.ownerId == caller.id:
        return delivery.original_link(content.key, content.format, image.filename)
    if content.shared is None:
        raise Conflict("this version has no copy without personal metadata; replace it")
    shared = content.shared
    return delivery.made_link(
        shared.key, shared.format, image.filename, prefix=f"{blobs.VARIANTS}{image.id}/"
    )


def update_image(
    image: Image, body: dict[str, Any], *, if_match: int | None = None
) -> dict[str, Any]:
    """PATCH: title, description, filename, focus (which re-makes the cover variants around
    it: chalicelib.refocus). Conditional on the version read; the loser of
    two concurrent edits gets 409 and must re-read (no edit is lost silently). A version
    bump by the pipeline alone is not a conflict unless the client named its version, in the
    body or, the standard way, as If-Match (which fails with 412 instead)."""
    validation.only_fields(body, {"title", "description", "filename", "focus", "version"})
    changes: dict[str, Any] = {}
    for name, check in (
        ("title", lambda: validation.text(body, "title", max_length=200, single_line=True)),
        ("description", lambda: validation.text(body, "description", max_length=2000)),
        ("filename", lambda: validation.filename(body, required=False)),
    ):
        if name in body:
            changes[name] = check()
            if changes[name] is None:
                raise Invalid(f"{name} must be a string")
    focus = refocus.parse(body["focus"]) if "focus" in body else None
    if not changes and focus is None:
        raise Invalid("nothing to change: send title, description, filename or focus")
    expected = body.get("version", image.version)
    if not isinstance(expected, int) or isinstance(expected, bool):
        raise Invalid("version must be an integer")
    if if_match is not None and if_match != image.version:
        raise PreconditionFailed(
            f"If-Match names another version; the image is at version {image.version}"
        )
    if expected != image.version:
        raise Conflict(f"the image changed (version {image.version}); re-read and retry")

    def write(image: Image) -> dict[str, Any]:
        if focus is not None:
            changes["content"] = refocus.refocused(image.id, image.content, focus)
        updated = lifecycle.edit(image, now_iso(), **changes)
        records.save_image(updated, image_version_was=image.version)
        return updated.public()

    def read_again(image: Image) -> Image:
        fresh = records.get_image(image.id)
        # Only the pipeline moved (the upload was claimed or processed): apply the edit to
        # the new version. Another edit, or a version the client named, is a real conflict.
        if if_match is not None:
            raise PreconditionFailed("the image changed while it was updated; re-read and retry")
        if "version" in body or fresh is None or fresh.status == Status.DELETED:
            raise changed()
        if _edited(fresh) != _edited(image):
            raise changed()
        return fresh

    def changed() -> Conflict:
        return Conflict("the image changed while it was updated; re-read and retry")

    return lifecycle.retrying(image, write, read_again, lost=records.LostWrite, gave_up=changed)


def _edited(image: Image) -> tuple[str, str, str]:
    return (image.title, image.description, image.filename)


def replace_content(caller: Caller, image: Image, body: dict[str, Any]) -> dict[str, Any]:
    """A new presigned upload for an image; the served version stays until it is replaced."""
    validation.only_fields(body, {"filename", "contentType"})
    content_type = validation.content_type(body)
    named_filename = validation.filename(body, required=False)
    filename = named_filename or image.filename
    if image.status == Status.PROCESSING:
        raise Conflict("an upload of this image is being processed; try again when it is done")
    now = now_iso()
    upload_id = new_id("up")
    upload = new_upload(caller, image.id, upload_id, filename, content_type, now)
    upload.replaces = image.content.uploadId if image.content else None
    upload.renames = named_filename is not None
    # A served version keeps its filename and type (its downloads are named by them) until
    # the pipeline serves the replacement; with nothing served, the record names the upload.
    named = {} if image.content else {"filename": filename, "declaredType": content_type}
    updated = lifecycle.replacement(image, upload_id, now, **named)
    try:
        records.replace(updated, upload, image_version_was=image.version)
    except records.LostWrite:
        raise Conflict("the image changed meanwhile; try again") from None
    return {"image": updated.public(), "upload": blobs.presigned_post(upload.key, content_type)}


def delete_image(image: Image) -> None:
    """Remove every blob of the image; keep the record as a `deleted` tombstone."""
    try:
        lifecycle.delete(image)
    except records.LostWrite:
        raise Conflict("the image changed meanwhile; try again") from None
    for prefix in blobs.image_prefixes(image.id):
        blobs.delete_prefix(prefix)
    delivery.withdraw(blobs.image_prefixes(image.id))


def list_collection(access: Access, collection_id: str, params: dict[str, str]) -> dict[str, Any]:
    validation.only_fields(params, {"limit", "cursor", "status"})
    access.require_member(collection_id)
    limit, status = cursors.page_params(params)
    start = cursors.decode(params.get("cursor"), table.BY_COLLECTION, collection_id)
    page = records.images_of_collection(collection_id, limit=limit, start=start, status=status)
    return {
        "images": [image.public() for image in page.items],
        "cursor": cursors.encode(page.next_key),
    }


def list_images(caller: Caller, params: dict[str, str]) -> dict[str, Any]:
    validation.only_fields(params, {"limit", "cursor", "status", "collectionId", "duplicates"})
    limit, status = cursors.page_params(params)
    start = cursors.decode(params.get("cursor"), table.BY_OWNER, caller.id)
    page = records.images_of_owner(
        caller.id,
        limit=limit,
        start=start,
        status=status,
        collection_id=params.get("collectionId"),
        duplicates=validation.flag(params, "duplicates"),
    )
    return {
        "images": [image.public() for image in page.items],
        "cursor": cursors.encode(page.next_key),
    }
