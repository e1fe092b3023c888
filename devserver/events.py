"""Delivers S3 ObjectCreated notifications to the app's on_s3_event handler.

Locally the bucket notifies an SQS queue; this pump long-polls it and calls the handler with
the event Lambda would receive (one record per invocation, as S3 -> Lambda delivers), skips
S3's test event, and deletes a message only after the handler returned. A handler that
raises leaves the message to come back, as Lambda's retry would.

CRASH_EVENTS (a regex of upload keys) injects the fault Lambda's memory and time limits
cause: the first delivery of a matching key runs the handler in a child process that is
killed (SIGKILL) the moment it reads the object from S3, after its claim. Nothing is
released or recorded; the message comes back as a failed invocation's retry would, and the
cleanup may re-drive it first.
"""

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("devserver.events")
ROOT = Path(__file__).resolve().parent.parent


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
        crash = os.environ.get("CRASH_EVENTS", "")
        self._crash = re.compile(crash) if crash else None
        self._crashed: set[str] = set()
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
                key = record["s3"]["object"]["key"]
                if self._drop and self._drop(record):
                    log.info("dropped S3 event on purpose: %s", key)
                    continue
                if self._crash and self._crash.search(key) and key not in self._crashed:
                    self._crashed.add(key)
                    _run_killed_mid_way({"Records": [record]})
                    continue
                self._handler({"Records": [record]}, self._context_factory())
                self.delivered += 1
        except Exception:
            log.exception("on_s3_event handler raised; the event will be delivered again")
            return
        self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])


def _run_killed_mid_way(event: dict) -> None:
    """Run the upload handler in a child process that dies as an OOM-killed Lambda does."""
    key = event["Records"][0]["s3"]["object"]["key"]
    log.warning("running the handler in a child to be killed mid-run: %s", key)
    child = subprocess.run(
        [sys.executable, "-m", "devserver.events", json.dumps(event)],
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    if child.returncode == -signal.SIGKILL:
        log.warning("the handler was killed mid-run on purpose (SIGKILL): %s", key)
        raise RuntimeError("the handler's process was killed")  # the event comes back
    if child.returncode != 0:
        raise RuntimeError(f"the handler's child process exited with {child.returncode}")


def _die_at_the_first_read(event: dict) -> None:
    """In the child: the app's S3 handler, killed by its own process when it first reads an
    object (by then it has claimed the upload), before anything can be released."""
    import botocore.client
    from chalice.local import LambdaContext

    from devserver import stack

    real_call = botocore.client.BaseClient._make_api_call

    def dying(client: Any, operation: str, params: dict) -> Any:
        if operation == "GetObject":
            os.kill(os.getpid(), signal.SIGKILL)
        return real_call(client, operation, params)

    botocore.client.BaseClient._make_api_call = dying
    import app

    context = LambdaContext(function_name="process", memory_size=2048, max_runtime_ms=120_000)
    stack._handler(app, "s3")(event, context)


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


class QueuePump:
    """Drains one SQS queue, handing each message to `deliver`; a message is deleted only
    after `deliver` returned, so one that raises comes back after its visibility timeout,
    as Lambda's SQS event source would retry it."""

    def __init__(self, sqs: Any, queue_url: str, deliver: Callable[[dict], None], name: str):
        self._sqs = sqs
        self._queue_url = queue_url
        self._deliver = deliver
        self._name = name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "QueuePump":
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
                    MaxNumberOfMessages=1,
                    WaitTimeSeconds=1,
                    VisibilityTimeout=10,
                    AttributeNames=["All"],
                )
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("receiving from %s failed", self._name)
                self._stop.wait(1)
                continue
            for message in response.get("Messages", []):
                try:
                    self._deliver(message)
                except Exception:
                    log.exception("%s: the handler raised; the message will come back", self._name)
                    continue
                self._sqs.delete_message(
                    QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


def sqs_event(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source gives a function for one message."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": os.environ.get("AWS_REGION", "us-east-1"),
            }
        ]
    }


class BusLog:
    """The local bus consumer: every event the bus routed to its queue, one JSON object a
    line in a file (tests read it), and a line on the console."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def __call__(self, message: dict[str, Any]) -> None:
        envelope = json.loads(message["Body"])
        with self._lock, self.path.open("a") as out:
            out.write(json.dumps(envelope, sort_keys=True) + "\n")
        log.info(
            "bus: %s %s", envelope.get("detail-type"), envelope.get("detail", {}).get("imageId")
        )


if __name__ == "__main__":
    _die_at_the_first_read(json.loads(sys.argv[1]))
