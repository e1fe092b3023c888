"""Domain errors, and the one place they become HTTP errors."""

from chalice import (
    BadRequestError,
    ChaliceViewError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
)
from chalice.app import UnprocessableEntityError


class ServiceError(Exception):
    """Something the caller did or asked for that the service refuses."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Invalid(ServiceError):
    status = 400


class NotSignedIn(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class TooLarge(ServiceError):
    status = 413


class UnsupportedMediaType(ServiceError):
    status = 415


class Unprocessable(ServiceError):
    status = 422


class Unavailable(ServiceError):
    status = 503


class RequestEntityTooLargeError(ChaliceViewError):
    STATUS_CODE = 413


class UnsupportedMediaTypeError(ChaliceViewError):
    STATUS_CODE = 415


class ServiceUnavailableError(ChaliceViewError):
    STATUS_CODE = 503


_HTTP = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    413: RequestEntityTooLargeError,
    415: UnsupportedMediaTypeError,
    422: UnprocessableEntityError,
    503: ServiceUnavailableError,
}


def to_http(error: ServiceError) -> ChaliceViewError:
    """The Chalice error (and so the status and {"Code", "Message"} body) for a domain error."""
    return _HTTP[error.status](error.message)
