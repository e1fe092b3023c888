"""Webhooks: an admin registers URLs for an API key (an external system), and every event
(chalicelib.events) is POSTed to each of them, signed, at least once, each attempt recorded.

  webhook  pk WEBHOOK#{id}  sk WEBHOOK        byOwner (gsi1): WEBHOOKS, {createdAt}#{id}
  attempt  pk WEBHOOK#{id}  sk ATTEMPT#{at}#{eventId}#{n}   until `ttl` (30 days)
A delivery is a queued message; an attempt that gets no 2xx queues the next one with a delay
that doubles (WEBHOOK_RETRY_SECONDS, then twice that, ...) up to WEBHOOK_MAX_ATTEMPTS. A
receiver may so see an event more than once: X-Image-Service-Event-Id tells them apart.

The signature header reads `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`;
a receiver recomputes it over the raw body and rejects a stale `t` (docs/api.md has the
reference code). The signing secret must be kept to sign, so it is stored as is (unlike an
API key's), shown to the admin once.
"""

import hashlib
import hmac
import json
import secrets
import time
import urllib.parse
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import apikeys, aws, events, records, settings, table, upstream, validation
from chalicelib.callers import Caller
from chalicelib.errors import Invalid, NotFound
from chalicelib.ids import new_id
from chalicelib.images import now_iso
from chalicelib.logs import log_event

SIGNATURE_HEADER = "X-Image-Service-Signature"
EVENT_HEADER = "X-Image-Service-Event-Id"
MAX_WEBHOOKS = 100
ATTEMPTS_KEPT_SECONDS = 30 * 24 * 3600


def _key(webhook_id: str) -> dict[str, str]:
    return {"pk": f"WEBHOOK#{webhook_id}", "sk": "WEBHOOK"}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for one delivery."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def _checked_url(body: dict[str, Any]) -> str:
    url = validation.text(body, "url", max_length=2000, min_length=1, required=True) or ""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname or parts.username or parts.password or parts.fragment:
        raise Invalid("url must be an https URL without credentials or fragment")
    loopback_http = (
        parts.scheme == "http"
        and settings.get().webhook_http_loopback
        and settings.is_loopback(parts.hostname)
    )
    if parts.scheme != "https" and not loopback_http:
        raise Invalid("url must be https")
    return url


def register(caller: Caller, key_id: str, body: dict[str, Any]) -> dict[str, Any]:
    validation.only_fields(body, {"url"})
    url = _checked_url(body)
    if not apikeys.is_active(key_id):
        raise NotFound("no such active API key")
    webhook_id, now = new_id("whk"), now_iso()
    item = {
        **_key(webhook_id),
        "webhookId": webhook_id,
        "keyId": key_id,
        "url": url,
        "secret": f"whsec_{secrets.token_urlsafe(32)}",
        "createdAt": now,
        "createdBy": caller.id,
        "gsi1pk": "WEBHOOKS",
        "gsi1sk": f"{now}#{webhook_id}",
    }
    aws.table().put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
    return {**_public(item), "secret": item["secret"]}


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "webhookId": item["webhookId"],
        "keyId": item["keyId"],
        "url": item["url"],
        "createdAt": item["createdAt"],
    }


def _all() -> list[dict[str, Any]]:
    return aws.table().query(
        IndexName=table.BY_OWNER.name,
        KeyConditionExpression=records.conditions().Key("gsi1pk").eq("WEBHOOKS"),
        ScanIndexForward=False,
        Limit=MAX_WEBHOOKS,
    )["Items"]


def of_key(key_id: str) -> list[dict[str, Any]]:
    return [_public(item) for item in _all() if item["keyId"] == key_id]


def _of_key(key_id: str, webhook_id: str) -> dict[str, Any]:
    item = aws.table().get_item(Key=_key(webhook_id)).get("Item") if webhook_id else None
    if item is None or item["keyId"] != key_id:
        raise NotFound("no such webhook of this API key")
    return item


