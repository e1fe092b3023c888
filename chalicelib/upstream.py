"""The upstream access check (ACCESS_CHECK_URL): one GET per question, with the caller's
token, answered within one deadline.

What makes it safe to hand the caller's token to it:
  - redirects are never followed (http.client does not), so the token goes only to the
    configured host and a 3xx is just another status, never a grant;
  - the id is one encoded path segment, and a dot segment ("." or "..") is refused, since a
    normalising upstream or proxy would read it as "this" or "the parent" path;
  - the whole check (connect, TLS, request, status line and headers) has one deadline: a
    socket timeout bounds each read only, so an upstream dripping a byte at a time would
    hold the request for as long as it liked.
Whether the URL may be plain http (loopback only) is checked once, in settings.
"""

import contextlib
import http.client
import socket
import threading
import urllib.parse

from chalicelib.errors import Invalid

DOT_SEGMENTS = frozenset({".", ".."})


class NoAnswer(Exception):
    """The upstream did not answer within the deadline, or could not be reached."""


def check_url(template: str, collection_id: str) -> str:
    """The URL asking about one collection: its id as one path segment, never a dot segment."""
    if collection_id in DOT_SEGMENTS:
        raise Invalid(f"{collection_id!r} is not a collection id")
    return template.replace("{collectionId}", urllib.parse.quote(collection_id, safe=""))


def status_of(url: str, authorization: str | None, deadline_seconds: float) -> int:
    """The status the upstream answers a GET of `url` with, within `deadline_seconds` in all."""
    headers = {"Authorization": authorization} if authorization else {}
    return exchange("GET", url, headers, None, deadline_seconds)


def exchange(
    method: str, url: str, headers: dict[str, str], body: bytes | None, deadline_seconds: float
) -> int:
    """The status a server answers one request with, within `deadline_seconds` in all, never
    following a redirect (webhook deliveries are sent this way too)."""
    parts = urllib.parse.urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname or "", parts.port, timeout=deadline_seconds)
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    answer: list[int] = []

    def ask() -> None:
        try:
            connection.request(method, target, body=body, headers=headers)
            answer.append(connection.getresponse().status)
        except (OSError, http.client.HTTPException):
            pass  # no status: the caller sees NoAnswer

    worker = threading.Thread(target=ask, name="access-check", daemon=True)
    worker.start()
    worker.join(deadline_seconds)
    _abort(connection)
    if not answer:
        raise NoAnswer(f"no answer within {deadline_seconds:g} s")
    return answer[0]


def _abort(connection: http.client.HTTPConnection) -> None:
    """Close the connection; a shutdown first wakes a worker still blocked reading it."""
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed by the other side
            sock.shutdown(socket.SHUT_RDWR)
    connection.close()
