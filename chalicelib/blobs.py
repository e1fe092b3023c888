"""S3: the key layout, presigned URLs, bounded reads, writes and deletes.

The server chooses every key; no user text ever reaches one.
  uploads/{imageId}/{uploadId}          an original as uploaded (one per upload, so a
                                         replacement never overwrites the served version)
  variants/{imageId}/{uploadId}/{name}.{ext}
  renders/{imageId}/{cacheKey}.{ext}

Every GET is presigned with the media type of the object's verified format
(response-content-type), whatever type it was uploaded with, and a download name made safe
here: RFC 6266 filename* in UTF-8 with an ASCII fallback, without control, bidirectional or
other invisible characters.

Every object is immutable (a new upload gets new keys), so each is stored with a year-long
Cache-Control: public for what the service made (variants, the shared copy, renders, embed
links), private for the original as uploaded (it may say where it was taken).
"""

import threading
import unicodedata
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import aws, settings
from chalicelib.imaging import formats

UPLOADS = "uploads/"
VARIANTS = "variants/"
RENDERS = "renders/"
LINKS = "links/"
IMMUTABLE = "public, max-age=31536000, immutable"
PRIVATE_IMMUTABLE = "private, max-age=31536000, immutable"
_ASCII_KEPT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-()")


def upload_key(image_id: str, upload_id: str) -> str:
    return f"{UPLOADS}{image_id}/{upload_id}"


def parse_upload_key(key: str) -> tuple[str, str] | None:
    """(imageId, uploadId) from an uploads/ key, or None for anything else."""
    if not key.startswith(UPLOADS):
        return None
    parts = key[len(UPLOADS) :].split("/")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]


def variant_key(image_id: str, upload_id: str, name: str, extension: str) -> str:
    return f"{VARIANTS}{image_id}/{upload_id}/{name}.{extension}"


def render_key(image_id: str, cache_key: str, extension: str) -> str:
    return f"{RENDERS}{image_id}/{cache_key}.{extension}"


def link_key(image_id: str, link_id: str, extension: str) -> str:
    return f"{LINKS}{image_id}/{link_id}.{extension}"


def image_prefixes(image_id: str) -> tuple[str, ...]:
    """Every prefix an image's objects live under."""
    return tuple(f"{prefix}{image_id}/" for prefix in (UPLOADS, VARIANTS, RENDERS, LINKS))


def _s3() -> Any:
    return aws.client("s3")


def _bucket() -> str:
    return settings.get().bucket


def presigned_post(key: str, content_type: str, *, max_bytes: int | None = None) -> dict[str, Any]:
    """A browser-form upload to exactly `key`, of this type, within the size limit (or the
    smaller `max_bytes`: what a guest's upload reserved of its share link's quota)."""
    config = settings.get()
    limit = min(max_bytes or config.max_upload_bytes, config.max_upload_bytes)
    post = _s3().generate_presigned_post(
        Bucket=_bucket(),
        Key=key,
        Fields={"Content-Type": content_type, "Cache-Control": PRIVATE_IMMUTABLE},
        Conditions=[
            {"Content-Type": content_type},
            {"Cache-Control": PRIVATE_IMMUTABLE},
            ["content-length-range", 1, limit],
        ],
        ExpiresIn=config.upload_url_expiry_seconds,
    )
    return {
        "url": post["url"],
        "fields": post["fields"],
        "method": "POST",
        "expiresIn": config.upload_url_expiry_seconds,
        "maxBytes": limit,
    }


def presigned_get(
    key: str, fmt: str, filename: str | None = None, *, signed_at: int, expires_in: int
) -> str:
    """A GET of `key` served as the verified format `fmt`, named `filename` if given, signed
    as at `signed_at` (epoch seconds): the same arguments give the same URL, byte for byte,
    for as long as the credentials that sign it stay the same."""
    params: dict[str, Any] = {
        "Bucket": _bucket(),
        "Key": key,
        "ResponseContentType": formats.named(fmt).media_type,
    }
    if filename is not None:
        params["ResponseContentDisposition"] = content_disposition(download_name(filename, fmt))
    with _signing_at(datetime.fromtimestamp(signed_at, UTC).replace(tzinfo=None)):
        return _s3().generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)


# botocore signs at its own idea of now (botocore.auth.get_current_datetime) and takes no
# time as an argument. That one function is replaced by one that answers, on the thread
# that is presigning, the time asked for, and now everywhere else (a server may answer
# requests on many threads; a Lambda on one).
_signing = threading.local()


def _signing_clock(remove_tzinfo: bool = True) -> datetime:
    moment = getattr(_signing, "at", None)
    if moment is None:
        return _botocore_clock(remove_tzinfo)
    return moment if remove_tzinfo else moment.replace(tzinfo=UTC)


def _botocore_clock(remove_tzinfo: bool = True) -> datetime:
    from botocore.compat import get_current_datetime

    return get_current_datetime(remove_tzinfo)


