"""ACCESS_CHECK_URL: collection access decided by an upstream service (the way a journal API
knows who may see a journal), tested against a small HTTP server on 127.0.0.1."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support import localstack

pytestmark = pytest.mark.e2e

ANSWERS = {"allowed": 200, "denied": 403, "unknown": 404, "signed-out": 401, "broken": 500}


class Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, str | None]] = []


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _drip(self, answer: bytes):
        """A grant sent a byte every 0.1 s: each read is quick, the whole answer takes 4 s."""
        try:
            for byte in answer:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass  # the service gave up on us: what this test wants

    def do_GET(self):
        journal = self.path.rsplit("/", 1)[-1]
        self.server.seen.append((journal, self.headers.get("Authorization")))
        if journal == "slow":
            time.sleep(3)
        if journal == "moved":
            # Points the check (and the caller's token) somewhere that would grant it.
            self.send_response(302)
            self.send_header("Location", "/journals/allowed")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if journal == "drip":
            self._drip(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            return
        self.send_response(ANSWERS.get(journal, 200))
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture(scope="module")
def upstream():
    server = Upstream()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def guarded_stack(tmp_path_factory, upstream):
    port = upstream.server_address[1]
    running = localstack.start(
        tmp_path_factory.mktemp("upstream"),
        extra_env={
            "ACCESS_CHECK_URL": f"http://127.0.0.1:{port}/journals/{{collectionId}}",
            "ACCESS_CHECK_TIMEOUT_MS": "500",
        },
    )
    yield running
    running.stop()


def create_in(stack, journal: str):
    return stack.call(
        "POST",
        "/images",
        "demo",
        json={"filename": "j.jpg", "contentType": "image/jpeg", "collectionId": journal},
    )


@pytest.mark.parametrize(
    ("journal", "status"),
    [
        ("allowed", 201),
        ("denied", 403),
        ("unknown", 403),
        ("signed-out", 403),
        ("broken", 503),
        ("slow", 503),
    ],
)
def test_the_upstream_answer_decides_collection_access(guarded_stack, upstream, journal, status):
    upstream.seen.clear()
    response = create_in(guarded_stack, journal)
    assert response.status_code == status, response.text
    assert upstream.seen == [(journal, guarded_stack.token("demo"))]


def test_listing_a_collection_asks_upstream_once(guarded_stack, upstream):
    assert create_in(guarded_stack, "allowed").status_code == 201
    upstream.seen.clear()
    response = guarded_stack.call("GET", "/collections/allowed/images", "demo")
    assert response.status_code == 200
    assert len(response.json()["images"]) >= 1
    assert len(upstream.seen) == 1
    upstream.seen.clear()
    assert guarded_stack.call("GET", "/collections/denied/images", "demo").status_code == 403
    assert len(upstream.seen) == 1


def test_a_redirect_is_not_followed_and_is_not_a_grant(guarded_stack, upstream):
    upstream.seen.clear()
    response = create_in(guarded_stack, "moved")
    assert response.status_code == 503, response.text
    assert "302" in response.json()["Message"]
    # Nothing asked the place it pointed to, so the caller's token went nowhere else.
    assert upstream.seen == [("moved", guarded_stack.token("demo"))]


def test_an_upstream_answering_a_byte_at_a_time_is_cut_off_at_the_deadline(guarded_stack, upstream):
    # Every read arrives well within the 500 ms timeout; the whole grant takes seconds.
    upstream.seen.clear()
    response = create_in(guarded_stack, "drip")
    assert response.status_code == 503, response.text
    assert "did not answer" in response.json()["Message"]


@pytest.mark.parametrize("dots", [".", ".."])
def test_a_dot_segment_is_never_sent_upstream(guarded_stack, upstream, dots):
    upstream.seen.clear()
    response = create_in(guarded_stack, dots)
    assert response.status_code == 400, response.text
    assert upstream.seen == []
    listing = guarded_stack.call("GET", f"/collections/{dots.replace('.', '%2E')}/images", "demo")
    assert listing.status_code in (400, 404), listing.text
    assert upstream.seen == []
