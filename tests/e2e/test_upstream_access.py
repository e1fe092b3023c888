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

    def do_GET(self):
        journal = self.path.rsplit("/", 1)[-1]
        self.server.seen.append((journal, self.headers.get("Authorization")))
        if journal == "slow":
            time.sleep(3)
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
