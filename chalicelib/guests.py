"""What a guest holding a share link may do (chalicelib.sharelinks checks the link).

A view link shows its collection's ready images: their variants and renders, never an
original (not even the copy without metadata), never another collection's images, never who
uploaded them. An upload link adds uploads into its collection only, through the same
presigned POST, validation and processing as a member's, within the link's quota; the
uploader in the record and the log is the link (`link:{linkId}`).
"""

from typing import Any

from chalicelib import (
    blobs,
    cursors,
    delivery,
    image_operations,
    records,
    settings,
    table,
    validation,
)
from chalicelib.errors import Conflict, Invalid, NotFound, TooLarge
from chalicelib.images import Image, Status
from chalicelib.sharelinks import Link


def overview(link: Link) -> dict[str, Any]:
    """GET /shared: the collection the link opens and what the link allows."""
    from chalicelib import collection

    found = collection.get(link.collection_id)
    if found is None:
        raise NotFound("the collection of this link no longer exists")
    meta = found["meta"]
    return {
        "collection": {"id": meta["id"], "name": meta["name"], "description": meta["description"]},
        "scope": str(link.scope),
    }


def _shown(image: Image) -> dict[str, Any]:
    """An image as a guest sees it: what it is and links to its variants, not who made it."""
    content = image.content
    assert content is not None  # only ready images reach a guest
    return {
        "id": image.id,
        "title": image.title,
        "description": image.description,
        "width": content.width,
        "height": content.height,
        "createdAt": image.createdAt,
        "variants": {
            name: {
                "width": variant.width,
                "height": variant.height,
                "format": variant.format,
                "url": delivery.made_link(
                    variant.key, variant.format, prefix=f"{blobs.VARIANTS}{image.id}/"
                ),
            }
            for name, variant in content.variants.items()
        },
    }


def images(link: Link, params: dict[str, str]) -> dict[str, Any]:
    """GET /shared/images: the collection's ready images, newest first, a page at a time."""
    validation.only_fields(params, {"limit", "cursor"})
    limit = validation.integer(params, "limit", default=20, low=1, high=100)
    start = cursors.decode(params.get("cursor"), table.BY_COLLECTION, link.collection_id)
    page = records.images_of_collection(
        link.collection_id, limit=limit, start=start, status=Status.READY
    )
    return {
        "images": [_shown(image) for image in page.items if image.content],
        "cursor": cursors.encode(page.next_key),
    }


def readable(link: Link, image_id: str) -> Image:
    """A ready image of the link's collection; 404 for any other (whatever exists)."""
    image = records.get_image(image_id) if image_id.startswith("img_") else None
    if image is None or image.collectionId != link.collection_id:
        raise NotFound("no such image in this shared collection")
    if image.status == Status.DELETED or image.content is None:
        raise NotFound("no such image in this shared collection")
    return image


def content_url(image: Image, variant: str) -> str:
    content = image.content
    assert content is not None
    found = content.variants.get(variant)
    if found is None:
        names = ", ".join(sorted(content.variants))
        raise NotFound(f"guests may fetch the variants {names} (and renders), not {variant!r}")
    return delivery.made_link(found.key, found.format, prefix=f"{blobs.VARIANTS}{image.id}/")


def upload_size(body: dict[str, Any]) -> int:
    """The size a guest says its upload has: it is reserved from the link's byte quota, and
    the presigned POST accepts no more."""
    size = body.get("bytes")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise Invalid("bytes (the file's size) is required, a positive integer")
    limit = settings.get().max_upload_bytes
    if size > limit:
        raise TooLarge(f"an upload may be at most {limit} bytes")
    return size


def check_upload(body: dict[str, Any]) -> tuple[str, str, str, int]:
    """The upload's filename, type, title and size, checked before any quota is spent."""
    validation.only_fields(body, {"filename", "contentType", "title", "bytes"})
    filename = validation.filename(body, required=True) or ""
    content_type = validation.content_type(body)
    title = validation.text(body, "title", max_length=200, single_line=True) or ""
    return filename, content_type, title, upload_size(body)


def create_upload(
    link: Link, filename: str, content_type: str, title: str, size: int
) -> dict[str, Any]:
    """POST /shared/images: a record in the link's collection, and its presigned POST."""
    image, upload = image_operations.new_image(
        link.guest,
        filename=filename,
        content_type=content_type,
        title=title,
        collection_id=link.collection_id,
    )
    try:
        records.create(image, upload)
    except records.LostWrite:
        raise Conflict("try again") from None
    return {
        "image": {"id": image.id, "status": str(image.status), "filename": image.filename},
        "upload": blobs.presigned_post(upload.key, content_type, max_bytes=size),
    }
