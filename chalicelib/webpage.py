"""The web page: one static HTML page, its script modules, style and icon, and the settings
it needs.

The files live in chalicelib/static and are served by the app itself (no CDN, no build
step). Only files that are in that folder with an allowed extension are served, so no name
can reach anything else. The page signs in against the stage's Cognito with
USER_PASSWORD_AUTH and uploads straight to S3, so its Content-Security-Policy names exactly
those two origins, taken from the endpoints boto3 itself uses (the local stack's endpoints on a
developer's machine, AWS's in the cloud: no branch here).
"""

import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chalice import Response

from chalicelib import aws, settings, validation

STATIC = Path(__file__).resolve().parent / "static"
PAGE = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# The page is always revalidated; what it loads is named with a content hash (?v=...), so a
# browser may keep those for a day and still never mixes an old script with a new page.
PAGE_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=86400"


@cache
def _files() -> dict[str, Path]:
    """The servable files by name: only what is in the folder, with a known type."""
    return {
        path.name: path
        for path in STATIC.iterdir()
        if path.is_file() and path.suffix in CONTENT_TYPES
    }


@cache
def _fingerprint(name: str) -> str:
    return hashlib.sha256(_body(name).encode()).hexdigest()[:12]


def _body(name: str) -> str:
    return _module(name) if name.endswith(".js") else _files()[name].read_text()


def _versioned(text: str, pattern: str) -> str:
    """Each reference to a servable NAME (group 2 of pattern) given a ?v=HASH of its content."""

    def versioned(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in _files():
            return match.group(0)
        return f"{match.group(1)}{name}?v={_fingerprint(name)}"

    return re.sub(pattern, versioned, text)


def _page() -> str:
    """index.html with each static/NAME reference made static/NAME?v=HASH."""
    return _versioned(_files()[PAGE].read_text(), r"(static/)([\w.-]+)")


@cache
def _module(name: str) -> str:
    """A script with each `from "./NAME.js"` made ./NAME.js?v=HASH. A module's hash is of this
    rewritten text, so it changes whenever anything it imports changes, and a module cached
    for a day never imports a sibling of another release. (So the modules import one another
    as a tree, never in a cycle.)"""
    return _versioned(_files()[name].read_text(), r"""(from\s+["']\./)([\w.-]+\.js)(?=["'])""")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _cognito_endpoint() -> str:
    return aws.client("cognito-idp").meta.endpoint_url


def _storage_origin() -> str:
    # Presigned URLs are path-style (see aws.client), so they all share the endpoint's origin;
    # with the CDN option, the service's own pictures come from the CDN's (chalicelib/delivery).
    origins = [_origin(aws.client("s3").meta.endpoint_url)]
    cdn_url = settings.get().cdn_url
    return " ".join([*origins, cdn_url] if cdn_url else origins)


def content_security_policy() -> str:
    cognito, storage = _origin(_cognito_endpoint()), _storage_origin()
    return "; ".join(
        (
            "default-src 'self'",
            f"connect-src 'self' {cognito} {storage}",
            f"img-src 'self' {storage} blob: data:",
            "style-src 'self'",
            "script-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


def _not_found(name: str) -> Response:
    shown = name if len(name) <= 60 and name.isprintable() else "that name"
    return Response(
        body={"Code": "NotFoundError", "Message": f"no such file: {shown}"},
        status_code=404,
        headers={"Content-Type": "application/json", "Cache-Control": "no-store"},
    )


def asset(name: str) -> Response:
    """One file of the page, or a 404 for any name that is not one of them."""
    path = _files().get(name)
    if path is None:
        return _not_found(name)
    headers: dict[str, str | list[str]] = {
        "Content-Type": CONTENT_TYPES[path.suffix],
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if name == PAGE:
        headers["Cache-Control"] = PAGE_CACHE
        headers["Content-Security-Policy"] = content_security_policy()
        return Response(body=_page(), status_code=200, headers=headers)
    headers["Cache-Control"] = ASSET_CACHE
    return Response(body=_body(name), status_code=200, headers=headers)


def client_config() -> dict[str, Any]:
    """What the page needs before anyone signs in (nothing secret: the app client is public)."""
    config = settings.get()
    return {
        "region": config.region,
        "userPoolId": config.user_pool_id,
        "appClientId": config.app_client_id,
        "cognitoEndpoint": _cognito_endpoint(),
        "maxUploadBytes": config.max_upload_bytes,
        "uploadTypes": sorted(validation.IMAGE_TYPES),
        "linkSeconds": config.download_url_expiry_seconds,
        # Lasting embed links (chalicelib/embeds.py) need the CDN stage option.
        "embedLinks": bool(config.cdn_url),
        "variants": [spec.name for spec in config.variants],
    }
