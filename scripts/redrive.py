"""Sends the S3 events that failed every try back to handle_upload (`make redrive STAGE=…`).

    python scripts/redrive.py --stage prod [--region eu-west-1] [--dry-run]
    python scripts/redrive.py --stage local        # against `make run` (.devserver/state.json)

Lambda puts an upload event that failed all its tries (or grew too old) into the stage's
failure queue, image-service-STAGE-upload-failures, as its on-failure destination record.
This reads each record, invokes handle_upload again asynchronously with the original event
(`requestPayload`), and deletes the record once Lambda accepted the invocation; a record
whose invocation is refused stays for the next run. Processing is idempotent: an upload that
is ready by now (the cleanup re-drives lost uploads too) is skipped by the pipeline.

The local stack has no Lambda service: there the event is sent back to the queue the local
S3 notifies, which is how events reach the handler locally (devserver/events.py).
"""

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from devserver import local_state  # noqa: E402

APP_NAME = "image-service"


def queue_name(stage: str) -> str:
    return f"{APP_NAME}-{stage}-upload-failures"


def keys_of(event: dict[str, Any]) -> list[str]:
    """The upload keys an S3 event names (URL-encoded in the event, as S3 sends them)."""
    return [unquote_plus(record["s3"]["object"]["key"]) for record in event.get("Records", [])]


def redrive(
    sqs: Any, failure_queue_url: str, send: Callable[[dict[str, Any]], None], *, dry_run: bool
) -> list[str]:
    """Every record in the failure queue, its event sent again (listed only, on a dry run).
    Returns the upload keys of those events."""
    sent: list[str] = []
    seen: set[str] = set()
    while True:
        messages = sqs.receive_message(
            QueueUrl=failure_queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=60,
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            return sent
        for message in fresh:
            seen.add(message["MessageId"])
            record = json.loads(message["Body"])
            event = record.get("requestPayload") or {}
            condition = record.get("requestContext", {}).get("condition", "?")
            for key in keys_of(event):
                print(f"redrive: {key} ({condition}): {'would send' if dry_run else 'sent'}")
            if not dry_run:
                send(event)
                sqs.delete_message(
                    QueueUrl=failure_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
            sent.extend(keys_of(event))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True, help="a deployed stage, or local for make run")
    parser.add_argument("--region", default=None, help="default: the AWS profile's region")
    parser.add_argument(
        "--state-file", type=Path, default=local_state.DEFAULT_FILE, help="(stage local)"
    )
    parser.add_argument("--dry-run", action="store_true", help="list, send nothing")
    args = parser.parse_args(argv)

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if args.stage == "local":
            state = local_state.read(args.state_file)
            sqs = local_state.client(state, "sqs")
            queue_url = state["failureQueueUrl"]

            def send(event: dict[str, Any]) -> None:
                sqs.send_message(QueueUrl=state["eventQueueUrl"], MessageBody=json.dumps(event))

        else:
            sqs = boto3.client("sqs", region_name=args.region)
            functions = boto3.client("lambda", region_name=args.region)
            queue_url = sqs.get_queue_url(QueueName=queue_name(args.stage))["QueueUrl"]
            function = f"{APP_NAME}-{args.stage}-handle_upload"

            def send(event: dict[str, Any]) -> None:
                functions.invoke(
                    FunctionName=function,
                    InvocationType="Event",
                    Payload=json.dumps(event).encode(),
                )

        sent = redrive(sqs, queue_url, send, dry_run=args.dry_run)
    except (BotoCoreError, ClientError, OSError, KeyError) as error:
        print(f"redrive: {error!r}", file=sys.stderr)
        return 1
    print(
        f"redrive: {'listed' if args.dry_run else 're-drove'} {len(sent)} event(s) of {queue_url}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
