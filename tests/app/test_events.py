"""Events in-process (mock_aws): one event queued per terminal status, the verdict never
waits for or fails with the queue, and a delivery is signed, recorded and retried."""

import json

from chalicelib import (
    apikeys,
    aws,
    image_operations,
    processing,
    records,
    settings,
    webhooks,
)
from chalicelib.callers import Caller
from tests.app.test_processing import jpeg, new_upload

ADMIN = Caller(id="admin-sub", name="admin", groups=frozenset({"admins"}))


def queued() -> list[dict]:
    sqs = aws.client("sqs")
    url = settings.get().events_queue_url
    found = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return found
        for message in got:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_each_terminal_status_queues_one_event(resources):
    ready_id, key = new_upload(jpeg())
    processing.process(key)
    failed_id, bad = new_upload(b"not an image at all")
    processing.process(bad)
    image_operations.delete_image(records.get_image(ready_id))
    got = [message["event"] for message in queued()]
    assert [(e["imageId"], e["type"]) for e in got] == [
        (ready_id, "image.ready"),
        (failed_id, "image.failed"),
        (ready_id, "image.deleted"),
    ]
    assert set(got[0]["links"]) == {"thumbnail", "preview", "hd-rotated"}
    assert got[1]["failure"]["code"] == "not_an_image"


def test_an_unreachable_queue_never_fails_or_holds_up_the_verdict(resources, configure, caplog):
    configure(EVENTS_QUEUE_URL=settings.get().events_queue_url.rsplit("/", 1)[0] + "/no-such")
    image_id, key = new_upload(jpeg())
    assert processing.process(key) == "ready"
    assert records.get_image(image_id).status == "ready"
    assert '"event": "event_not_queued"' in caplog.text


def test_a_delivery_that_fails_is_recorded_and_queued_again_with_a_longer_delay(
    resources, configure, monkeypatch
):
    configure(WEBHOOK_HTTP_LOOPBACK="allow", WEBHOOK_RETRY_SECONDS="7")
    key = apikeys.issue(ADMIN, {"name": "receiver"})
    hook = webhooks.register(ADMIN, key["keyId"], {"url": "http://127.0.0.1:9/hook"})
    sent = []
    monkeypatch.setattr(webhooks.upstream, "exchange", lambda *args: sent.append(args) or 503)
    delays = []
    monkeypatch.setattr(
        webhooks.events,
        "enqueue",
        lambda message, delay_seconds=0: delays.append((message, delay_seconds)),
    )
    event = {"id": "evt_1", "type": "image.ready", "imageId": "img_1", "status": "ready"}
    webhooks.attempt({"webhookId": hook["webhookId"], "attempt": 2, "event": event})

    method, url, headers, body, _ = sent[0]
    assert (method, url) == ("POST", "http://127.0.0.1:9/hook")
    timestamp = int(headers[webhooks.SIGNATURE_HEADER].split(",")[0][2:])
    assert headers[webhooks.SIGNATURE_HEADER] == webhooks.sign(hook["secret"], timestamp, body)
    ((again, delay),) = delays
    assert again["delivery"]["attempt"] == 3 and delay == 14
    (tried,) = webhooks.attempts(key["keyId"], hook["webhookId"])
    assert (tried["attempt"], tried["status"], tried["delivered"]) == (2, 503, False)


def test_the_last_attempt_is_not_queued_again_and_a_revoked_keys_webhook_gets_nothing(
    resources, configure, monkeypatch
):
    configure(WEBHOOK_HTTP_LOOPBACK="allow", WEBHOOK_MAX_ATTEMPTS="3")
    key = apikeys.issue(ADMIN, {"name": "receiver"})
    hook = webhooks.register(ADMIN, key["keyId"], {"url": "http://127.0.0.1:9/hook"})
    sent, delays = [], []
    monkeypatch.setattr(webhooks.upstream, "exchange", lambda *args: sent.append(args) or 500)
    monkeypatch.setattr(webhooks.events, "enqueue", lambda *args, **kw: delays.append(args))
    event = {"id": "evt_2", "type": "image.failed", "imageId": "img_2", "status": "failed"}
    webhooks.attempt({"webhookId": hook["webhookId"], "attempt": 3, "event": event})
    assert len(sent) == 1 and delays == []
    apikeys.revoke(key["keyId"])
    webhooks.fan_out(event)
    webhooks.attempt({"webhookId": hook["webhookId"], "attempt": 1, "event": event})
    assert len(sent) == 1 and delays == []
