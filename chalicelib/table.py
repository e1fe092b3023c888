"""The one DynamoDB table, described once: the key of every kind of item and every index.

  image       pk IMG#{id}               sk IMG
  upload      pk IMG#{id}               sk UP#{upload}
  band        pk IMG#{id}               sk DUP#{OWNER|COLL}#{n}  (a fingerprint band)
  embed link  pk IMG#{id}               sk LINK#{linkId}     (finds the link to revoke)
              pk IMG#{id}               sk LINKAT#{createdAt}#{linkId}  (lists, newest first)
  create      pk IDEM#{owner}#{key}     sk IDEM        (an Idempotency-Key, until `ttl`)
  collection  pk COLL#{id}              sk META
  member      pk COLL#{id}              sk MEMBER#{userId}
  API key     pk APIKEY#{keyId}         sk APIKEY
  position    pk SWEEP                  sk {pass}      (where a cleanup pass stopped)

An index is declared with its attributes and the prefix of its partitions; the items that
belong to it carry `Index.attributes(...)`. byOwner holds three kinds of partition (an
owner's images, a member's collections, the API keys): each is its own `Index` value over
the same attributes. A new index (or partition kind) is one more line here and, for an
index, in infra/template.yaml (tests/deploy/test_parity.py checks the stack agrees).
"""

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError


@dataclass(frozen=True)
class Index:
    name: str  # the global secondary index
    pk: str  # its partition key attribute
    sk: str  # its sort key attribute
    prefix: str  # what its partitions of this kind start with

    def partition(self, value: str = "") -> str:
        return f"{self.prefix}{value}"

    def attributes(self, partition: str, sort: str) -> dict[str, str]:
        """What an item carries to appear in this index, in `partition`, ordered by `sort`."""
        return {self.pk: self.partition(partition), self.sk: sort}

    @property
    def start_key_names(self) -> tuple[str, ...]:
        """The attributes of a start key (LastEvaluatedKey) a query of it gives out."""
        return ("pk", "sk", self.pk, self.sk)


# An owner's images, newest first: {createdAt}#{imageId}.
BY_OWNER = Index("byOwner", "gsi1pk", "gsi1sk", "OWNER#")
# A member's collections, newest membership first: {addedAt}#{collectionId}.
MEMBER_OF = Index("byOwner", "gsi1pk", "gsi1sk", "MEMBEROF#")
# Every API key, newest first: {createdAt}#{keyId}.
API_KEYS = Index("byOwner", "gsi1pk", "gsi1sk", "APIKEYS")
# A collection's images: {createdAt}#{imageId}.
BY_COLLECTION = Index("byCollection", "gsi2pk", "gsi2sk", "COLL#")
# An owner's uploads (the processing log): {createdAt}#{uploadId}.
LOG = Index("log", "gsi3pk", "gsi3sk", "LOG#")
# One day's uploads: {createdAt}#{uploadId}.
LOG_BY_DAY = Index("logByDay", "gsi4pk", "gsi4sk", "DAY#")
# Sparse: unfinished uploads and deleted tombstones by status and age.
SWEEP = Index("sweep", "sweepPk", "sweepSk", "SWEEP#")

# Near-duplicates, one partition a fingerprint band and scope (chalicelib.duplicates),
# newest first: {indexedAt}#{imageId}.
LIKENESS = Index("likeness", "likePk", "likeSk", "DUP#")

INDEXES = (BY_OWNER, BY_COLLECTION, LOG, LOG_BY_DAY, SWEEP, LIKENESS)


def image_key(image_id: str) -> dict[str, str]:
    return {"pk": f"IMG#{image_id}", "sk": "IMG"}


def upload_key(image_id: str, upload_id: str) -> dict[str, str]:
    return {"pk": f"IMG#{image_id}", "sk": f"UP#{upload_id}"}


def image_partition(image_id: str) -> str:
    """The partition of an image and all its uploads."""
    return f"IMG#{image_id}"


UPLOAD_SORT_PREFIX = "UP#"


def band_key(image_id: str, scope_kind: str, number: int) -> dict[str, str]:
    return {"pk": image_partition(image_id), "sk": f"DUP#{scope_kind}#{number}"}


def embed_link_key(image_id: str, link_id: str) -> dict[str, str]:
    return {"pk": image_partition(image_id), "sk": f"LINK#{link_id}"}


EMBED_LINK_SORT_PREFIX = "LINKAT#"


def embed_link_row_key(image_id: str, created_at: str, link_id: str) -> dict[str, str]:
    """The row an image's embed links are listed by, ordered by when each was minted."""
    return {
        "pk": image_partition(image_id),
        "sk": f"{EMBED_LINK_SORT_PREFIX}{created_at}#{link_id}",
    }


def idempotency_key(owner_id: str, key: str) -> dict[str, str]:
    return {"pk": f"IDEM#{owner_id}#{key}", "sk": "IDEM"}


def collection_partition(collection_id: str) -> str:
    return f"COLL#{collection_id}"


def collection_key(collection_id: str) -> dict[str, str]:
    return {"pk": collection_partition(collection_id), "sk": "META"}


MEMBER_SORT_PREFIX = "MEMBER#"


def member_key(collection_id: str, user_id: str) -> dict[str, str]:
    return {"pk": collection_partition(collection_id), "sk": f"{MEMBER_SORT_PREFIX}{user_id}"}


def api_key_key(key_id: str) -> dict[str, str]:
    return {"pk": f"APIKEY#{key_id}", "sk": "APIKEY"}


def sweep_position_key(name: str) -> dict[str, str]:
    return {"pk": "SWEEP", "sk": name}


# The error codes of a conditional write that lost: the item was not as the condition said.
_LOST = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})


def lost(error: ClientError) -> bool:
    """Whether a failed write failed only because its condition did not hold."""
    code: Any = error.response.get("Error", {}).get("Code")
    return code in _LOST
