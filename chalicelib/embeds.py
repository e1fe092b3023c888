"""Embed links: lasting, revocable links to one variant or render of one image, for an
`<img src>` on a public page. Each view is checked by the CDN's edge (chalicelib/cdn.py),
never by the API.

A link is its own object, links/{imageId}/{linkId}.{ext}: a copy, made inside S3, of the
variant or render it was minted for, so the link shows that picture whatever happens to the
image's other versions. Its URL is a CloudFront signed URL of exactly that object, signed by
the active key version until the expiry asked for. It stops working when:

- it expires (the edge refuses it at once);
- it is revoked, or its image deleted: the object goes, and the edge is told to drop its
  copy (an invalidation, typically done within a minute or two; until then the edge may
  still serve it). Browsers that showed it may keep it for LINK_BROWSER_SECONDS;
- its key version leaves the distribution's key group (scripts/cdn_keys.py retire): every
  link that key signed is refused once CloudFront has deployed the change (minutes).

Without the CDN option there is no edge to check a lasting link, so none is minted.

Each link has a record in its image's partition (chalicelib.table: a row to list by, newest
first, and one to find it by id), removed with the image. Who minted it is kept: an API key
lists and revokes only the links it minted; the image's owner (whoever may change it) all of
them. The record keeps the URL, so a listing gives it again, byte for byte, while the key
version that signed it is held; a link whose key was retired is listed without it.
"""

from datetime import UTC, datetime
from typing import Any

from chalicelib import blobs, cdn, cursors, delivery, records, renders, settings, table, validation
from chalicelib.callers import Caller
from chalicelib.errors import Conflict, Invalid, NotFound
from chalicelib.ids import new_id
from chalicelib.images import Image
from chalicelib.imaging import formats

# A viewer's browser keeps a link's picture this long (a revoked link may show there until
# then); the edge keeps it until it is invalidated.
LINK_BROWSER_SECONDS = 3600
LINK_CACHE_CONTROL = f"public, max-age={LINK_BROWSER_SECONDS}, s-maxage=31536000"
DEFAULT_SECONDS = 365 * 24 * 3600
LONGEST_SECONDS = 5 * 365 * 24 * 3600
SHORTEST_SECONDS = 60


def mint(image: Image, body: dict[str, Any], minter: Caller) -> dict[str, Any]:
    """POST /images/{id}/links (and /external/…): {"variant": name} or {"render": {w, h,
    fit, …}}, and optionally "expiresIn" (seconds)."""
    validation.only_fields(body, {"variant", "render", "expiresIn"})
    if not settings.get().cdn_url:
        raise Conflict(
            "lasting links need the CDN stage option (docs/deploy.md); without it, use "
            "the image's links, which last DOWNLOAD_URL_EXPIRY_SECONDS past their window",
            code="CdnNotConfiguredError",
        )
    seconds = _seconds(body.get("expiresIn", DEFAULT_SECONDS))
    source, fmt, what = _source(image, body)
    link_id = new_id("lnk")
    key = blobs.link_key(image.id, link_id, formats.named(fmt).extension)
    blobs.copy(source, key, fmt, LINK_CACHE_CONTROL)
    minted = delivery.now()  # to the millisecond: links minted a moment apart list in order
    expires = int(minted) + seconds
    url = cdn.signed_url(key, expires)
    item = {
        "linkId": link_id,
        "imageId": image.id,
        **what,
        "objectKey": key,
        "url": url,
        "keyPairId": cdn.active_key().key_id,
        "createdAt": _iso(minted),
        "expiresAt": _iso(expires),
        "expiresEpoch": expires,
        "mintedBy": minter.id,
        # DynamoDB's TTL takes the record some time after the link has stopped working.
        "ttl": expires + 86400,
    }
    row = table.embed_link_row_key(image.id, item["createdAt"], link_id)
    records.put_all([{**item, **row}, {**item, **table.embed_link_key(image.id, link_id)}])
    return _public(item, cdn.held_key_ids())


def listing(image: Image, params: dict[str, str], minted_by: str | None) -> dict[str, Any]:
    """GET /images/{id}/links: the image's live links, newest first, paged (limit, cursor);
    only those `minted_by` made, if it is given (an API key's own)."""
    validation.only_fields(params, {"limit", "cursor"})
    limit = validation.integer(params, "limit", default=20, low=1, high=100)
    start = None
    if params.get("cursor") is not None:
        start = cursors.decode_raw(params["cursor"])
        if not records.is_link_start_key(image.id, start):
            raise Invalid("cursor is malformed or belongs to another listing")
    page = records.links_of_image(
        image.id, limit=limit, start=start, live_after=int(delivery.now()), minted_by=minted_by
    )
    held = cdn.held_key_ids() if page.items and settings.get().cdn_url else frozenset()
    return {
        "links": [_public(item, held) for item in page.items],
        "cursor": cursors.encode(page.next_key),
    }


def revoke(image: Image, link_id: str, minted_by: str | None = None) -> None:
    """DELETE /images/{id}/links/{linkId}: the link's object goes, and the edge's copy.
    With `minted_by`, only a link it minted (another's is not found)."""
    key = table.embed_link_key(image.id, link_id)
    item = records.get(key) if link_id.startswith("lnk_") and len(link_id) <= 64 else None
    if item is None or (minted_by is not None and item["mintedBy"] != minted_by):
        raise NotFound(f"image {image.id} has no link {link_id!r}")
    blobs.delete([item["objectKey"]])
    delivery.withdraw((item["objectKey"],))
    # The row it is listed by first: a revocation cut short is finished by the next one.
    records.delete(table.embed_link_row_key(image.id, item["createdAt"], link_id))
    records.delete(key)


def _public(item: dict[str, Any], held: frozenset[str]) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": item["linkId"],
        "imageId": item["imageId"],
        **{name: item[name] for name in ("variant", "render") if name in item},
        "url": item["url"],
        "createdAt": item["createdAt"],
        "expiresAt": item["expiresAt"],
        "mintedBy": item["mintedBy"],
    }
    if item["keyPairId"] not in held:
        shown["url"] = None
        shown["urlWithheld"] = (
            f"signed by key {item['keyPairId']}, since retired: the edge refuses the link"
            if settings.get().cdn_url
            else "the CDN stage option is off: nothing serves the link"
        )
    return shown


def _iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _seconds(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("expiresIn must be a whole number of seconds")
    if not SHORTEST_SECONDS <= value <= LONGEST_SECONDS:
        raise Invalid(f"expiresIn must be from {SHORTEST_SECONDS} to {LONGEST_SECONDS} seconds")
    return value


def _source(image: Image, body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(the object to copy, its format, what the link shows) for the body's choice."""
    if ("variant" in body) == ("render" in body):
        raise Invalid("give either variant (a variant's name) or render (its parameters)")
    if "render" in body:
        params = body["render"]
        if not isinstance(params, dict) or not all(
            isinstance(value, str | int) and not isinstance(value, bool)
            for value in params.values()
        ):
            raise Invalid("render must be an object of render parameters (w, h, fit, …)")
        asked = {name: str(value) for name, value in params.items()}
        key, fmt = renders.stored(image, asked, None)
        return key, fmt, {"render": asked}
    name = body["variant"]
    if image.content is None:
        raise Conflict(f"the image is not ready yet (status {image.status})")
    variant = image.content.variants.get(name) if isinstance(name, str) else None
    if variant is None:
        names = ", ".join(sorted(image.content.variants))
        raise NotFound(f"no variant {name!r} of the served version; there are {names}")
    return variant.key, variant.format, {"variant": name}
