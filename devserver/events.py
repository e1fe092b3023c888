"""Delivers S3 ObjectCreated notifications to the app's on_s3_event handler.

Locally the bucket notifies an SQS queue; this pump long-polls it and calls the handler with
the event Lambda would receive (one record per invocation, as S3 -> Lambda delivers), skips
S3's test event, and deletes a message only after the handler returned. A handler that
raises leaves the message to come back, as Lambda's retry would.
"""

import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("devserver.events")


class EventPump:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Callable[[dict, Any], Any],
        context_factory: Callable[[], Any],
        *,
        drop: Callable[[dict], bool] | None = None,
    ):
        self._sqs = sqs
        self._queue_url = queue_url
        self._handler = handler
        self._context_factory = context_factory
        self._drop = drop
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="s3-events", daemon=True)
        self.delivered = 0

    def start(self) -> "EventPump":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                response = self._sqs.receive_message(
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=1,
                    VisibilityTimeout=30,
                )
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("receiving S3 events failed")
                self._stop.wait(1)
                continue
            for message in response.get("Messages", []):
                self._deliver(message)

    def _deliver(self, message: dict[str, Any]) -> None:
        try:
            body = json.loads(message["Body"])
        except ValueError:
            body = {}
        records = body.get("Records") or []  # s3:TestEvent has no Records
        try:
            for record in records:
                if self._drop and self._drop(record):
                    log.info("dropped S3 event on purpose: %s", record["s3"]["object"]["key"])
                    continue
                self._handler({"Records": [record]}, self._context_factory())
                self.delivered += 1
        except Exception:
            log.exception("on_s3_event handler raised; the event will be delivered again")
            return
        self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])


class Timer:
    """Fires a scheduled handler every `interval` seconds, as EventBridge would."""

    def __init__(
        self,
        handler: Callable[[dict, Any], Any],
        interval: float,
        context_factory: Callable[[], Any],
    ):
        self._handler = handler
        self._interval = interval
        self._context_factory = context_factory
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="schedule", daemon=True)

    def start(self) -> "Timer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "000000000000",
                "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": os.environ.get("AWS_REGION", "us-east-1"),
                "resources": [],
                "detail": {},
            }
            try:
                self._handler(event, self._context_factory())
            except Exception:
                log.exception("scheduled handler raised")
