"""Least privilege, per function: each Lambda's policy allows every AWS call the suite saw
that function make, on the bucket's prefixes and the table and its indexes of its own stage,
region and account only, and grants nothing else."""

import contextlib
import copy
import json

import boto3
import pytest
from moto import mock_aws

import infra
from devserver import call_log
from devserver.call_log import Call
from tests.deploy import ROOT
from tests.support import aws_calls
from tests.support.aws_calls import check_policy

STAGES = ("dev", "prod")
# Tests of the recording run last (the plugin moves them); without the plugin there is none.
last = (
    pytest.mark.policy
    if aws_calls.recording() is not None
    else pytest.mark.skip(reason="register tests.support.aws_calls in the root conftest.py")
)


def stage_names(stage: str) -> dict[str, str]:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return config["stages"][stage]["environment_variables"]


def stage_policy(stage: str, function: str = "api_handler") -> dict:
    return json.loads((ROOT / ".chalice" / infra.policy_file(stage, function)).read_text())


def names(stage: str) -> dict[str, str]:
    env = stage_names(stage)
    region, account = infra.region_and_account(env["USER_POOL_ARN"])
    return {
        "bucket": env["BUCKET_NAME"],
        "table": env["TABLE_NAME"],
        "region": region,
        "account": account,
        "keys_parameter": infra.keys_parameter(stage),
        "user_pool_arn": env["USER_POOL_ARN"],
        "events_queue": env["EVENTS_QUEUE"],
        "event_bus": env["EVENT_BUS_NAME"],
    }


def of(function: str, calls: set[Call]) -> set[Call]:
    return {call for call in calls if call.function == function}


# What the app does, as the recorder writes it (names as a local stack makes them).
TYPICAL_CALLS = [
    Call("s3", "PresignedPost", "image-service-local/uploads/abc"),
    Call("s3", "HeadObject", "image-service-local/uploads/abc"),
    Call("s3", "GetObject", "image-service-local/uploads/abc"),
    Call("s3", "PutObject", "image-service-local/variants/abc/thumbnail.webp"),
    Call("s3", "PresignedUrl.GetObject", "image-service-local/renders/abc/k.jpg"),
    Call("s3", "ListObjectsV2", "image-service-local?prefix=variants/abc/"),
    Call("s3", "DeleteObjects", "image-service-local/variants/abc/thumbnail.webp"),
    Call("dynamodb", "TransactWriteItems.Put", "image-service-local"),
    Call("dynamodb", "GetItem", "image-service-local"),
    Call("dynamodb", "BatchGetItem", "image-service-local"),
    Call("dynamodb", "UpdateItem", "image-service-local"),
    Call("dynamodb", "DeleteItem", "image-service-local"),
    Call("dynamodb", "BatchWriteItem", "image-service-local"),
    Call("dynamodb", "Query", "image-service-local/index/byOwner"),
    Call("dynamodb", "Query", "image-service-local"),
    Call("cognito-idp", "AdminGetUser", ""),
    Call("sqs", "SendMessage", ""),
    # The CDN stage option: an embed link's copy, the signing keys, an invalidation.
    Call("s3", "CopyObject", "image-service-local/links/abc/lnk_1.webp"),
    Call("s3", "GetObject", "image-service-local/renders/abc/k.webp"),
    Call("ssm", "GetParameter", "/image-service/local/cdn-signing-keys"),
    Call("cloudfront", "CreateInvalidation", "E2EXAMPLE"),
]


@pytest.mark.parametrize("stage", STAGES)
def test_each_function_has_the_policy_made_for_its_stages_names(stage):
    env = stage_names(stage)
    functions = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"][stage][
        "lambda_functions"
    ]
    for function, policy in infra.policy_documents(stage, env).items():
        assert functions[function]["iam_policy_file"] == infra.policy_file(stage, function)
        assert stage_policy(stage, function) == policy, (
            f"regenerate .chalice/{infra.policy_file(stage, function)} (scripts/infra.py)"
        )


def test_the_functions_have_different_policies_and_the_authorizer_one_read():
    policies = [json.dumps(stage_policy("prod", f), sort_keys=True) for f in infra.FUNCTIONS]
    authorizer = stage_policy("prod", "external_key")["Statement"]

    assert len(set(policies)) == len(infra.FUNCTIONS)
    assert [s["Action"] for s in authorizer if s["Sid"] not in ("Logs", "Tracing")] == [
        ["dynamodb:GetItem"]
    ]


def test_the_cleanup_writes_no_render_and_the_authorizer_no_object():
    cleanup = check_policy(
        stage_policy("prod", "cleanup"),
        [Call("s3", "PutObject", "image-service-local/renders/abc/k.jpg")],
        **names("prod"),
    )
    authorizer = check_policy(
        stage_policy("prod", "external_key"),
        [Call("s3", "GetObject", "image-service-local/variants/abc/thumbnail.webp")],
        **names("prod"),
    )
    assert cleanup.denied == ["s3:PutObject on arn:aws:s3:::image-service-prod/renders/abc/k.jpg"]
    assert len(authorizer.denied) == 2  # the object, and the listing of its bucket


