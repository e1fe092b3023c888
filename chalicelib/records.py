"""DynamoDB access for images and their uploads. Queries only, never a Scan.

One table, item kinds told apart by their keys:
  image    pk IMG#{id}  sk IMG          byOwner (gsi1): OWNER#{owner}, {createdAt}#{id}
                                        byCollection (gsi2): COLL#{collection}, {createdAt}#{id}
                                        sweep (sparse): deleted tombstones by age
  upload   pk IMG#{id}  sk UP#{upload}  log (gsi3): LOG#{owner}, {createdAt}#{upload}
                                        logByDay (gsi4): DAY#{yyyy-mm-dd}, {createdAt}#{upload}
                                        sweep (sparse): unfinished uploads by status and age
  create   pk IDEM#{owner}#{key}  sk IDEM   one POST /images under an Idempotency-Key: its
                                        request's fingerprint and answer, until `ttl`
Every change to an image is conditional on its `version`; a change that moves an upload
between statuses is one transaction over the image and the upload, conditional on both.
"""

import re
from dataclasses import asdict
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.images import UNFINISHED, Image, Status, Upload

OWNER_INDEX = "byOwner"
COLLECTION_INDEX = "byCollection"
LOG_INDEX = "log"
DAY_INDEX = "logByDay"
SWEEP_INDEX = "sweep"


class LostWrite(Exception):
    """A conditional write lost: the record changed since it was read."""


def image_key(image_id: str) -> dict[str, str]:
    return {"pk": f"IMG#{image_id}", "sk": "IMG"}


def upload_key(image_id: str, upload_id: str) -> dict[str, str]:
    return {"pk": f"IMG#{image_id}", "sk": f"UP#{upload_id}"}


def _table() -> Any:
    return aws.table()


def _image_item(image: Image) -> dict[str, Any]:
    item = {key: value for key, value in asdict(image).items() if value is not None}
    item["status"] = str(image.status)
    item.update(image_key(image.id))
    item["gsi1pk"] = f"OWNER#{image.ownerId}"
    item["gsi1sk"] = f"{image.createdAt}#{image.id}"
    if image.collectionId:
        item["gsi2pk"] = f"COLL#{image.collectionId}"
        item["gsi2sk"] = f"{image.createdAt}#{image.id}"
    return item


def _upload_item(upload: Upload) -> dict[str, Any]:
    item = {key: value for key, value in asdict(upload).items() if value is not None}
    item["status"] = str(upload.status)
    item.update(upload_key(upload.imageId, upload.uploadId))
    item["gsi3pk"] = f"LOG#{upload.ownerId}"
    item["gsi3sk"] = f"{upload.createdAt}#{upload.uploadId}"
    item["gsi4pk"] = f"DAY#{upload.createdAt[:10]}"
    item["gsi4sk"] = f"{upload.createdAt}#{upload.uploadId}"
    item["sweepPk"] = f"SWEEP#{upload.status}"
    # Awaited uploads age from their creation, processing ones from their last claim.
    since = upload.claimedAt if upload.status == Status.PROCESSING else upload.createdAt
    item["sweepSk"] = f"{since or upload.createdAt}#{upload.imageId}#{upload.uploadId}"
    return item


def _transact(*operations: dict[str, Any]) -> None:
    try:
        _table().meta.client.transact_write_items(TransactItems=list(operations))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in (
            "TransactionCanceledException",
            "ConditionalCheckFailedException",
        ):
            raise LostWrite(str(error)) from None
        raise


def _table_name() -> str:
    return _table().name


def create(image: Image, upload: Upload) -> None:
    """Store a new image and its first upload."""
    _transact(*_creations(image, upload))


