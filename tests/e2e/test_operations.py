"""Operating a stage, end to end over HTTP against the local stack: an upload event whose
handler keeps failing lands in the failure queue (as Lambda's on-failure destination
delivers it) and `make redrive` brings it back; the log and metric lines of a real upload;
`make admin` makes a user who signs in at once and is asked for a password of their own."""

import json
import subprocess
import sys
import time
from urllib.parse import unquote_plus

import pytest

from tests.support import localstack, pictures

pytestmark = pytest.mark.e2e
ROOT = localstack.ROOT
EMAIL = "first-admin@example.com"
TRIES = 3  # the first try and the template's UploadRetryAttempts (2)


@pytest.fixture(scope="module")
def failing_stack(tmp_path_factory):
    """Every DynamoDB call of the upload handler fails (a throttled table) for the first
    three deliveries of each event; tries one second apart; no cleanup to rescue it."""
    running = localstack.start(
        tmp_path_factory.mktemp("failing"),
        extra_env={
            "FAIL_EVENTS": "^uploads/",
            "FAIL_EVENTS_TIMES": str(TRIES),
            "EVENT_RETRY_SECONDS": "1",
        },
        args=("--cleanup-interval", "3600"),
    )
    yield running
    running.stop()


def failure_records(stack, wait: float) -> list[dict]:
    sqs = stack.client("sqs")
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        found = sqs.receive_message(
            QueueUrl=stack.state["failureQueueUrl"], WaitTimeSeconds=1, VisibilityTimeout=0
        ).get("Messages", [])
        if found:
            return [json.loads(message["Body"]) for message in found]
    return []


def script(name: str, stack) -> list[str]:
    """A command of docs/operations.md, pointed at this stack instead of `make run`'s."""
    return [sys.executable, f"scripts/{name}", "--state-file", str(stack.state_file)]


def lines_of(stack, image_id: str) -> list[dict]:
    return [
        json.loads(line)
        for line in stack.output
        if line.startswith('{"') and image_id in line and '"level"' in line
    ]


def test_an_event_that_fails_every_try_lands_in_the_failure_queue_and_redrive_recovers_it(
    failing_stack,
):
    stack = failing_stack
    stack.create_user("olga")
    image = localstack.upload(stack, "olga", pictures.jpeg((640, 480)))

    (record,) = failure_records(stack, wait=30)
    (event,) = record["requestPayload"]["Records"]
    assert unquote_plus(event["s3"]["object"]["key"]).startswith(f"uploads/{image['id']}/")
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == TRIES
    assert record["responsePayload"]["errorType"] == "ClientError"
    assert "ProvisionedThroughputExceeded" in record["responsePayload"]["errorMessage"]
    errors = [line for line in lines_of(stack, image["id"]) if line["event"] == "upload_error"]
    assert len(errors) == TRIES
    assert all("Traceback" in line["stack"] for line in errors)
    assert stack.call("GET", f"/images/{image['id']}", "olga").json()["status"] == (
        "awaiting_upload"
    )

    redriven = subprocess.run(
        [*script("redrive.py", stack), "--stage", "local"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert redriven.returncode == 0, redriven.stderr
    assert "re-drove 1 event(s)" in redriven.stdout

    done = localstack.wait_until_done(stack, "olga", image["id"], timeout=30)
    assert done["status"] == "ready", done
    assert failure_records(stack, wait=1) == []


def test_a_real_upload_logs_its_request_and_processing_and_emits_metrics(stack):
    stack.create_user("ops-reader")
    created_at = len(stack.output)
    image = localstack.upload(stack, "ops-reader", pictures.jpeg((640, 480)))
    done = localstack.wait_until_done(stack, "ops-reader", image["id"])
    assert done["status"] == "ready"

    lines = [json.loads(line) for line in stack.output[created_at:] if line.startswith('{"')]
    (request,) = [
        line for line in lines if line.get("event") == "request" and line["method"] == "POST"
    ]
    assert (request["route"], request["status"]) == ("/images", 201)
    assert request["apiRequestId"] and request["lambdaRequestId"]
    assert request["level"] == "INFO" and request["time"]
    processed = [line for line in lines if line.get("imageId") == image["id"]]
    ready = [line for line in processed if line["event"] == "upload_ready"]
    assert len(ready) == 1
    assert all(line["lambdaRequestId"] == ready[0]["lambdaRequestId"] for line in processed)
    assert all(line.get("uploadId") for line in processed)
    emitted = {
        m["Name"]
        for line in lines
        if line.get("lambdaRequestId") == ready[0]["lambdaRequestId"]
        for d in line.get("_aws", {}).get("CloudWatchMetrics", [])
        for m in d["Metrics"]
    }
    assert emitted == {"UploadsReady", "ProcessingTime"}


def test_make_admin_makes_an_admin_who_signs_in_and_chooses_a_password(stack):
    made = subprocess.run(
        [*script("admin.py", stack), "--stage", "local", "--user", "first-admin", "--email", EMAIL],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    temporary = made.stdout.strip().rsplit(" ", 1)[1]

    idp = stack.client("cognito-idp")
    client_id = stack.state["appClientId"]
    challenge = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "first-admin", "PASSWORD": temporary},
    )
    assert challenge["ChallengeName"] == "NEW_PASSWORD_REQUIRED"  # what the page answers
    tokens = idp.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName="NEW_PASSWORD_REQUIRED",
        Session=challenge["Session"],
        ChallengeResponses={"USERNAME": "first-admin", "NEW_PASSWORD": "Own-password-12"},
    )["AuthenticationResult"]
    headers = {"Authorization": tokens["IdToken"]}

    me = stack.call("GET", "/me", headers=headers).json()
    assert me["groups"] == ["admins"]
    assert stack.call("GET", "/admin/api-keys", headers=headers).status_code == 200
    user = idp.admin_get_user(UserPoolId=stack.state["userPoolId"], Username="first-admin")
    attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    assert attributes["email_verified"] == "true"
    assert user["UserStatus"] == "CONFIRMED"
