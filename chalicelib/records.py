"""DynamoDB access for images and their uploads, and the storage functions collections and
API keys use too. Queries only, never a Scan. The key layout is chalicelib.table's.

Every change to an image is conditional on its `version`; a change that moves an upload
between statuses is one transaction over the image and the upload, conditional on both.
A conditional write that loses raises LostWrite, whatever item it was for.
"""

import re
from dataclasses import asdict
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import aws, table
from chalicelib.images import UNFINISHED, Image, Status, Upload
from chalicelib.table import (
    BY_COLLECTION,
    BY_OWNER,
    LOG,
    LOG_BY_DAY,
    SWEEP,
    Index,
    image_key,
    upload_key,
)


class LostWrite(Exception):
    """A conditional write lost: the record changed since it was read."""


def conditions() -> Any:
    # Imported on the first query, not with the module: importing boto3 costs ~100 ms of
    # every cold start, and most API requests never query (test_cold_start pins this).
    from boto3.dynamodb import conditions

    return conditions


def _table() -> Any:
    return aws.table()


def _image_item(image: Image) -> dict[str, Any]:
    item = {key: value for key, value in asdict(image).items() if value is not None}
    item["status"] = str(image.status)
    item.update(image_key(image.id))
    listed = f"{image.createdAt}#{image.id}"
    item.update(BY_OWNER.attributes(image.ownerId, listed))
    if image.collectionId:
        item.update(BY_COLLECTION.attributes(image.collectionId, listed))
    return item


def _upload_item(upload: Upload) -> dict[str, Any]:
    item = {key: value for key, value in asdict(upload).items() if value is not None}
    item["status"] = str(upload.status)
    item.update(upload_key(upload.imageId, upload.uploadId))
    logged = f"{upload.createdAt}#{upload.uploadId}"
    item.update(LOG.attributes(upload.ownerId, logged))
    item.update(LOG_BY_DAY.attributes(upload.createdAt[:10], logged))
    # Awaited uploads age from their creation, processing ones from their last claim.
    since = upload.claimedAt if upload.status == Status.PROCESSING else upload.createdAt
    aged = f"{since or upload.createdAt}#{upload.imageId}#{upload.uploadId}"
    item.update(SWEEP.attributes(upload.status, aged))
    return item


def _transact(*operations: dict[str, Any]) -> None:
    try:
        _table().meta.client.transact_write_items(TransactItems=list(operations))
    except ClientError as error:
        if table.lost(error):
            raise LostWrite(str(error)) from None
        raise


def get(key: dict[str, str], *, consistent: bool = True) -> dict[str, Any] | None:
    """One item by its key (chalicelib.table), or None."""
    return _table().get_item(Key=key, ConsistentRead=consistent).get("Item")


def put(item: dict[str, Any], *, condition: str | None = None, **expression: Any) -> None:
    """Write an item, if `condition` holds (else LostWrite). `expression`: the condition's
    ExpressionAttributeValues and ExpressionAttributeNames."""
    _conditional(_table().put_item, Item=item, condition=condition, **expression)


def update(
    key: dict[str, str], change: str, *, condition: str | None = None, **expression: Any
) -> None:
    """An UpdateExpression on one item, if `condition` holds (else LostWrite)."""
    _conditional(
        _table().update_item, Key=key, UpdateExpression=change, condition=condition, **expression
    )


def delete(key: dict[str, str], *, condition: str | None = None) -> None:
    """Remove one item, if `condition` holds (else LostWrite)."""
    _conditional(_table().delete_item, Key=key, condition=condition)


def put_all(items: list[dict[str, Any]]) -> None:
    """Several new items in batches (no conditions)."""
    with _table().batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)


def _conditional(write: Any, *, condition: str | None, **params: Any) -> None:
    if condition is not None:
        params["ConditionExpression"] = condition
    try:
        write(**params)
    except ClientError as error:
        if table.lost(error):
            raise LostWrite(str(error)) from None
        raise


def partition(
    pk: str, *, sort_prefix: str | None = None, limit: int = 1000, consistent: bool = False
) -> list[dict[str, Any]]:
    """Items of one table partition (an image and its uploads, a collection and its
    members), optionally only those whose sort key starts with `sort_prefix`."""
    condition = conditions().Key("pk").eq(pk)
    if sort_prefix is not None:
        condition = condition & conditions().Key("sk").begins_with(sort_prefix)
    params: dict[str, Any] = {"KeyConditionExpression": condition, "Limit": limit}
    if consistent:
        params["ConsistentRead"] = True
    return _table().query(**params)["Items"]


