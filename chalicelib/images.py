"""The image record, its uploads (the processing log) and their statuses (chalicelib.lifecycle
says which may follow which).

An image is what a user sees: a title, a filename and the content currently served. Each
upload of content for it (the first one and every replacement) is an Upload, one row of the
processing log. The image's `status` mirrors its latest upload, while `content` stays the
last version that was processed successfully, so a replacement in flight or a failed one
never takes the served version away.
"""

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    AWAITING_UPLOAD = "awaiting_upload"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"
    EXPIRED = "expired"
    DELETED = "deleted"


UNFINISHED = frozenset({Status.AWAITING_UPLOAD, Status.PROCESSING})


def now_iso() -> str:
    """Now as ISO 8601 UTC with milliseconds, e.g. 2026-11-22T13:55:26.123Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Failure:
    code: str
    message: str


@dataclass
class Variant:
    key: str
    width: int
    height: int
    bytes: int
    format: str


@dataclass(frozen=True)
class Focus:
    """Where the subject is, as fractions of the width and height from the top left.
    Decimals, as DynamoDB stores numbers (it refuses floats)."""

    x: Decimal
    y: Decimal

    @classmethod
    def of(cls, x: float, y: float) -> "Focus":
        return cls(Decimal(f"{x:.3f}"), Decimal(f"{y:.3f}"))

    def point(self) -> tuple[float, float]:
        return float(self.x), float(self.y)


@dataclass(frozen=True)
class Knowledge:
    """What processing learnt of a version's picture (chalicelib.imaging.knowing)."""

    placeholder: str  # ThumbHash, base64
    average: str  # "#rrggbb"
    dominant: str
    fingerprint: str  # 64-bit dHash, hex
    focus: Focus  # the computed focal point, or the owner's
    # Images that looked the same when this version was processed, nearest first.
    duplicateOf: list[str] = field(default_factory=list)


@dataclass
class Content:
    """One successfully processed version: the original and its variants."""

    uploadId: str
    key: str
    bytes: int
    width: int
    height: int
    format: str
    sha256: str
    frames: int
    variants: dict[str, Variant]
    # The ETag of the original that was validated: an object posted again to the same
    # upload URL has another one. None on records written before it was kept.
    etag: str | None = None
    # The original without where it was taken and other personal metadata: what everyone
    # but the owner downloads (chalicelib.metadata). None on records written before it.
    shared: Variant | None = None
    # Placeholder, colours, fingerprint, focus, duplicates. None on records written before.
    knowledge: Knowledge | None = None

    def stored_keys(self) -> list[str]:
        """Every object of this version: the original, its variants, its shared copy."""
        keys = [self.key, *(variant.key for variant in self.variants.values())]
        return [*keys, self.shared.key] if self.shared else keys


@dataclass
class Image:
    id: str
    ownerId: str
    ownerName: str
    filename: str
    declaredType: str
    status: Status
    uploadId: str
    createdAt: str
    updatedAt: str
    version: int = 1
    title: str = ""
    description: str = ""
    collectionId: str | None = None
    failure: Failure | None = None
    uploadedAt: str | None = None
    processedAt: str | None = None
    content: Content | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "Image":
        fields: dict[str, Any] = {n: item.get(n) for n in cls.__dataclass_fields__ if n in item}
        fields["status"] = Status(item["status"])
        fields["version"] = int(item["version"])
        if item.get("failure"):
            fields["failure"] = Failure(**item["failure"])
        if item.get("content"):
            fields["content"] = _content_from_item(item["content"])
        return cls(**fields)

    def public(self) -> dict[str, Any]:
        """The record as the API shows it."""
        shown: dict[str, Any] = {
            "id": self.id,
            "ownerId": self.ownerId,
            "ownerName": self.ownerName,
            "collectionId": self.collectionId,
            "filename": self.filename,
            "title": self.title,
            "description": self.description,
            "declaredType": self.declaredType,
            "status": str(self.status),
            "failure": asdict(self.failure) if self.failure else None,
            "createdAt": self.createdAt,
            "updatedAt": self.updatedAt,
            "uploadedAt": self.uploadedAt,
            "processedAt": self.processedAt,
            "version": self.version,
        }
        content = self.content
        if content:
            shown.update(
                bytes=content.bytes,
                width=content.width,
                height=content.height,
                format=content.format,
                sha256=content.sha256,
                frames=content.frames,
                variants={
                    name: {
                        "width": v.width,
                        "height": v.height,
                        "bytes": v.bytes,
                        "format": v.format,
                    }
                    for name, v in content.variants.items()
                },
            )
        known = content.knowledge if content else None
        if known:
            x, y = known.focus.point()
            shown.update(
                placeholder=known.placeholder,
                colors={"average": known.average, "dominant": known.dominant},
                fingerprint=known.fingerprint,
                focus={"x": x, "y": y},
                duplicateOf=list(known.duplicateOf),
            )
        return shown


