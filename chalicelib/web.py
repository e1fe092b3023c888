"""The glue between Chalice views and chalicelib: who is calling, what they sent, the one
place domain errors become HTTP errors, and the HTTP conventions every answer follows
(request ids, Location, ETag and conditional requests, Cache-Control)."""

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from chalice import Chalice, Response

from chalicelib import access, errors, validation
from chalicelib.access import Access
from chalicelib.callers import Caller

GUEST = Caller(id="guest", name="guest")

# What Chalice's Response takes as headers (a header may repeat as a list).
Headers = dict[str, str | list[str]]


class View:
    """What a view gets: the caller and the request's parts, already checked."""

    def __init__(self, app: Chalice, *, api_key: bool = False, guest: bool = False):
        request = app.current_request
        assert request is not None  # a view runs only inside a request
        self.request = request
        if guest:
            # A guest is no one: what it may do is the share link's (chalicelib.sharelinks).
            self.caller = GUEST
        else:
            self.caller = (access.caller_from_api_key if api_key else access.caller_from_context)(
                request.context
            )
        self.params: dict[str, str] = dict(request.query_params or {})
        self.headers = request.headers
        self.access = Access(self.caller, self.headers.get("authorization"))

    @property
    def share_token(self) -> str | None:
        return self.headers.get("x-share-token")

    def json(self) -> dict[str, Any]:
        return validation.json_object(self.request.raw_body)

    def url(self, path: str) -> str:
        """`path` (of the route table) as the caller reaches it: behind API Gateway's
        execute-api host that is under the stage (/api/images/...), on a custom domain not."""
        return base_path(self.request) + path

    def if_match(self) -> int | None:
        """The version an If-Match names (None without one, or for `*`); a tag that is not
        one of our ETags can match no version, so it is -1 and fails the precondition."""
        raw = self.headers.get("if-match")
        if raw is None or raw.strip() == "*":
            return None
        versions = [version for version in _tags(raw) if version is not None]
        return versions[0] if len(versions) == 1 else -1

    def holds(self, tag: str) -> bool:
        """If-None-Match names this ETag (weak comparison, as RFC 9110 says for GET)."""
        raw = self.headers.get("if-none-match")
        if raw is None:
            return False
        held = {part.strip().removeprefix("W/") for part in raw.split(",")}
        return "*" in held or tag.removeprefix("W/") in held

    def not_modified(self, version: int) -> bool:
        """If-None-Match names this version (weak comparison, as RFC 9110 says for GET)."""
        raw = self.headers.get("if-none-match")
        if raw is None:
            return False
        return raw.strip() == "*" or version in _tags(raw)


def view(app: Chalice, *, api_key: bool = False, guest: bool = False) -> Callable:
    """Wrap a route function f(view, **path) so it gets a View and its errors map to HTTP.
    A guest route has no authorizer: it reads a share link's token itself."""

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(**path: str) -> Any:
            try:
                return function(View(app, api_key=api_key, guest=guest), **path)
            except errors.ServiceError as error:
                return errors.to_http(error)

        return wrapper

    return decorate


def redirect(url: str, *, vary: str | None = None) -> Response:
    headers: Headers = {"Location": url, "Cache-Control": "private, max-age=60"}
    if vary:
        headers["Vary"] = vary
    return Response(body="", status_code=307, headers=headers)


# JSON that carries presigned links (upload forms, download URLs) is a credential for a few
# minutes: no shared cache may keep it, and no browser should store it.
PRIVATE: Headers = {"Cache-Control": "private, no-store"}


def created(body: Any, location: str, *, private: bool = False) -> Response:
    return Response(body=body, status_code=201, headers=_located(location, private))


def accepted(body: Any, location: str) -> Response:
    return Response(body=body, status_code=202, headers=_located(location, False))


def _located(location: str, private: bool) -> Headers:
    return {"Location": location, **(PRIVATE if private else {})}


def etag(version: int) -> str:
    """The ETag of a record at `version`: it names the record, not the bytes of one answer
    (whose presigned links differ at every request), so a 304 means "nothing changed"."""
    return f'"v{version}"'


_TAG = re.compile(r'^(?:W/)?"v(\d{1,12})"$')


def _tags(raw: str) -> list[int | None]:
    found = []
    for part in raw.split(","):
        match = _TAG.match(part.strip())
        found.append(int(match.group(1)) if match else None)
    return found


def versioned(version: int, render: Callable[[], Any], *, not_modified: bool) -> Response:
    """A record's answer with its ETag; 304 (no body) when the caller already has it."""
    headers: Headers = {"ETag": etag(version), **PRIVATE}
    if not_modified:
        return Response(body="", status_code=304, headers=headers)
    return Response(body=render(), status_code=200, headers=headers)


# JSON without links (listings, members, the upload log) may be kept by the browser, which
# asks again each time (no-cache) and gets a 304 while nothing changed. No Vary: the answer
# depends on the caller, and private keeps it out of every shared cache.
REVALIDATE = {"Cache-Control": "private, no-cache"}


def listing(v: View, body: Any) -> Response:
    """A JSON answer with an ETag of its content; 304 (no body) when the caller holds it."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    tag = f'W/"{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"'
    headers: dict[str, str | list[str]] = {"ETag": tag, **REVALIDATE}
    if v.holds(tag):
        return Response(body="", status_code=304, headers=headers)
    return Response(body=body, status_code=200, headers=headers)


def base_path(request: Any) -> str:
    """What comes before the route's path in the path the caller used (the stage, if any)."""
    context = request.context or {}
    used = str(context.get("path") or "")
    route = request.path
    for name, value in (request.uri_params or {}).items():
        route = route.replace("{" + name + "}", value)
    return used[: -len(route)] if route and used.endswith(route) else ""


def request_id(request: Any) -> str:
    """API Gateway's id of this request (the one in its own x-amzn-RequestId header and its
    logs); a fresh one where the gateway in front gives none."""
    context = (request.context or {}) if request is not None else {}
    return str(context.get("requestId") or uuid.uuid4())


def conventions(request: Any, get_response: Callable[[Any], Response]) -> Response:
    """HTTP middleware: every answer names its request id (X-Request-Id), and every error
    body too, whether the app, Chalice (405, 415, 500) or a view made it; and every answer
    says its Content-Type is the truth (nosniff), so no browser guesses one into HTML (S3
    sets its own headers; the presigned GETs force the type)."""
    rid = request_id(request)
    response = get_response(request)
    response.headers["X-Request-Id"] = rid
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body:
        response.body = {**body, "RequestId": rid}
    return response


def no_content() -> Response:
    return Response(body="", status_code=204)
