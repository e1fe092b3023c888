"""The near-duplicate index: which images of an owner, or of a collection, look alike.

Each processed image has one small item a band of its fingerprint and a scope (its owner,
and its collection if it has one), under the image's own partition, so that a purge of the
image removes them with it:

  band   pk IMG#{id}  sk DUP#{scope}#{n}   likeness (gsi): DUP#{scope}#{band}, {indexedAt}#{id}

Finding the duplicates of a new image is one query a band and scope (multi-index hashing,
see chalicelib fingerprint): every image within MAX_DISTANCE bits shares at least one band
with it. Each query reads at most PER_BAND items, so one upload examines at most
BANDS x scopes x PER_BAND items, however large the library. Candidates are then checked
against their records (still there, still ready, still in the scope, still that picture).
"""

from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key

from chalicelib import aws, records, table
from chalicelib.images import Status
from chalicelib.imaging import fingerprint

# Unrelated images share an 11-bit band about once in 2048, so a full page means a library
# of hundreds of thousands of images, or many copies of one picture: the newest are read.
PER_BAND = 25
MAX_LISTED = 10  # duplicateOf names at most this many, nearest first


@dataclass(frozen=True)
class Scope:
    """Where duplicates are looked for: an owner's images or a collection's."""

    kind: str  # OWNER or COLL
    id: str

    @property
    def name(self) -> str:
        return f"{self.kind}#{self.id}"


@dataclass(frozen=True)
class Found:
    ids: list[str]  # nearest first
    examined: int  # index items read by the queries (their ScannedCount)
    queries: int


def scopes(owner_id: str, collection_id: str | None) -> list[Scope]:
    owner = [Scope("OWNER", owner_id)]
    return [*owner, Scope("COLL", collection_id)] if collection_id else owner


def _band_item(
    image_id: str, scope: Scope, number: int, band: str, value: int, at: str
) -> dict[str, Any]:
    return {
        **table.band_key(image_id, scope.kind, number),
        **table.LIKENESS.attributes(f"{scope.name}#{band}", f"{at}#{image_id}"),
        "imageId": image_id,
        "fingerprint": fingerprint.to_hex(value),
    }


def index(image_id: str, value: int, owner_id: str, collection_id: str | None, at: str) -> None:
    """Write (or overwrite) the image's band items for its owner and collection; an image
    taken out of its collection loses that scope's items."""
    with aws.table().batch_writer() as batch:
        for scope in scopes(owner_id, collection_id):
            for number, band in enumerate(fingerprint.bands(value)):
                batch.put_item(Item=_band_item(image_id, scope, number, band, value, at))
        if collection_id is None:
            for number in range(fingerprint.BANDS):
                batch.delete_item(Key=table.band_key(image_id, "COLL", number))


def candidates(
    image_id: str, value: int, scope_list: list[Scope]
) -> tuple[dict[str, int], int, int]:
    """The images (other than `image_id`) whose indexed fingerprint lies within
    MAX_DISTANCE, with their distances; and how many items and queries that took."""
    dynamodb = aws.table()
    near: dict[str, int] = {}
    examined = queries = 0
    for scope in scope_list:
        for band in fingerprint.bands(value):
            response = dynamodb.query(
                IndexName=table.LIKENESS.name,
                KeyConditionExpression=Key(table.LIKENESS.pk).eq(
                    table.LIKENESS.partition(f"{scope.name}#{band}")
                ),
                Limit=PER_BAND,
                ScanIndexForward=False,
                ProjectionExpression="imageId, fingerprint",
            )
            queries += 1
            examined += response["ScannedCount"]
            for item in response["Items"]:
                other = item["imageId"]
                distance = fingerprint.distance(value, fingerprint.from_hex(item["fingerprint"]))
                if other != image_id and distance <= fingerprint.MAX_DISTANCE:
                    near[other] = min(distance, near.get(other, distance))
    return near, examined, queries


def find(image_id: str, value: int, owner_id: str, collection_id: str | None) -> Found:
    """The owner's and the collection's images that look like this one, nearest first: the
    index's candidates, each confirmed by its record (still ready, still in the scope,
    still that picture: a replaced or deleted image's bands may not be gone yet)."""
    scope_list = scopes(owner_id, collection_id)
    near, examined, queries = candidates(image_id, value, scope_list)
    if not near:
        return Found([], examined, queries)
    found, _ = records.images_and_upload_ids(set(near), set())
    confirmed = [
        other
        for other, image in found.items()
        if image.status == Status.READY
        and image.content is not None
        and image.content.knowledge is not None
        and image.content.knowledge.fingerprint == _indexed(value, near[other], image)
        and (image.ownerId == owner_id or (collection_id and image.collectionId == collection_id))
    ]
    confirmed.sort(key=lambda other: (near[other], other))
    return Found(confirmed[:MAX_LISTED], examined, queries)


def _indexed(value: int, distance: int, image: Any) -> str | None:
    """The record's fingerprint if it is within the distance the index saw, else None."""
    recorded = image.content.knowledge.fingerprint
    within = fingerprint.distance(value, fingerprint.from_hex(recorded)) == distance
    return recorded if within else None
