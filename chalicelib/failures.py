"""The vocabulary of failure: every code a failed upload can carry, and the one exception
that carries a permanent verdict from where it is found to where it is recorded."""

from enum import StrEnum


class Code(StrEnum):
    """A failure's stable code, stored in the record and shown by the API."""

    # Verdicts on the bytes (imaging).
    EMPTY = "empty"
    NOT_AN_IMAGE = "not_an_image"
    UNSUPPORTED_FORMAT = "unsupported_format"
    TOO_MANY_PIXELS = "too_many_pixels"
    TOO_LARGE_TO_PROCESS = "too_large_to_process"
    CORRUPT = "corrupt"
    # Verdicts on the stored upload (processing).
    MISSING = "missing"
    TOO_LARGE = "too_large"
    PROCESSING_TIMEOUT = "processing_timeout"
    # The life cycle's own ends (cleanup).
    UPLOAD_EXPIRED = "upload_expired"
    SUPERSEDED = "superseded"


# What imaging may say about bytes; anything else from it is a bug, not a verdict.
IMAGE_VERDICTS = frozenset(
    {
        Code.EMPTY,
        Code.NOT_AN_IMAGE,
        Code.UNSUPPORTED_FORMAT,
        Code.TOO_MANY_PIXELS,
        Code.TOO_LARGE_TO_PROCESS,
        Code.CORRUPT,
    }
)


class Rejected(Exception):
    """A permanent, user-facing verdict: recorded as `failed` with this code and message."""

    def __init__(self, code: Code, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