def remove(key_id: str, webhook_id: str) -> None:
    _of_key(key_id, webhook_id)
    try:
        aws.table().delete_item(Key=_key(webhook_id), ConditionExpression="attribute_exists(pk)")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise NotFound("no such webhook of this API key") from None
        raise


def attempts(key_id: str, webhook_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """The webhook's delivery attempts, newest first."""
    _of_key(key_id, webhook_id)
    items = aws.table().query(
        KeyConditionExpression=records.conditions().Key("pk").eq(f"WEBHOOK#{webhook_id}")
        & records.conditions().Key("sk").begins_with("ATTEMPT#"),
        ScanIndexForward=False,
        Limit=limit,
    )["Items"]
    return [
        {
            "eventId": item["eventId"],
            "eventType": item["eventType"],
            "attempt": int(item["attempt"]),
            "at": item["at"],
            "status": int(item["status"]) if item.get("status") is not None else None,
            "error": item.get("error"),
            "delivered": bool(item["delivered"]),
            "durationMs": int(item["durationMs"]),
        }
        for item in items
    ]


# -- delivery (deliver_events) ------------------------------------------------------------


def handle(message: dict[str, Any]) -> None:
    """One message of the events queue: an event to fan out, or one delivery to attempt."""
    if "event" in message:
        fan_out(message["event"])
    elif "delivery" in message:
        attempt(message["delivery"])
    else:
        log_event("event_message_ignored", keys=sorted(message))


def fan_out(event: dict[str, Any]) -> None:
    """Put the event on the bus, then queue one delivery per webhook of an active key."""
    events.put_on_bus(event)
    hooks = _all()
    active = apikeys.active_ids({hook["keyId"] for hook in hooks})
    for hook in hooks:
        if hook["keyId"] in active:
            events.enqueue(
                {"delivery": {"webhookId": hook["webhookId"], "attempt": 1, "event": event}}
            )


def attempt(delivery: dict[str, Any]) -> None:
    """POST the event to one webhook, record the attempt, and queue the next on failure."""
    config = settings.get()
    event, number = delivery["event"], int(delivery["attempt"])
    hook = aws.table().get_item(Key=_key(delivery["webhookId"])).get("Item")
    if hook is None or not apikeys.is_active(hook["keyId"]):
        log_event("webhook_dropped", webhookId=delivery["webhookId"], eventId=event["id"])
        return
    body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "image-service-webhooks/1",
        EVENT_HEADER: event["id"],
        SIGNATURE_HEADER: sign(hook["secret"], int(time.time()), body),
    }
    started = time.monotonic()
    status, error = None, None
    try:
        status = upstream.exchange(
            "POST", hook["url"], headers, body, config.webhook_timeout_seconds
        )
    except upstream.NoAnswer as failed:
        error = str(failed)
    delivered = status is not None and 200 <= status < 300
    if status is not None and not delivered:
        error = f"answered {status}"
    at = now_iso()
    aws.table().put_item(
        Item={
            "pk": f"WEBHOOK#{hook['webhookId']}",
            "sk": f"ATTEMPT#{at}#{event['id']}#{number:02d}",
            "eventId": event["id"],
            "eventType": event["type"],
            "attempt": number,
            "at": at,
            "status": status,
            "error": error,
            "delivered": delivered,
            "durationMs": int((time.monotonic() - started) * 1000),
            "ttl": int(time.time()) + ATTEMPTS_KEPT_SECONDS,
        }
    )
    log_event(
        "webhook_attempt",
        webhookId=hook["webhookId"],
        eventId=event["id"],
        attempt=number,
        status=status,
        delivered=delivered,
    )
    if delivered or number >= config.webhook_max_attempts:
        return
    delay = config.webhook_retry_seconds * 2 ** (number - 1)
    events.enqueue({"delivery": {**delivery, "attempt": number + 1}}, delay_seconds=delay)