def index_page(
    index: Index, partition: str, *, limit: int, start: Any = None
) -> tuple[list[dict[str, Any]], Any]:
    """One page of an index partition, newest first: its items and where to go on from."""
    response = _query(
        conditions().Key(index.pk).eq(index.partition(partition)),
        index=index.name,
        limit=limit,
        start=start,
        newest_first=True,
    )
    return response["Items"], response.get("LastEvaluatedKey")


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
        **table.idempotency_key(image.ownerId, key),
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
        found = get(table.idempotency_key(image.ownerId, key))
        if not found or int(found["ttl"]) < now_epoch:
            raise
        if found["fingerprint"] != fingerprint:
            raise KeyReused(key) from None
        return str(found["answer"])


def get_image(image_id: str) -> Image | None:
    item = get(image_key(image_id))
    return Image.from_item(item) if item else None


def get_upload(image_id: str, upload_id: str) -> Upload | None:
    item = get(upload_key(image_id, upload_id))
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
        item.pop(SWEEP.pk)
        item.pop(SWEEP.sk)
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
    put(
        operation["Item"],
        condition=operation["ConditionExpression"],
        ExpressionAttributeValues=operation["ExpressionAttributeValues"],
    )


def tombstone(image: Image, *, image_version_was: int, deleted_at: str) -> None:
    """Mark an image deleted: it leaves the owner and collection listings, stays in the log."""
    item = _image_item(image)
    for index in (BY_OWNER, BY_COLLECTION):
        item.pop(index.pk, None)
        item.pop(index.sk, None)
    item.update(SWEEP.attributes(Status.DELETED, f"{deleted_at}#{image.id}"))
    put(
        item,
        condition="version = :expected",
        ExpressionAttributeValues={":expected": image_version_was},
    )