class _signing_at:
    def __init__(self, moment: datetime):
        self.moment = moment

    def __enter__(self) -> None:
        import botocore.auth

        botocore.auth.get_current_datetime = _signing_clock  # type: ignore[assignment]
        _signing.at = self.moment

    def __exit__(self, *_: object) -> None:
        _signing.at = None


def download_name(filename: str, fmt: str) -> str:
    """The name a download of this format gets: the caller's, cleaned, with an extension
    that says what the file really is (dog.png holding a JPEG downloads as dog.jpg)."""
    # Cc and Cf: controls, and the invisible format characters, bidirectional overrides
    # and isolates (U+202A-U+202E, U+2066-U+2069) among them, which make "gpj.exe" read
    # as "exe.jpg".
    name = "".join(c for c in filename if unicodedata.category(c) not in ("Cc", "Cf")).strip()
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    served = formats.named(fmt)
    if extension.lower() in (served.extension, *served.also) and stem.strip(". "):
        return name
    return f"{(stem or extension).strip() or 'image'}.{served.extension}"


def content_disposition(name: str) -> str:
    """RFC 6266: the name in UTF-8 (filename*), and an ASCII fallback for old clients."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    fallback = "".join(c if c in _ASCII_KEPT else "_" for c in folded).lstrip(". ") or "image"
    encoded = urllib.parse.quote(name, safe="")
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


@dataclass(frozen=True)
class Head:
    size: int
    etag: str


def head(key: str) -> Head | None:
    """Size and identity of an object without reading it; None if it is not there."""
    try:
        response = _s3().head_object(Bucket=_bucket(), Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return Head(response["ContentLength"], response["ETag"])


@dataclass(frozen=True)
class Fetched:
    size: int  # the whole object's
    etag: str | None  # None only for an empty object (S3 refuses its range, with no ETag)
    data: bytes | None  # None when the object is larger than asked for: its body is not read


def fetch(key: str, max_bytes: int) -> Fetched | None:
    """One GET for an object's size, identity and bytes, which therefore all describe the same
    object; None if it is not there. Above max_bytes only the headers are read (the Range
    bounds what S3 would send, and the body is closed unread)."""
    try:
        response = _s3().get_object(Bucket=_bucket(), Key=key, Range=f"bytes=0-{max_bytes}")
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in ("NoSuchKey", "404"):
            return None
        if code == "InvalidRange":  # only an object of 0 bytes has no byte 0 to send
            return Fetched(0, None, b"")
        raise
    # "bytes 0-{last}/{size}"; a store that ignores the Range sends the whole object.
    size = int(response.get("ContentRange", "").rpartition("/")[2] or response["ContentLength"])
    if size > max_bytes:
        response["Body"].close()
        return Fetched(size, response["ETag"], None)
    return Fetched(size, response["ETag"], response["Body"].read(max_bytes + 1))


def read(key: str, max_bytes: int) -> bytes | None:
    """The object's bytes, at most max_bytes + 1 of them (a Range bounds the read); None if
    gone."""
    try:
        response = _s3().get_object(Bucket=_bucket(), Key=key, Range=f"bytes=0-{max_bytes}")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "InvalidRange"):
            return None
        raise
    return response["Body"].read(max_bytes + 1)


def write(key: str, data: bytes, content_type: str, cache_control: str = IMMUTABLE) -> None:
    _s3().put_object(
        Bucket=_bucket(), Key=key, Body=data, ContentType=content_type, CacheControl=cache_control
    )


def copy(source: str, key: str, fmt: str, cache_control: str) -> None:
    """A copy of one object under another key, made inside S3 (no bytes pass through here),
    served as the verified format `fmt`."""
    _s3().copy_object(
        Bucket=_bucket(),
        Key=key,
        CopySource={"Bucket": _bucket(), "Key": source},
        CacheControl=cache_control,
        ContentType=formats.named(fmt).media_type,
        MetadataDirective="REPLACE",
    )


def exists(key: str) -> bool:
    return head(key) is not None


def delete(keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        if chunk:
            _s3().delete_objects(
                Bucket=_bucket(),
                Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True},
            )


def list_keys(prefix: str) -> list[str]:
    keys: list[str] = []
    for page in _s3().get_paginator("list_objects_v2").paginate(Bucket=_bucket(), Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def list_page(prefix: str, after: str, limit: int) -> tuple[list[tuple[str, datetime]], bool]:
    """Up to `limit` keys under `prefix` after the key `after`, with when each was written,
    and whether more follow."""
    start = {"StartAfter": after} if after else {}
    page = _s3().list_objects_v2(Bucket=_bucket(), Prefix=prefix, MaxKeys=limit, **start)
    keys = [(item["Key"], item["LastModified"]) for item in page.get("Contents", [])]
    return keys, bool(page.get("IsTruncated")) and bool(keys)


def delete_prefix(prefix: str) -> None:
    delete(list_keys(prefix))
