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
"""

from datetime import UTC, datetime
from typing import Any

from chalicelib import blobs, cdn, delivery, renders, settings, validation
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


def mint(image: Image, body: dict[str, Any]) -> dict[str, Any]:
    """POST /images/{id}/links: {"variant": name} or {"render": {w, h, fit, …}}, and
    optionally "expiresIn" (seconds)."""
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
    expires = int(delivery.now()) + seconds
    return {
        "id": link_id,
        "imageId": image.id,
        **what,
        "url": cdn.signed_url(key, expires),
        "expiresAt": datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z"),
    }


def revoke(image: Image, link_id: str) -> None:
    """DELETE /images/{id}/links/{linkId}: the link's object goes, and the edge's copy."""
    prefix = f"{blobs.LINKS}{image.id}/{link_id}."
    keys = blobs.list_keys(prefix) if link_id.startswith("lnk_") else []
    if not keys:
        raise NotFound(f"image {image.id} has no link {link_id!r}")
    blobs.delete(keys)
    delivery.withdraw((prefix,))


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
