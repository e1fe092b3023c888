"""API keys for external systems: issued once, stored only as a SHA-256 hash.

  key  table.api_key_key, in the API_KEYS partition of byOwner, newest first
A key reads `isk_{keyId}_{secret}`: the prefix makes it recognisable (and findable by secret
scanners), the id finds its item with one GetItem, and the secret (32 random bytes) is
compared by hash in constant time.
"""

import hashlib
import hmac
import secrets
from typing import Any

from chalicelib import records, table, validation
from chalicelib.callers import Caller
from chalicelib.errors import NotFound
from chalicelib.images import now_iso
from chalicelib.logs import metric

PREFIX = "isk_"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    validation.only_fields(body, {"name"})
    name = validation.text(
        body, "name", max_length=100, min_length=1, required=True, single_line=True
    )
    key_id = secrets.token_hex(8)
    secret = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    now = now_iso()
    item = {
        **table.api_key_key(key_id),
        "keyId": key_id,
        "name": name,
        "hash": _hash(secret),
        "createdAt": now,
        "createdBy": caller.id,
        "useCount": 0,
        **table.API_KEYS.attributes("", f"{now}#{key_id}"),
    }
    records.put(item, condition="attribute_not_exists(pk)")
    return {**_public(item), "secret": secret}


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "keyId": item["keyId"],
        "name": item["name"],
        "createdAt": item["createdAt"],
        "createdBy": item.get("createdBy"),
        "lastUsedAt": item.get("lastUsedAt"),
        "useCount": int(item.get("useCount", 0)),
        "revokedAt": item.get("revokedAt"),
    }


def list_keys() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    start = None
    while True:
        items, start = records.index_page(table.API_KEYS, "", limit=1000, start=start)
        found.extend(_public(item) for item in items)
        if not start or len(found) >= 1000:
            return found


def revoke(key_id: str) -> None:
    """Revoked keys keep their row (with its use count) but never authorize again."""
    try:
        records.update(
            table.api_key_key(key_id),
            "SET revokedAt = :now",
            condition="attribute_exists(pk) AND attribute_not_exists(revokedAt)",
            ExpressionAttributeValues={":now": now_iso()},
        )
    except records.LostWrite:
        raise NotFound("no such active API key") from None


def verify(presented: str | None) -> dict[str, str] | None:
    """(keyId, name) of a valid, unrevoked key; None for anything else."""
    if not presented or not presented.startswith(PREFIX) or len(presented) > 200:
        return None
    key_id, _, secret = presented[len(PREFIX) :].partition("_")
    if not key_id or not secret or not key_id.isalnum():
        return None
    item = records.get(table.api_key_key(key_id))
    if item is None or item.get("revokedAt"):
        return None
    if not hmac.compare_digest(item["hash"], _hash(presented)):
        return None
    return {"keyId": key_id, "keyName": item["name"]}


def is_active(key_id: str) -> bool:
    """Whether a key (by id) exists and is not revoked."""
    if not key_id.isalnum() or len(key_id) > 32:
        return False
    item = records.get(table.api_key_key(key_id))
    return item is not None and not item.get("revokedAt")


def active_ids(key_ids: set[str]) -> set[str]:
    """Which of these keys are active, in one BatchGetItem (a webhook of a revoked key
    receives nothing)."""
    if not key_ids:
        return set()
    items = records.batch_get([table.api_key_key(key_id) for key_id in sorted(key_ids)])
    return {item["keyId"] for item in items if not item.get("revokedAt")}


def record_use(key_id: str) -> None:
    metric({"ApiKeyUses": 1}, dimensions={"KeyId": key_id})
    records.update(
        table.api_key_key(key_id),
        "SET lastUsedAt = :now ADD useCount :one",
        condition="attribute_exists(pk)",
        ExpressionAttributeValues={":now": now_iso(), ":one": 1},
    )