def test_a_grant_is_scoped_to_the_stages_region_and_account():
    call = [Call("dynamodb", "GetItem", "image-service-local")]
    elsewhere = {**names("prod"), "region": "eu-west-1", "account": "999999999999"}

    assert check_policy(stage_policy("prod", "external_key"), call, **names("prod")).denied == []
    assert check_policy(stage_policy("prod", "external_key"), call, **elsewhere).denied == [
        "dynamodb:GetItem on arn:aws:dynamodb:eu-west-1:999999999999:table/image-service-prod"
    ]


@pytest.mark.parametrize("stage", STAGES)
def test_the_policy_allows_what_the_app_typically_does_and_nothing_more(stage):
    report = check_policy(stage_policy(stage), TYPICAL_CALLS, **names(stage))
    assert report.denied == []
    assert report.unused == []


def test_deliver_events_may_take_the_events_queue_and_put_on_the_bus_and_nothing_more():
    calls = [
        Call("sqs", "SendMessage", ""),
        Call("events", "PutEvents", ""),
        Call("dynamodb", "Query", "image-service-local/index/byOwner"),
        Call("dynamodb", "BatchGetItem", "image-service-local"),
        Call("dynamodb", "GetItem", "image-service-local"),
        Call("dynamodb", "PutItem", "image-service-local"),
    ]
    outside = [
        Call("s3", "GetObject", "image-service-local/uploads/abc"),
        Call("cognito-idp", "AdminGetUser", ""),
        Call("sqs", "PurgeQueue", ""),
        Call("sqs", "GetQueueUrl", ""),  # the queue's URL is in the stage's environment
        Call("events", "PutRule", ""),
    ]
    policy = stage_policy("prod", "deliver_events")

    assert check_policy(policy, calls, **names("prod")) == aws_calls.PolicyReport([], [])
    assert len(check_policy(policy, outside, **names("prod")).denied) == 6  # + ListBucket


def test_only_deliver_events_may_put_on_the_bus():
    putters = {
        function
        for function in infra.FUNCTIONS
        for s in stage_policy("prod", function)["Statement"]
        if "events:PutEvents" in s["Action"]
    }
    assert putters == {"deliver_events"}


