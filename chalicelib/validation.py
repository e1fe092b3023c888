"""Checks of what callers send: JSON bodies, text fields, query parameters."""

import json
import re
from typing import Any

from chalicelib.errors import Invalid, UnsupportedMediaType

IMAGE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/tiff",
        "image/bmp",
        "image/avif",
        "image/heic",
        "image/heif",
        "image/x-icon",
        "image/vnd.microsoft.icon",
    }
)

_ACCEPTED = ", ".join(sorted(IMAGE_TYPES))
_SHORT_INTEGER = re.compile(r"[0-9]{1,9}")


def json_object(raw: bytes | str | None) -> dict[str, Any]:
    if not raw:
        raise Invalid("the request body must be a JSON object")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Invalid("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise Invalid("the request body must be a JSON object")
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid("the request body contains text that is not valid Unicode") from None
    return body


def text(
    body: dict[str, Any],
    name: str,
    *,
    max_length: int,
    required: bool = False,
    min_length: int = 0,
    single_line: bool = False,
) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise Invalid(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise Invalid(f"{name} must be a string")
    if not min_length <= len(value) <= max_length:
        raise Invalid(f"{name} must be {min_length} to {max_length} characters long")
    allowed_controls = "" if single_line else "\n\t"
    if any((ord(c) < 32 and c not in allowed_controls) or ord(c) == 127 for c in value):
        raise Invalid(f"{name} must not contain control characters")
    return value


def filename(body: dict[str, Any], *, required: bool) -> str | None:
    return text(body, "filename", max_length=255, min_length=1, required=required, single_line=True)


def content_type(body: dict[str, Any]) -> str:
    """The contentType of a presigned upload (the first or a replacement)."""
    value = body.get("contentType")
    if not isinstance(value, str):
        raise Invalid(f"contentType is required: one of {_ACCEPTED}")
    return media_type(value, name="contentType")


def media_type(value: str | None, *, name: str = "Content-Type") -> str:
    """Exactly one accepted image type, nothing around it: no parameters and no list.

    What is declared here is what S3 stores with the upload, so "text/html; image/png" (which
    Chalice's own matching lets through, since one of its parts is an image type) must never
    get as far as being stored."""
    declared = (value or "").strip().lower()
    if declared not in IMAGE_TYPES:
        raise UnsupportedMediaType(f"{name} must be exactly one of {_ACCEPTED}")
    return declared


def only_fields(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise Invalid(f"unknown field(s): {', '.join(unknown)}")


def integer(params: dict[str, str], name: str, *, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    # ASCII digits only, and few of them: str.isdigit() also accepts "²", which int()
    # refuses, and int() refuses numbers of more than 4,300 digits.
    if not _SHORT_INTEGER.fullmatch(raw) or not low <= int(raw) <= high:
        raise Invalid(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def flag(params: dict[str, str], name: str) -> bool:
    """A query flag: true or false (absent is false)."""
    value = params.get(name, "false")
    if value not in ("true", "false"):
        raise Invalid(f"{name} must be true or false, not {value[:20]!r}")
    return value == "true"
