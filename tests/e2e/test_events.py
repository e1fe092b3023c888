"""Events when processing ends, over HTTP against the local stack: every terminal status
(ready, failed, deleted) reaches the EventBridge bus (its local consumer) and a webhook
receiver on 127.0.0.1 once, signed; a receiver that is down gets it on a retry when it comes
back; and the reference verification code of docs/api.md rejects a tampered or replayed
delivery."""

import http.server
import io
import json
import socket
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.support.localstack import upload, wait_until_done

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SIGNATURE = "X-Image-Service-Signature"


def reference_verifier():
    """verify_delivery exactly as docs/api.md prints it."""
    text = (ROOT / "docs" / "api.md").read_text()
    block = text.split("<!-- webhook-verification -->", 1)[1]
    code = block.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "docs/api.md", "exec"), namespace)  # noqa: S102 (the documented code)
    return namespace["verify_delivery"]


class Receiver:
    """A webhook receiver on 127.0.0.1: keeps every delivery (headers and raw body)."""

    def __init__(self, port: int = 0):
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        received = self.deliveries

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def events(self) -> list[tuple[dict, dict[str, str], bytes]]:
        return [(json.loads(body), headers, body) for headers, body in self.deliveries]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(check, timeout: float = 45, what: str = "the events"):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not arrive within {timeout} s")
        time.sleep(0.3)


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (200, 40, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def api_key(stack):
    key = stack.call("POST", "/admin/api-keys", "admin", json={"name": "events"}).json()
    yield key
    stack.call("DELETE", f"/admin/api-keys/{key['keyId']}", "admin")


def register(stack, key: dict, url: str) -> dict:
    made = stack.call(
        "POST", f"/admin/api-keys/{key['keyId']}/webhooks", "admin", json={"url": url}
    )
    assert made.status_code == 201, made.text
    return made.json()


def deliveries(stack, key: dict, hook: dict) -> list[dict]:
    path = f"/admin/api-keys/{key['keyId']}/webhooks/{hook['webhookId']}/deliveries"
    answer = stack.call("GET", path, "admin")
    assert answer.status_code == 200, answer.text
    return answer.json()["deliveries"]


def bus_events(stack) -> list[dict]:
    path = Path(stack.state["busLog"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_every_terminal_status_reaches_the_bus_and_a_webhook_once_signed(stack, api_key):
    verify = reference_verifier()
    receiver = Receiver()
    hook = register(stack, api_key, receiver.url)
    try:
        collection = stack.call("POST", "/collections", "demo", json={"name": "events"}).json()
        ready = wait_until_done(
            stack, "demo", upload(stack, "demo", jpeg(), collectionId=collection["id"])["id"]
        )
        failed = wait_until_done(stack, "demo", upload(stack, "demo", b"not an image")["id"])
        assert (ready["status"], failed["status"]) == ("ready", "failed")
        assert stack.call("DELETE", f"/images/{ready['id']}", "demo").status_code == 204
        wanted = {(ready["id"], "ready"), (failed["id"], "failed"), (ready["id"], "deleted")}

        def ours():
            return [e for e in receiver.events() if _subject(e[0]) in wanted]

        wait_for(lambda: {_subject(event) for event, _, _ in ours()} == wanted)
        time.sleep(2.5)  # a duplicate (a retry of a delivery taken as failed) would come now
        got = ours()
        assert len(got) == 3, [event for event, _, _ in got]
        by_status = {event["status"]: (event, headers, body) for event, headers, body in got}
        for event, headers, body in got:
            assert headers["X-Image-Service-Event-Id"] == event["id"]
            assert verify(hook["secret"], headers[SIGNATURE], body)
            assert event["type"] == f"image.{event['status']}"

        event = by_status["ready"][0]
        assert event["collectionId"] == collection["id"] and event["failure"] is None
        assert set(event["links"]) == set(ready["variants"])
        fetched = stack.call(
            "GET", event["links"]["thumbnail"], headers={"X-Api-Key": api_key["secret"]}
        )
        assert fetched.status_code in (307, 404)  # 404: the image was deleted since
        assert by_status["failed"][0]["failure"]["code"] == failed["failure"]["code"]
        assert by_status["failed"][0]["links"] == {}
        assert by_status["deleted"][0]["links"] == {}

        # A tampered body, a replay after five minutes, another secret: all refused.
        _, headers, body = by_status["ready"]
        timestamp = int(headers[SIGNATURE].split(",")[0].removeprefix("t="))
        assert not verify(hook["secret"], headers[SIGNATURE], body.replace(b"ready", b"reddy"))
        assert not verify(hook["secret"], headers[SIGNATURE], body, now=timestamp + 301)
        assert not verify("whsec_someone-else", headers[SIGNATURE], body)
        assert not verify(hook["secret"], "t=1,v1=00", body)
        assert verify(hook["secret"], headers[SIGNATURE], body, now=timestamp + 299)

        def on_the_bus():
            found = [e for e in bus_events(stack) if _subject(e["detail"]) in wanted]
            return found if {_subject(e["detail"]) for e in found} == wanted else None

        on_bus = wait_for(on_the_bus, what="the bus's events")
        assert {e["detail"]["id"] for e in on_bus} == {e["id"] for e, _, _ in got}
        assert {e["detail-type"] for e in on_bus} == {
            "image.ready",
            "image.failed",
            "image.deleted",
        }
        assert {e["source"] for e in on_bus} == {"image-service"}

        attempts = [
            a for a in deliveries(stack, api_key, hook) if a["eventId"] in by_status_ids(got)
        ]
        assert len(attempts) == 3
        assert all(a["delivered"] and a["status"] == 204 and a["attempt"] == 1 for a in attempts)
    finally:
        stack.call(
            "DELETE", f"/admin/api-keys/{api_key['keyId']}/webhooks/{hook['webhookId']}", "admin"
        )
        receiver.stop()


def _subject(event: dict) -> tuple[str, str]:
    return event["imageId"], event["status"]


def by_status_ids(got) -> set[str]:
    return {event["id"] for event, _, _ in got}


def test_a_receiver_that_is_down_gets_the_event_on_a_retry_when_it_is_up(stack, api_key):
    port = free_port()  # nothing listens there yet: the first attempt is refused
    hook = register(stack, api_key, f"http://127.0.0.1:{port}/hook")
    receiver = None
    try:
        image = wait_until_done(stack, "demo", upload(stack, "demo", jpeg())["id"])
        assert image["status"] == "ready"

        def failed_attempt():
            return [a for a in deliveries(stack, api_key, hook) if not a["delivered"]]

        first = wait_for(failed_attempt, what="a failed attempt")[-1]
        assert first["status"] is None and first["error"]
        receiver = Receiver(port)
        arrived = wait_for(
            lambda: [e for e, _, _ in receiver.events() if e["imageId"] == image["id"]],
            what="the retried delivery",
        )
        assert [e["status"] for e in arrived] == ["ready"]
        event_id = arrived[0]["id"]
        tries = sorted(
            (a for a in deliveries(stack, api_key, hook) if a["eventId"] == event_id),
            key=lambda a: a["attempt"],
        )
        assert not tries[0]["delivered"] and tries[-1]["delivered"]
        assert [a["attempt"] for a in tries] == list(range(1, len(tries) + 1))
    finally:
        stack.call(
            "DELETE", f"/admin/api-keys/{api_key['keyId']}/webhooks/{hook['webhookId']}", "admin"
        )
        if receiver:
            receiver.stop()


def test_a_webhook_must_be_https_or_loopback_http_where_the_stage_allows_it(stack, api_key):
    path = f"/admin/api-keys/{api_key['keyId']}/webhooks"
    for url in ("http://example.com/hook", "ftp://127.0.0.1/x", "https://user:pw@example.com/"):
        assert stack.call("POST", path, "admin", json={"url": url}).status_code == 400, url
    revoked = stack.call("POST", "/admin/api-keys", "admin", json={"name": "gone"}).json()
    stack.call("DELETE", f"/admin/api-keys/{revoked['keyId']}", "admin")
    refused = stack.call(
        "POST",
        f"/admin/api-keys/{revoked['keyId']}/webhooks",
        "admin",
        json={"url": "https://example.com/hook"},
    )
    assert refused.status_code == 404
