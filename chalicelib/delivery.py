"""Which link a stored object gets: the same one for a whole window of time, so browsers and
a CDN can keep what it points at (every object is immutable and stored with a year-long
Cache-Control, chalicelib/blobs.py).

A presigned link names the moment it was signed, so one signed at each request differs at
each request and a browser downloads the picture again. Every link here is signed as at the
start of its window (LINK_WINDOW_SECONDS, an hour by default): two listings within the
window hand out byte-identical links, and the second one costs the browser nothing. A link
stays valid for its window plus DOWNLOAD_URL_EXPIRY_SECONDS, so one handed out at the end of
a window still works that long.

Without the CDN option (the default) a link is a presigned S3 GET. With it, what the service
made (variants, the shared copy, renders) is a CloudFront signed URL (chalicelib/cdn.py);
the original as uploaded stays a presigned S3 GET, private and never in a shared cache.
"""

import time

from chalicelib import blobs, cdn, settings


def now() -> float:
    """The clock links are signed by (tests move it instead of sleeping)."""
    return time.time()


def window() -> tuple[int, int]:
    """(when the current window began, when links signed for it expire), epoch seconds."""
    config = settings.get()
    start = int(now()) // config.link_window_seconds * config.link_window_seconds
    return start, start + config.link_window_seconds + config.download_url_expiry_seconds


def original_link(key: str, fmt: str, filename: str) -> str:
    """The original as uploaded: its owner's alone, so never through the CDN."""
    start, expires = window()
    return blobs.presigned_get(key, fmt, filename, signed_at=start, expires_in=expires - start)


def made_link(key: str, fmt: str, filename: str | None = None, *, prefix: str = "") -> str:
    """A variant, shared copy or render. Through the CDN its link may admit every object
    under `prefix` (one signature for all of one image's variants); there the download name
    is the key's own (CloudFront serves the object's stored headers)."""
    start, expires = window()
    if settings.get().cdn_url:
        if prefix:
            return cdn.signed_url_under(key, prefix, expires)
        return cdn.signed_url(key, expires)
    return blobs.presigned_get(key, fmt, filename, signed_at=start, expires_in=expires - start)


def withdraw(prefixes: tuple[str, ...]) -> None:
    """What was deleted under `prefixes` stops being served by the CDN's edge too."""
    if settings.get().cdn_url:
        cdn.invalidate([f"/{prefix}*" for prefix in prefixes])
