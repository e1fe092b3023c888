"""Opaque paging cursors and the paging parameters of listings.

A cursor is the Query's start key, base64url-encoded. It is checked against the listing it
is used with (index, partition), so a tampered, malformed or someone else's cursor is a 400,
never a 500 and never a peek into another partition.
"""

import base64
import binascii
import json
from typing import Any

from chalicelib import records, validation
from chalicelib.errors import Invalid
from chalicelib.images import Status
from chalicelib.table import Index


def encode(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    raw = json.dumps(key, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_raw(cursor: str) -> dict[str, str]:
    if len(cursor) > 2000:
        raise Invalid("cursor is malformed")
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Invalid("cursor is malformed") from None
    if not isinstance(key, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and len(v) < 300 for k, v in key.items()
    ):
        raise Invalid("cursor is malformed")
    return key


def decode(cursor: str | None, index: Index, partition: str) -> dict[str, Any] | None:
    """The start key from a cursor this listing (`index`, its `partition`) gave out; 400
    for anything else."""
    if cursor is None:
        return None
    key = decode_raw(cursor)
    if set(key) != set(index.start_key_names) or key[index.pk] != index.partition(partition):
        raise Invalid("cursor is malformed or belongs to another listing")
    if not records.is_start_key(index, key):
        raise Invalid("cursor is malformed")
    return key


def page_params(params: dict[str, str]) -> tuple[int, Status | None]:
    limit = validation.integer(params, "limit", default=20, low=1, high=100)
    status = params.get("status")
    if status is None:
        return limit, None
    try:
        return limit, Status(status)
    except ValueError:
        raise Invalid(f"status must be one of {', '.join(s.value for s in Status)}") from None
