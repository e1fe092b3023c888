"""Share links: a collection's owner lets guests (people without an account) view the
collection's ready images, or view them and upload into it.

  link  pk SHARE#{linkId}  sk SHARE   byOwner (gsi1): SHARES#{collectionId}, {createdAt}#{linkId}
A link's token reads `shl_{linkId}_{secret}`: the id finds its item with one GetItem (never a
scan), the secret (32 random bytes) is kept only as a SHA-256 hash and compared in constant
time. Every guest request is one use; a use, and an upload's share of the link's quota, is
counted by one conditional update, so concurrent guests never exceed a limit.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import aws, records, table, validation
from chalicelib.callers import Caller
from chalicelib.errors import Forbidden, Gone, Invalid, NotFound, NotSignedIn, TooLarge
from chalicelib.images import now_iso, parse_iso

PREFIX = "shl_"
MAX_LISTED = 200
# A link outliving a season is a standing door; the owner mints a new one instead.
MAX_EXPIRY_SECONDS = 90 * 24 * 3600


class Scope(StrEnum):
    VIEW = "view"
    UPLOAD = "upload"  # view and upload


@dataclass(frozen=True)
class Link:
    """A verified, usable link: whose collection it opens and what it allows."""

    link_id: str
    collection_id: str
    scope: Scope
    label: str

    @property
    def guest(self) -> Caller:
        """Who a guest is in records and the log: the link, not a person."""
        return Caller(id=f"link:{self.link_id}", name=f"guest via link {self.label}")


def _key(link_id: str) -> dict[str, str]:
    return {"pk": f"SHARE#{link_id}", "sk": "SHARE"}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _bounded(body: dict[str, Any], name: str, *, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Invalid(f"{name} must be an integer from {low} to {high}")
    return value


def create(caller: Caller, collection_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Mint a link (the token is in this answer only)."""
    validation.only_fields(
        body, {"scope", "label", "expiresInSeconds", "maxUses", "maxUploads", "maxBytes"}
    )
    try:
        scope = Scope(str(body.get("scope")))
    except ValueError:
        raise Invalid("scope must be 'view' or 'upload'") from None
    label = validation.text(body, "label", max_length=100, single_line=True) or ""
    seconds = _bounded(body, "expiresInSeconds", low=1, high=MAX_EXPIRY_SECONDS)
    if seconds is None:
        raise Invalid("expiresInSeconds is required")
    limits = {
        "maxUses": _bounded(body, "maxUses", low=1, high=1_000_000),
        "maxUploads": _bounded(body, "maxUploads", low=1, high=100_000),
        "maxBytes": _bounded(body, "maxBytes", low=1, high=1 << 40),
    }
    if scope == Scope.VIEW and (limits["maxUploads"] or limits["maxBytes"]):
        raise Invalid("maxUploads and maxBytes are for upload links")
    if scope == Scope.UPLOAD and not (limits["maxUploads"] and limits["maxBytes"]):
        raise Invalid("an upload link needs maxUploads and maxBytes (its quota)")
    link_id = secrets.token_hex(8)
    token = f"{PREFIX}{link_id}_{secrets.token_urlsafe(32)}"
    now = now_iso()
    expires = parse_iso(now) + timedelta(seconds=seconds)
    item = {
        **_key(link_id),
        "linkId": link_id,
        "collectionId": collection_id,
        "scope": str(scope),
        "label": label or link_id,
        "hash": _hash(token),
        "createdAt": now,
        "createdBy": caller.id,
        "expiresAt": expires.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "useCount": 0,
        "uploadCount": 0,
        "uploadBytes": 0,
        **{name: value for name, value in limits.items() if value is not None},
        "gsi1pk": f"SHARES#{collection_id}",
        "gsi1sk": f"{now}#{link_id}",
    }
    aws.table().put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
    return {**public(item), "token": token}


def public(item: dict[str, Any]) -> dict[str, Any]:
    def number(name: str) -> int | None:
        return int(item[name]) if item.get(name) is not None else None

    return {
        "linkId": item["linkId"],
        "collectionId": item["collectionId"],
        "scope": item["scope"],
        "label": item["label"],
        "createdAt": item["createdAt"],
        "expiresAt": item["expiresAt"],
        "revokedAt": item.get("revokedAt"),
        "lastUsedAt": item.get("lastUsedAt"),
        "useCount": number("useCount") or 0,
        "maxUses": number("maxUses"),
        "uploadCount": number("uploadCount") or 0,
        "maxUploads": number("maxUploads"),
        "uploadBytes": number("uploadBytes") or 0,
        "maxBytes": number("maxBytes"),
    }


