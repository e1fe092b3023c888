"""Domain errors, and the one place they become HTTP errors."""

from chalice import Response


class ServiceError(Exception):
    """Something the caller did or asked for that the service refuses. `code` is the stable,
    machine-readable name clients branch on (docs/api.md lists them); a subclass gives the
    default for its status and a raise may name a more precise one."""

    status = 400
    code = "BadRequestError"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class Invalid(ServiceError):
    status = 400
    code = "BadRequestError"


class NotSignedIn(ServiceError):
    status = 401
    code = "UnauthorizedError"


class Forbidden(ServiceError):
    status = 403
    code = "ForbiddenError"


class NotFound(ServiceError):
    status = 404
    code = "NotFoundError"


class Conflict(ServiceError):
    status = 409
    code = "ConflictError"


class Gone(ServiceError):
    """Something that was valid and no longer is (a revoked or expired share link)."""

    status = 410
    code = "GoneError"


class PreconditionFailed(ServiceError):
    """An If-Match that names another version than the current one."""

    status = 412
    code = "PreconditionFailedError"


class TooLarge(ServiceError):
    status = 413
    code = "RequestEntityTooLargeError"


class UnsupportedMediaType(ServiceError):
    status = 415
    code = "UnsupportedMediaTypeError"


class Unprocessable(ServiceError):
    status = 422
    code = "UnprocessableEntityError"


class Unavailable(ServiceError):
    status = 503
    code = "ServiceUnavailableError"


def body(code: str, message: str) -> dict[str, str]:
    """The one error shape: Chalice's own {"Code", "Message"} (which its 405, 415 and 500 use
    too), so every error the app answers reads alike; the request id is added on the way out
    (chalicelib.web.conventions)."""
    return {"Code": code, "Message": message}


def to_http(error: ServiceError) -> Response:
    """The HTTP answer for a domain error."""
    return Response(body=body(error.code, error.message), status_code=error.status)