def test_removing_an_action_makes_the_check_report_the_calls_it_denied():
    policy = copy.deepcopy(stage_policy("dev"))
    for statement in policy["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != "dynamodb:Query"]
    policy["Statement"] = [s for s in policy["Statement"] if s["Action"]]

    report = check_policy(policy, TYPICAL_CALLS, **names("dev"))

    assert report.denied == [
        "dynamodb:Query on arn:aws:dynamodb:us-east-1:000000000000:table/image-service-dev",
        "dynamodb:Query on arn:aws:dynamodb:us-east-1:000000000000:table/image-service-dev"
        "/index/byOwner",
    ]


def test_an_action_no_call_uses_is_reported():
    policy = copy.deepcopy(stage_policy("dev"))
    policy["Statement"][0]["Action"].append("s3:PutObjectAcl")

    report = check_policy(policy, TYPICAL_CALLS, **names("dev"))

    assert report.unused == ["s3:PutObjectAcl"]


@pytest.mark.parametrize(
    "call",
    [
        Call("s3", "GetObject", "image-service-local/secrets/file"),
        Call("s3", "PutObject", "image-service-local/secrets/file"),
        Call("s3", "PutObjectAcl", "image-service-local/uploads/abc"),
        Call("dynamodb", "Scan", "image-service-local"),
        Call("dynamodb", "TransactWriteItems.ConditionCheck", "image-service-local"),
        Call("cognito-idp", "AdminDeleteUser", ""),
        Call("cognito-idp", "ListUsers", ""),
        Call("sqs", "PurgeQueue", ""),
        Call("events", "PutRule", ""),
    ],
    ids=lambda call: f"{call.operation}:{call.resource}",
)
def test_calls_outside_the_grants_are_denied(call):
    report = check_policy(stage_policy("prod"), [call], **names("prod"))
    assert len(report.denied) == 1


@pytest.mark.parametrize("function", infra.FUNCTIONS)
def test_each_function_may_write_only_its_own_logs(function):
    statements = stage_policy("prod", function)["Statement"]
    logs = [s for s in statements if s["Action"][0].startswith("logs:")]
    group = "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/image-service-prod"
    group += infra.FUNCTIONS[function]
    assert {r for s in logs for r in s["Resource"]} == {group, f"{group}:*"}


def test_only_the_upload_function_may_send_to_the_failure_queue():
    failures = "arn:aws:sqs:us-east-1:000000000000:image-service-prod-upload-failures"
    senders = {
        function
        for function in infra.FUNCTIONS
        for s in stage_policy("prod", function)["Statement"]
        if "sqs:SendMessage" in s["Action"] and failures in s["Resource"]
    }
    queue = [
        s["Resource"]
        for s in stage_policy("prod", "handle_upload")["Statement"]
        if s["Sid"] == "FailedEvents"
    ]
    assert senders == {"handle_upload"}
    assert queue == [["arn:aws:sqs:us-east-1:000000000000:image-service-prod-upload-failures"]]


def _recorded() -> set[Call]:
    recording = aws_calls.recording()
    assert recording is not None
    calls = recording.all()
    if not calls:
        pytest.skip("no app code ran in this session, so no AWS call was recorded")
    return calls


@last
@pytest.mark.parametrize("function", infra.FUNCTIONS)
@pytest.mark.parametrize("stage", STAGES)
def test_every_aws_call_the_suite_made_a_function_do_is_allowed_by_its_policy(stage, function):
    report = check_policy(stage_policy(stage, function), of(function, _recorded()), **names(stage))
    assert report.denied == [], f"{function} needs more than its policy grants"


@last
@pytest.mark.parametrize("stage", STAGES)
def test_a_call_no_function_can_be_named_for_is_allowed_to_some_function(stage):
    """App code a test called directly, outside any function's entry point."""
    unnamed = of("", _recorded())
    denied_by_all = set.intersection(
        *(
            set(check_policy(stage_policy(stage, f), unnamed, **names(stage)).denied)
            for f in infra.FUNCTIONS
        )
    )
    assert denied_by_all == set()


@last
@pytest.mark.parametrize("function", infra.FUNCTIONS)
@pytest.mark.parametrize("stage", STAGES)
def test_every_action_a_function_is_granted_is_used_by_some_call_it_made(stage, function):
    calls = of(function, _recorded())
    recording = aws_calls.recording()
    if not recording.complete:
        pytest.skip(aws_calls.why_incomplete(recording))
    report = check_policy(stage_policy(stage, function), calls, **names(stage))
    assert report.unused == [], f"{function}'s policy grants actions its code never uses"


def test_a_call_is_put_down_to_the_handler_of_app_py_that_made_it():
    app_file: dict = {}
    exec(  # noqa: S102 (compiled from this test's own text)
        compile(
            "def cleanup(made):\n    return made()\ndef get_image(made):\n    return made()\n",
            call_log.APP_FILE,
            "exec",
        ),
        app_file,
    )

    def botocore() -> str | None:  # what the recorder asks, from inside botocore
        return call_log.made_by_app()

    assert app_file["cleanup"](botocore) == "cleanup"
    assert app_file["get_image"](botocore) == "api_handler"
    assert botocore() is None


def test_a_transaction_is_recorded_as_one_call_per_item():
    params = {
        "TransactItems": [
            {"Put": {"TableName": "t", "Item": {}}},
            {"ConditionCheck": {"TableName": "t", "Key": {}}},
        ]
    }
    assert call_log.describe("dynamodb", "TransactWriteItems", params) == [
        Call("dynamodb", "TransactWriteItems.Put", "t"),
        Call("dynamodb", "TransactWriteItems.ConditionCheck", "t"),
    ]


def test_only_calls_made_by_the_apps_code_are_recorded(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    seen: list[Call] = []
    # Code whose file is in chalicelib/, as the app's code is.
    app_code: dict = {}
    exec(  # noqa: S102 (compiled from this test's own text)
        compile(
            "def list_from_app(s3):\n    s3.list_objects_v2(Bucket='bkt', Prefix='uploads/')\n",
            call_log.APP_PACKAGE + "pretend.py",
            "exec",
        ),
        app_code,
    )
    session = aws_calls.recording()
    # The session's recorder would see the pretended call too: it is not the app's.
    with mock_aws(), session.paused() if session else contextlib.nullcontext():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bkt")
        undo = call_log.record(seen.append)
        try:
            s3.list_objects_v2(Bucket="bkt")  # the test's own call
            app_code["list_from_app"](s3)
        finally:
            undo()
    assert seen == [Call("s3", "ListObjectsV2", "bkt?prefix=uploads/")]


def test_a_head_of_a_key_that_may_be_missing_needs_list_bucket_to_get_a_404():
    policy = stage_policy("prod", "api_handler")
    without_listing = {
        **policy,
        "Statement": [s for s in policy["Statement"] if s["Action"] != ["s3:ListBucket"]],
    }
    head = Call("s3", "HeadObject", "image-service-local/renders/abc/k.jpg")

    assert check_policy(policy, [head], **names("prod")).denied == []
    denied = check_policy(without_listing, [head], **names("prod")).denied
    assert denied == ["s3:ListBucket on arn:aws:s3:::image-service-prod"]