def mark_uploads_deleted(image_id: str, deleted_at: str) -> None:
    """Show the deletion in every log row of the image (they stay, as its tombstones)."""
    for upload in uploads_of(image_id):
        update(
            upload_key(image_id, upload.uploadId),
            f"SET #status = :deleted, deletedAt = :at REMOVE {SWEEP.pk}, {SWEEP.sk}",
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
        page = _query(
            conditions().Key("pk").eq(table.image_partition(image_id)),
            limit=1000,
            projection="pk, sk",
            start=start,
        )
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
    items = partition(table.image_partition(image_id), sort_prefix=table.UPLOAD_SORT_PREFIX)
    return [Upload.from_item(item) for item in items]


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
    index: Index | None,
    limit: int,
    start: Any,
    filter_: Any,
    convert,
    examine: int | None = None,
    *,
    sparing: bool = False,
) -> Page:
    """Newest first, up to `limit` items of the index (None: the table), examining at most
    `examine` items (by default the limit, or FILTERED_EXAMINE_FACTOR times it with a
    filter). A filtered page may so end short, even empty, with a next key: the caller
    pages on from there. `sparing`: each query asks for no more than the page still lacks
    (where most items pass the filter, a page then reads about `limit` items)."""
    if examine is None:
        examine = examine_bound(limit, filtered=filter_ is not None)
    items: list[Any] = []
    scanned = 0
    while True:
        wanting = examine - scanned
        response = _query(
            condition,
            index=index.name if index else None,
            limit=min(wanting, limit - len(items)) if sparing else wanting,
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
        names = index.start_key_names if index else ("pk", "sk")
        start = {name: items[-1][name] for name in names}
    return Page([convert(item) for item in items], start, scanned)


_ID = r"[A-Za-z0-9_-]{1,100}"
_DAY = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_CLOCK = r"T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z"
# The start keys each index gives out, values joined by newlines in start_key_names' order: the
# image or upload id is the same in the table's key and the index's sort key, and a day's
# partition holds only that day's times.
_START_KEYS = {
    BY_OWNER: re.compile(rf"IMG#(?P<id>{_ID})\nIMG\nOWNER#[^\n]+\n{_DAY}{_CLOCK}#(?P=id)"),
    BY_COLLECTION: re.compile(rf"IMG#(?P<id>{_ID})\nIMG\nCOLL#[^\n]+\n{_DAY}{_CLOCK}#(?P=id)"),
    LOG: re.compile(rf"IMG#{_ID}\nUP#(?P<up>{_ID})\nLOG#[^\n]+\n{_DAY}{_CLOCK}#(?P=up)"),
    LOG_BY_DAY: re.compile(
        rf"IMG#{_ID}\nUP#(?P<up>{_ID})\nDAY#(?P<day>{_DAY})\n(?P=day){_CLOCK}#(?P=up)"
    ),
}


def is_start_key(index: Index, key: dict[str, Any]) -> bool:
    """Whether `key` has the shape of a start key this index gives out. DynamoDB refuses a
    start key with empty or ill-formed values as a server error, not as the caller's."""
    names = index.start_key_names
    if set(key) != set(names) or not all(isinstance(key[name], str) for name in names):
        return False
    return _START_KEYS[index].fullmatch("\n".join(key[name] for name in names)) is not None


def _status_filter(
    status: Status | None, collection_id: str | None = None, duplicates: bool = False
) -> Any:
    condition = None
    if status:
        condition = conditions().Attr("status").eq(str(status))
    if collection_id:
        by_collection = conditions().Attr("collectionId").eq(collection_id)
        condition = by_collection if condition is None else condition & by_collection
    if duplicates:
        # The served version was found to look like earlier images (chalicelib.duplicates).
        # exists() first: a record without knowledge (awaiting, failed, older) has no such
        # path; size() of a missing path is false in DynamoDB but an error in some
        # evaluators of the expression language, so the condition never asks it.
        path = conditions().Attr("content.knowledge.duplicateOf")
        alike = path.exists() & path.size().gt(0)
        condition = alike if condition is None else condition & alike
    return condition


def images_of_owner(
    owner_id: str,
    *,
    limit: int,
    start: Any = None,
    status: Status | None = None,
    collection_id: str | None = None,
    duplicates: bool = False,
) -> Page:
    return _page(
        conditions().Key(BY_OWNER.pk).eq(BY_OWNER.partition(owner_id)),
        BY_OWNER,
        limit,
        start,
        _status_filter(status, collection_id, duplicates),
        Image.from_item,
    )


def images_of_collection(
    collection_id: str, *, limit: int, start: Any = None, status: Status | None = None
) -> Page:
    return _page(
        conditions().Key(BY_COLLECTION.pk).eq(BY_COLLECTION.partition(collection_id)),
        BY_COLLECTION,
        limit,
        start,
        _status_filter(status),
        Image.from_item,
    )


def log_of_owner(
    owner_id: str, *, limit: int, start: Any = None, status: Status | None = None
) -> Page:
    return _page(
        conditions().Key(LOG.pk).eq(LOG.partition(owner_id)),
        LOG,
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
        conditions().Key(LOG_BY_DAY.pk).eq(LOG_BY_DAY.partition(day)),
        LOG_BY_DAY,
        limit,
        start,
        _status_filter(status),
        Upload.from_item,
        examine,
    )


def sweep_page(
    status: Status, *, before: str, since: str | None = None, limit: int, start: Any = None
) -> Page:
    """One page of the sweep index: items in `status` aged between `since` and `before`,
    oldest first. Items keep every attribute (the index projects them all)."""
    age = conditions().Key(SWEEP.sk)
    position = age.between(since, before) if since else age.lt(before)
    response = _query(
        conditions().Key(SWEEP.pk).eq(SWEEP.partition(status)) & position,
        index=SWEEP.name,
        limit=limit,
        start=start,
    )
    return Page(response["Items"], response.get("LastEvaluatedKey"), response["ScannedCount"])


def sweep_position(name: str) -> str:
    """Where a resumable pass of the cleanup (e.g. over the bucket) stopped; '' to start over."""
    item = get(table.sweep_position_key(name))
    return item["after"] if item else ""


def save_sweep_position(name: str, after: str) -> None:
    put({**table.sweep_position_key(name), "after": after})


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


def links_of_image(
    image_id: str, *, limit: int, start: Any, live_after: int, minted_by: str | None
) -> Page:
    """One page of an image's embed links, newest first: those still live after
    `live_after` (epoch s), and only those `minted_by` made if it is given. A filtered page
    examines at most FILTERED_EXAMINE_FACTOR times its limit, so it may end short (even
    empty) with a next key."""
    keys = conditions().Key
    attr = conditions().Attr
    condition = keys("pk").eq(table.image_partition(image_id)) & keys("sk").begins_with(
        table.EMBED_LINK_SORT_PREFIX
    )
    wanted = attr("expiresEpoch").gt(live_after)
    if minted_by is not None:
        wanted = wanted & attr("mintedBy").eq(minted_by)
    # Most links are live, so most pages take one query of `limit` items (sparing), and a
    # page of expired ones a few more.
    return _page(condition, None, limit, start, wanted, lambda item: item, sparing=True)


_LINK_ROW = re.compile(
    rf"IMG#(?P<id>{_ID})\n{table.EMBED_LINK_SORT_PREFIX}{_DAY}{_CLOCK}#lnk_[A-Za-z0-9_-]{{1,40}}"
)


def is_link_start_key(image_id: str, key: dict[str, Any]) -> bool:
    """Whether `key` is a start key links_of_image gives out for this image."""
    if set(key) != {"pk", "sk"} or not all(isinstance(value, str) for value in key.values()):
        return False
    match = _LINK_ROW.fullmatch(f"{key['pk']}\n{key['sk']}")
    return match is not None and match.group("id") == image_id
