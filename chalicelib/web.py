"""The glue between Chalice views and chalicelib: who is calling, what they sent, and the
one place domain errors become HTTP errors."""

import functools
from collections.abc import Callable
from typing import Any

from chalice import Chalice, Response

from chalicelib import access, errors, validation
from chalicelib.access import Access


class View:
    """What a view gets: the caller and the request's parts, already checked."""

    def __init__(self, app: Chalice, *, api_key: bool = False):
        request = app.current_request
        self.request = request
        self.caller = (access.caller_from_api_key if api_key else access.caller_from_context)(
            request.context
        )
        self.params: dict[str, str] = dict(request.query_params or {})
        self.headers = request.headers
        self.access = Access(self.caller, self.headers.get("authorization"))

    def json(self) -> dict[str, Any]:
        return validation.json_object(self.request.raw_body)


def view(app: Chalice, *, api_key: bool = False) -> Callable:
    """Wrap a route function f(view, **path) so it gets a View and its errors map to HTTP."""

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(**path: str) -> Any:
            try:
                return function(View(app, api_key=api_key), **path)
            except errors.ServiceError as error:
                raise errors.to_http(error) from None

        return wrapper

    return decorate


def nosniff(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Every answer of the API says its Content-Type is the truth: no browser guesses an
    answer into HTML. (S3 sets its own headers; the presigned GETs force the type.)"""
    response = get_response(event)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def redirect(url: str, *, vary: str | None = None) -> Response:
    headers = {"Location": url, "Cache-Control": "private, max-age=60"}
    if vary:
        headers["Vary"] = vary
    return Response(body="", status_code=307, headers=headers)


def created(body: Any) -> Response:
    return Response(body=body, status_code=201)


def accepted(body: Any) -> Response:
    return Response(body=body, status_code=202)


def no_content() -> Response:
    return Response(body="", status_code=204)