def of_collection(collection_id: str) -> list[dict[str, Any]]:
    """The collection's links, newest first (one Query)."""
    items = aws.table().query(
        IndexName=table.BY_OWNER.name,
        KeyConditionExpression=records.conditions().Key("gsi1pk").eq(f"SHARES#{collection_id}"),
        ScanIndexForward=False,
        Limit=MAX_LISTED,
    )["Items"]
    return [public(item) for item in items]


def revoke(collection_id: str, link_id: str) -> None:
    """A revoked link keeps its row (with its counts) and never opens anything again."""
    try:
        aws.table().update_item(
            Key=_key(link_id),
            UpdateExpression="SET revokedAt = :now",
            ConditionExpression="collectionId = :collection AND attribute_not_exists(revokedAt)",
            ExpressionAttributeValues={":now": now_iso(), ":collection": collection_id},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise NotFound("no such active link of this collection") from None
        raise


def collection_of(link_id: str) -> str | None:
    """The collection a link (by id) belongs to, for its owner's questions about it."""
    if not link_id.isalnum() or len(link_id) > 32:
        return None
    item = aws.table().get_item(Key=_key(link_id)).get("Item")
    return item["collectionId"] if item else None


def _found(token: str | None) -> dict[str, Any]:
    """The item of the link this token is, checked; 401 for anything that is not one."""
    invalid = NotSignedIn(
        "this route needs a share link's token in X-Share-Token", code="InvalidShareLinkError"
    )
    if not token or not token.startswith(PREFIX) or len(token) > 200:
        raise invalid
    link_id, _, secret = token[len(PREFIX) :].partition("_")
    if not link_id or not secret or not link_id.isalnum():
        raise invalid
    item = aws.table().get_item(Key=_key(link_id), ConsistentRead=True).get("Item")
    if item is None or not hmac.compare_digest(item["hash"], _hash(token)):
        raise invalid
    return item


def _refuse(item: dict[str, Any], now: str, *, upload_bytes: int | None) -> None:
    """Why a link may not be used now (raises), or nothing if it may."""
    if item.get("revokedAt"):
        raise Gone("this share link was revoked", code="ShareLinkRevokedError")
    if item["expiresAt"] <= now:
        raise Gone("this share link has expired", code="ShareLinkExpiredError")
    if item.get("maxUses") is not None and int(item["useCount"]) >= int(item["maxUses"]):
        raise Forbidden("this share link has been used up", code="ShareLinkUsedUpError")
    if upload_bytes is None:
        return
    if item["scope"] != Scope.UPLOAD:
        raise Forbidden("this share link lets guests view, not upload")
    if int(item["uploadCount"]) >= int(item["maxUploads"]):
        raise Forbidden(
            f"this link's quota of {int(item['maxUploads'])} uploads is used up",
            code="ShareLinkQuotaExceededError",
        )
    left = int(item["maxBytes"]) - int(item["uploadBytes"])
    if upload_bytes > left:
        raise TooLarge(
            f"this link's byte quota has {left} bytes left", code="ShareLinkQuotaExceededError"
        )


def use(token: str | None, *, upload_bytes: int | None = None) -> Link:
    """Check a guest's token and count the use (with `upload_bytes`, an upload of at most
    that many bytes against the link's quota). Precise refusals: 401 not a link, 410 revoked
    or expired, 403 used up, over quota or a view link asked to upload, 413 over the bytes."""
    item = _found(token)
    now = now_iso()
    _refuse(item, now, upload_bytes=upload_bytes)
    update = "SET lastUsedAt = :now ADD useCount :one"
    condition = "attribute_not_exists(revokedAt) AND expiresAt > :now"
    values: dict[str, Any] = {":now": now, ":one": 1}
    if item.get("maxUses") is not None:
        condition += " AND useCount < maxUses"
    if upload_bytes is not None:
        update += ", uploadCount :one, uploadBytes :bytes"
        condition += " AND uploadCount < maxUploads AND uploadBytes <= :room"
        values.update({":bytes": upload_bytes, ":room": int(item["maxBytes"]) - upload_bytes})
    try:
        aws.table().update_item(
            Key=_key(item["linkId"]),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        # Another guest took the last use or quota between the read and this write.
        fresh = aws.table().get_item(Key=_key(item["linkId"]), ConsistentRead=True)["Item"]
        _refuse(fresh, now_iso(), upload_bytes=upload_bytes)
        raise Forbidden(
            "this share link was used up meanwhile", code="ShareLinkUsedUpError"
        ) from None
    return Link(
        link_id=item["linkId"],
        collection_id=item["collectionId"],
        scope=Scope(item["scope"]),
        label=item["label"],
    )