def _creations(image: Image, upload: Upload) -> tuple[dict[str, Any], ...]:
    return (
        {
            "Put": {
                "TableName": _table_name(),
                "Item": _image_item(image),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {
            "Put": {
                "TableName": _table_name(),
                "Item": _upload_item(upload),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    )


def idempotency_key(owner_id: str, key: str) -> dict[str, str]:
    return {"pk": f"IDEM#{owner_id}#{key}", "sk": "IDEM"}


class KeyReused(Exception):
    """An Idempotency-Key already used for a request with another body."""


def create_once(
    image: Image,
    upload: Upload,
    *,
    key: str,
    fingerprint: str,
    answer: str,
    now_epoch: int,
    keep_seconds: int,
) -> str:
    """create(), unless this owner already created with `key` in the last `keep_seconds`:
    then the answer that request got. The record of the key is written in the same
    transaction as the image, so two concurrent retries make one image. `ttl` lets
    DynamoDB's TTL remove old keys; the condition ignores an expired one it has not yet."""
    marker = {
        **idempotency_key(image.ownerId, key),
        "fingerprint": fingerprint,
        "answer": answer,
        "imageId": image.id,
        "ttl": now_epoch + keep_seconds,
    }
    try:
        _transact(
            {
                "Put": {
                    "TableName": _table_name(),
                    "Item": marker,
                    "ConditionExpression": "attribute_not_exists(pk) OR #ttl < :now",
                    "ExpressionAttributeNames": {"#ttl": "ttl"},
                    "ExpressionAttributeValues": {":now": now_epoch},
                }
            },
            *_creations(image, upload),
        )
        return answer
    except LostWrite:
        found = (
            _table()
            .get_item(Key=idempotency_key(image.ownerId, key), ConsistentRead=True)
            .get("Item")
        )
        if not found or int(found["ttl"]) < now_epoch:
            raise
        if found["fingerprint"] != fingerprint:
            raise KeyReused(key) from None
        return str(found["answer"])


def get_image(image_id: str) -> Image | None:
    item = _table().get_item(Key=image_key(image_id), ConsistentRead=True).get("Item")
    return Image.from_item(item) if item else None


def get_upload(image_id: str, upload_id: str) -> Upload | None:
    item = _table().get_item(Key=upload_key(image_id, upload_id), ConsistentRead=True).get("Item")
    return Upload.from_item(item) if item else None


def get_image_and_upload(image_id: str, upload_id: str) -> tuple[Image | None, Upload | None]:
    """Both items in one round trip, read consistently (the pipeline's first look)."""
    name = _table_name()
    response = _table().meta.client.batch_get_item(
        RequestItems={
            name: {
                "Keys": [image_key(image_id), upload_key(image_id, upload_id)],
                "ConsistentRead": True,
            }
        }
    )
    if response.get("UnprocessedKeys"):
        raise RuntimeError("DynamoDB left keys unprocessed (throttled); retry")
    image = upload = None
    for item in response.get("Responses", {}).get(name, []):
        if item["sk"] == "IMG":
            image = Image.from_item(item)
        else:
            upload = Upload.from_item(item)
    return image, upload


def _image_update(image: Image, expected_version: int) -> dict[str, Any]:
    """A conditional put of the whole image item, on the version it was read at."""
    return {
        "Put": {
            "TableName": _table_name(),
            "Item": _image_item(image),
            "ConditionExpression": "version = :expected",
            "ExpressionAttributeValues": {":expected": expected_version},
        }
    }


def _upload_transition(upload: Upload, expected: Status) -> dict[str, Any]:
    item = _upload_item(upload)
    if upload.status not in UNFINISHED:
        # Leaving the sweep index: finished uploads need no further attention.
        item.pop("sweepPk")
        item.pop("sweepSk")
    return {
        "Put": {
            "TableName": _table_name(),
            "Item": item,
            "ConditionExpression": "#status = :expected",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":expected": str(expected)},
        }
    }


def save_transition(
    image: Image, upload: Upload, *, upload_was: Status, image_version_was: int
) -> None:
    """Write an image and one of its uploads together, or neither (LostWrite)."""
    _transact(_image_update(image, image_version_was), _upload_transition(upload, upload_was))


def save_upload(upload: Upload, *, upload_was: Status) -> None:
    """Change an upload that is no longer the image's latest (superseded or abandoned)."""
    _transact(_upload_transition(upload, upload_was))


def replace(image: Image, upload: Upload, *, image_version_was: int) -> None:
    """Point an image at a new upload (a replacement), writing both together."""
    _transact(
        _image_update(image, image_version_was),
        {
            "Put": {
                "TableName": _table_name(),
                "Item": _upload_item(upload),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    )


def save_image(image: Image, *, image_version_was: int) -> None:
    """A conditional write of the image alone (edits of title, description, filename)."""
    operation = _image_update(image, image_version_was)["Put"]
    try:
        _table().put_item(
            Item=operation["Item"],
            ConditionExpression=operation["ConditionExpression"],
            ExpressionAttributeValues=operation["ExpressionAttributeValues"],
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise LostWrite(str(error)) from None
        raise


def tombstone(image: Image, *, image_version_was: int, deleted_at: str) -> None:
    """Mark an image deleted: it leaves the owner and collection listings, stays in the log."""
    item = _image_item(image)
    for name in ("gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"):
        item.pop(name, None)
    item["sweepPk"] = f"SWEEP#{Status.DELETED}"
    item["sweepSk"] = f"{deleted_at}#{image.id}"
    try:
        _table().put_item(
            Item=item,
            ConditionExpression="version = :expected",
            ExpressionAttributeValues={":expected": image_version_was},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise LostWrite(str(error)) from None
        raise


def mark_uploads_deleted(image_id: str, deleted_at: str) -> None:
    """Show the deletion in every log row of the image (they stay, as its tombstones)."""
    for upload in uploads_of(image_id):
        _table().update_item(
            Key=upload_key(image_id, upload.uploadId),
            UpdateExpression="SET #status = :deleted, deletedAt = :at REMOVE sweepPk, sweepSk",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":deleted": str(Status.DELETED), ":at": deleted_at},
        )


def purge(image_id: str) -> int:
    """Remove an image and all its upload rows for good. Returns the items removed.

    The image item goes last: a purge cut short leaves the tombstone in the sweep index,
    so the next run finds it and finishes the job."""
    keys: list[dict[str, str]] = []
    start = None
    while True:
        page = _query(Key("pk").eq(f"IMG#{image_id}"), limit=1000, projection="pk, sk", start=start)
        keys.extend({"pk": item["pk"], "sk": item["sk"]} for item in page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    keys.sort(key=lambda key: key == image_key(image_id))
    with _table().batch_writer() as batch:
        for key in keys:
            batch.delete_item(Key=key)
    return len(keys)


def uploads_of(image_id: str) -> list[Upload]:
    items = _query(Key("pk").eq(f"IMG#{image_id}") & Key("sk").begins_with("UP#"), limit=1000)
    return [Upload.from_item(item) for item in items["Items"]]


def _query(
    condition: Any,
    *,
    limit: int,
    index: str | None = None,
    start: Any = None,
    newest_first: bool = False,
    filter_: Any = None,
    projection: str | None = None,
):
    params: dict[str, Any] = {
        "KeyConditionExpression": condition,
        "Limit": limit,
        "ScanIndexForward": not newest_first,
    }
    if index:
        params["IndexName"] = index
    if start:
        params["ExclusiveStartKey"] = start
    if filter_ is not None:
        params["FilterExpression"] = filter_
    if projection:
        params["ProjectionExpression"] = projection
    return _table().query(**params)


# A filter may match few of a partition's items; a filtered page examines at most this many
# times its limit, so its cost grows with the page, never with the partition.
FILTERED_EXAMINE_FACTOR = 5


def examine_bound(limit: int, filtered: bool) -> int:
    """How many items a page of `limit` items may examine."""
    return limit * FILTERED_EXAMINE_FACTOR if filtered else limit


class Page:
    """One page of a listing: the items, where to go on from, and what the query examined."""

    def __init__(self, items: list[Any], next_key: dict[str, Any] | None, scanned: int):
        self.items = items
        self.next_key = next_key
        self.scanned = scanned


def _page(
    condition: Any,
    index: str,
    limit: int,
    start: Any,
    filter_: Any,
    convert,
    examine: int | None = None,
) -> Page:
    """Newest first, up to `limit` items, examining at most `examine` items (by default the
    limit, or FILTERED_EXAMINE_FACTOR times it with a filter). A filtered page may so end
    short, even empty, with a next key: the caller pages on from there."""
    if examine is None:
        examine = examine_bound(limit, filtered=filter_ is not None)
    items: list[Any] = []
    scanned = 0
    while True:
        response = _query(
            condition,
            index=index,
            limit=examine - scanned,
            start=start,
            newest_first=True,
            filter_=filter_,
        )
        scanned += response["ScannedCount"]
        items.extend(response["Items"])
        start = response.get("LastEvaluatedKey")
        if len(items) >= limit or scanned >= examine or not start:
            break
    if len(items) >= limit:
        # The page ends at its last item, even where the query examined more.
        items = items[:limit]
        start = {name: items[-1][name] for name in _key_names(index)}
    return Page([convert(item) for item in items], start, scanned)


def _key_names(index: str) -> tuple[str, ...]:
    return {
        OWNER_INDEX: ("pk", "sk", "gsi1pk", "gsi1sk"),
        COLLECTION_INDEX: ("pk", "sk", "gsi2pk", "gsi2sk"),
        LOG_INDEX: ("pk", "sk", "gsi3pk", "gsi3sk"),
        DAY_INDEX: ("pk", "sk", "gsi4pk", "gsi4sk"),
    }[index]


def start_key_names(index: str) -> tuple[str, ...]:
    return _key_names(index)


_ID = r"[A-Za-z0-9_-]{1,100}"
_DAY = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_CLOCK = r"T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z"
# The start keys each index gives out, values joined by newlines in _key_names' order: the
# image or upload id is the same in the table's key and the index's sort key, and a day's
# partition holds only that day's times.
_START_KEYS = {
    OWNER_INDEX: re.compile(rf"IMG#(?P<id>{_ID})\nIMG\nOWNER#[^\n]+\n{_DAY}{_CLOCK}#(?P=id)"),
    COLLECTION_INDEX: re.compile(rf"IMG#(?P<id>{_ID})\nIMG\nCOLL#[^\n]+\n{_DAY}{_CLOCK}#(?P=id)"),
    LOG_INDEX: re.compile(rf"IMG#{_ID}\nUP#(?P<up>{_ID})\nLOG#[^\n]+\n{_DAY}{_CLOCK}#(?P=up)"),
    DAY_INDEX: re.compile(
        rf"IMG#{_ID}\nUP#(?P<up>{_ID})\nDAY#(?P<day>{_DAY})\n(?P=day){_CLOCK}#(?P=up)"
    ),
}


def is_start_key(index: str, key: dict[str, Any]) -> bool:
    """Whether `key` has the shape of a start key this index gives out. DynamoDB refuses a
    start key with empty or ill-formed values as a server error, not as the caller's."""
    names = _key_names(index)
    if set(key) != set(names) or not all(isinstance(key[name], str) for name in names):
        return False
    return _START_KEYS[index].fullmatch("\n".join(key[name] for name in names)) is not None


def _status_filter(status: Status | None, collection_id: str | None = None) -> Any:
    condition = None
    if status:
        condition = Attr("status").eq(str(status))
    if collection_id:
        by_collection = Attr("collectionId").eq(collection_id)
        condition = by_collection if condition is None else condition & by_collection
    return condition


def images_of_owner(
    owner_id: str,
    *,
    limit: int,
    start: Any = None,
    status: Status | None = None,
    collection_id: str | None = None,
) -> Page:
    return _page(
        Key("gsi1pk").eq(f"OWNER#{owner_id}"),
        OWNER_INDEX,
        limit,
        start,
        _status_filter(status, collection_id),
        Image.from_item,
    )


def images_of_collection(
    collection_id: str, *, limit: int, start: Any = None, status: Status | None = None
) -> Page:
    return _page(
        Key("gsi2pk").eq(f"COLL#{collection_id}"),
        COLLECTION_INDEX,
        limit,
        start,
        _status_filter(status),
        Image.from_item,
    )


def log_of_owner(
    owner_id: str, *, limit: int, start: Any = None, status: Status | None = None
) -> Page:
    return _page(
        Key("gsi3pk").eq(f"LOG#{owner_id}"),
        LOG_INDEX,
        limit,
        start,
        _status_filter(status),
        Upload.from_item,
    )


def log_of_day(
    day: str,
    *,
    limit: int,
    start: Any = None,
    status: Status | None = None,
    examine: int | None = None,
) -> Page:
    """One day's uploads; `examine` bounds the items examined (a request reading several
    days shares one bound between them)."""
    return _page(
        Key("gsi4pk").eq(f"DAY#{day}"),
        DAY_INDEX,
        limit,
        start,
        _status_filter(status),
        Upload.from_item,
        examine,
    )


def needing_sweep(status: Status, *, older_than: str, limit: int) -> list[dict[str, Any]]:
    """Unfinished uploads (or tombstones) in `status` created before `older_than`, oldest first."""
    response = _query(
        Key("sweepPk").eq(f"SWEEP#{status}") & Key("sweepSk").lt(older_than),
        index=SWEEP_INDEX,
        limit=limit,
    )
    return response["Items"]


def sweep_page(
    status: Status, *, before: str, since: str | None = None, limit: int, start: Any = None
) -> Page:
    """One page of the sweep index: items in `status` aged between `since` and `before`,
    oldest first. Items keep every attribute (the index projects them all)."""
    position = Key("sweepSk").between(since, before) if since else Key("sweepSk").lt(before)
    response = _query(
        Key("sweepPk").eq(f"SWEEP#{status}") & position,
        index=SWEEP_INDEX,
        limit=limit,
        start=start,
    )
    return Page(response["Items"], response.get("LastEvaluatedKey"), response["ScannedCount"])


def _sweep_state_key(name: str) -> dict[str, str]:
    return {"pk": "SWEEP", "sk": name}


def sweep_position(name: str) -> str:
    """Where a resumable pass of the cleanup (e.g. over the bucket) stopped; '' to start over."""
    item = _table().get_item(Key=_sweep_state_key(name), ConsistentRead=True).get("Item")
    return item["after"] if item else ""


def save_sweep_position(name: str, after: str) -> None:
    _table().put_item(Item={**_sweep_state_key(name), "after": after})


def images_and_upload_ids(
    image_ids: set[str], uploads: set[tuple[str, str]]
) -> tuple[dict[str, Image], set[tuple[str, str]]]:
    """Many images and upload rows by key, in batches: the images found, and which
    (imageId, uploadId) rows exist."""
    keys = [image_key(image_id) for image_id in sorted(image_ids)]
    keys += [upload_key(image_id, upload_id) for image_id, upload_id in sorted(uploads)]
    images: dict[str, Image] = {}
    found: set[tuple[str, str]] = set()
    for start in range(0, len(keys), 100):
        for item in batch_get(keys[start : start + 100]):
            if item["sk"] == "IMG":
                images[item["id"]] = Image.from_item(item)
            else:
                found.add((item["imageId"], item["uploadId"]))
    return images, found


def batch_get(keys: list[dict[str, str]]) -> list[dict[str, Any]]:
    name = _table_name()
    items: list[dict[str, Any]] = []
    pending: dict[str, Any] = {name: {"Keys": keys, "ConsistentRead": True}}
    for _ in range(5):
        response = _table().meta.client.batch_get_item(RequestItems=pending)
        items.extend(response.get("Responses", {}).get(name, []))
        pending = response.get("UnprocessedKeys") or {}
        if not pending:
            return items
    raise RuntimeError("DynamoDB left keys unprocessed (throttled); retry")