def _variant_from_item(v: dict[str, Any]) -> Variant:
    return Variant(
        key=v["key"],
        width=int(v["width"]),
        height=int(v["height"]),
        bytes=int(v["bytes"]),
        format=v["format"],
    )


def _content_from_item(item: dict[str, Any]) -> Content:
    variants = {name: _variant_from_item(v) for name, v in item["variants"].items()}
    return Content(
        uploadId=item["uploadId"],
        key=item["key"],
        bytes=int(item["bytes"]),
        width=int(item["width"]),
        height=int(item["height"]),
        format=item["format"],
        sha256=item["sha256"],
        frames=int(item["frames"]),
        variants=variants,
        etag=item.get("etag"),
        shared=_variant_from_item(item["shared"]) if item.get("shared") else None,
        knowledge=_knowledge_from_item(item["knowledge"]) if item.get("knowledge") else None,
    )


def _knowledge_from_item(item: dict[str, Any]) -> Knowledge:
    return Knowledge(
        placeholder=item["placeholder"],
        average=item["average"],
        dominant=item["dominant"],
        fingerprint=item["fingerprint"],
        focus=Focus(Decimal(item["focus"]["x"]), Decimal(item["focus"]["y"])),
        duplicateOf=list(item.get("duplicateOf") or []),
    )


@dataclass
class Upload:
    """One row of the processing log: what happened to one upload of content."""

    imageId: str
    uploadId: str
    ownerId: str
    ownerName: str
    filename: str
    status: Status
    createdAt: str
    expiresAt: str
    key: str
    attempts: int = 0
    failure: Failure | None = None
    uploadedAt: str | None = None
    claimedAt: str | None = None
    # Until when the run that claimed it holds the claim; after it, the run is taken to
    # have died (killed for memory or time) and the next try takes over.
    leaseUntil: str | None = None
    processedAt: str | None = None
    durationMs: int | None = None
    replaces: str | None = None
    deletedAt: str | None = None
    # The content type its uploader declared. A replacement's filename and type reach the
    # image only when it is served, so the version served until then keeps its own.
    declaredType: str | None = None
    # Whether the replacement named a filename: if not, the image keeps its own, including
    # a rename made while the replacement was pending.
    renames: bool = False

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "Upload":
        fields: dict[str, Any] = {n: item.get(n) for n in cls.__dataclass_fields__ if n in item}
        fields["status"] = Status(item["status"])
        fields["attempts"] = int(item.get("attempts", 0))
        if item.get("durationMs") is not None:
            fields["durationMs"] = int(item["durationMs"])
        if item.get("failure"):
            fields["failure"] = Failure(**item["failure"])
        return cls(**fields)

    def public(self) -> dict[str, Any]:
        return {
            "imageId": self.imageId,
            "uploadId": self.uploadId,
            "filename": self.filename,
            "status": str(self.status),
            "failure": asdict(self.failure) if self.failure else None,
            "uploader": {"id": self.ownerId, "name": self.ownerName},
            "createdAt": self.createdAt,
            "uploadedAt": self.uploadedAt,
            "processedAt": self.processedAt,
            "durationMs": self.durationMs,
            "replaces": self.replaces,
            "deletedAt": self.deletedAt,
        }
