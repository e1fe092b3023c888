"""Events when processing ends: each `ready`, `failed` and `deleted` of an image is told to
whoever listens, without making the upload pipeline wait for them.

The pipeline (and a delete) only queues the event: one SQS SendMessage, and a failure to
send is logged, never raised. `deliver_events` (app.py) takes it from the queue, puts it on
the EventBridge bus and hands one delivery per webhook to chalicelib.webhooks; a failed
put is retried by the queue (the message comes back), so the bus gets each event at least
once.

An event:
  {"id": "evt_…", "type": "image.ready", "time": …, "imageId": …, "collectionId": …,
   "status": "ready", "failure": null | {"code", "message"},
   "links": {"thumbnail": "/external/images/{id}/content/thumbnail", …}}
The links are paths under the API's base URL, fetched with the receiver's API key (a
presigned link would expire before a retried delivery arrives).
"""

import json
from typing import Any

from chalicelib import aws, settings
from chalicelib.ids import new_id
from chalicelib.images import Image, Status, now_iso
from chalicelib.logs import log_event

TERMINAL = frozenset({Status.READY, Status.FAILED, Status.DELETED})
SOURCE = "image-service"


def of_image(image: Image) -> dict[str, Any]:
    """The event for an image that has just reached a terminal status."""
    content = image.content if image.status == Status.READY else None
    links = {
        name: f"/external/images/{image.id}/content/{name}"
        for name in (content.variants if content else {})
    }
    return {
        "id": new_id("evt"),
        "type": f"image.{image.status}",
        "time": now_iso(),
        "imageId": image.id,
        "collectionId": image.collectionId,
        "status": str(image.status),
        "failure": (
            {"code": image.failure.code, "message": image.failure.message}
            if image.failure and image.status == Status.FAILED
            else None
        ),
        "links": links,
    }


def enqueue(message: dict[str, Any], *, delay_seconds: int = 0) -> None:
    """Queue a message for deliver_events (raises if SQS refuses it)."""
    aws.client("sqs").send_message(
        QueueUrl=settings.get().events_queue_url,
        MessageBody=json.dumps(message),
        DelaySeconds=min(max(delay_seconds, 0), 900),
    )


def emit(image: Image) -> None:
    """Queue the event of a terminal status. Never raises: the verdict is already written,
    and telling listeners must not undo or delay it."""
    if image.status not in TERMINAL or not settings.get().events_queue_url:
        return
    event = of_image(image)
    try:
        enqueue({"event": event})
    except Exception as error:  # whatever went wrong, the verdict stands: log it
        log_event("event_not_queued", imageId=image.id, eventId=event["id"], error=repr(error))
        return
    log_event("event_queued", imageId=image.id, eventId=event["id"], type=event["type"])


def put_on_bus(event: dict[str, Any]) -> None:
    """Put one event on the service's EventBridge bus; raises if it is not taken (the queue
    brings the message back)."""
    bus = settings.get().event_bus
    if not bus:
        return
    answer = aws.client("events").put_events(
        Entries=[
            {
                "Source": SOURCE,
                "DetailType": event["type"],
                "Detail": json.dumps(event),
                "EventBusName": bus,
            }
        ]
    )
    if answer.get("FailedEntryCount"):
        raise RuntimeError(f"EventBridge refused event {event['id']}: {answer['Entries']}")
