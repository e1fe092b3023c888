"""Least privilege: the stage policies allow every AWS call the suite saw the app make, on
the bucket's prefixes and the table and its indexes only, and grant nothing else."""

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
    else pytest.mark.skip(reason="register tests.support.aws_calls in tests/conftest.py")
)


def stage_names(stage: str) -> dict[str, str]:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return config["stages"][stage]["environment_variables"]


def stage_policy(stage: str) -> dict:
    return json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())


def names(stage: str) -> dict[str, str]:
    env = stage_names(stage)
    return {
        "bucket": env["BUCKET_NAME"],
        "table": env["TABLE_NAME"],
        "keys_parameter": infra.keys_parameter(stage),
    }


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
    # The CDN stage option: an embed link's copy, the signing keys, an invalidation.
    Call("s3", "CopyObject", "image-service-local/links/abc/lnk_1.webp"),
    Call("s3", "GetObject", "image-service-local/renders/abc/k.webp"),
    Call("ssm", "GetParameter", "/image-service/local/cdn-signing-keys"),
    Call("cloudfront", "CreateInvalidation", "E2EXAMPLE"),
]


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_policy_is_the_one_made_for_its_resource_names(stage):
    env = stage_names(stage)
    assert stage_policy(stage) == infra.policy_document(
        stage, env["BUCKET_NAME"], env["TABLE_NAME"]
    ), f"regenerate .chalice/policy-{stage}.json with scripts/infra.py's policy_document"


@pytest.mark.parametrize("stage", STAGES)
def test_the_policy_allows_what_the_app_typically_does_and_nothing_more(stage):
    report = check_policy(stage_policy(stage), TYPICAL_CALLS, **names(stage))
    assert report.denied == []
    assert report.unused == []


def test_removing_an_action_makes_the_check_report_the_calls_it_denied():
    policy = copy.deepcopy(stage_policy("dev"))
    for statement in policy["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != "dynamodb:Query"]
    policy["Statement"] = [s for s in policy["Statement"] if s["Action"]]

    report = check_policy(policy, TYPICAL_CALLS, **names("dev"))

    assert report.denied == [
        "dynamodb:Query on arn:aws:dynamodb:us-east-1:123456789012:table/image-service-dev",
        "dynamodb:Query on arn:aws:dynamodb:us-east-1:123456789012:table/image-service-dev"
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
        Call("cognito-idp", "AdminGetUser", ""),
    ],
    ids=lambda call: f"{call.operation}:{call.resource}",
)
def test_calls_outside_the_grants_are_denied(call):
    report = check_policy(stage_policy("prod"), [call], **names("prod"))
    assert len(report.denied) == 1


def test_the_functions_may_write_only_their_own_logs():
    logs = [s for s in stage_policy("prod")["Statement"] if s["Action"][0].startswith("logs:")]
    resources = {r for s in logs for r in s["Resource"]}
    assert resources == {
        "arn:aws:logs:*:*:log-group:/aws/lambda/image-service-prod",
        "arn:aws:logs:*:*:log-group:/aws/lambda/image-service-prod:*",
        "arn:aws:logs:*:*:log-group:/aws/lambda/image-service-prod-*",
    }


def _recorded() -> set[Call]:
    recording = aws_calls.recording()
    assert recording is not None
    calls = recording.all()
    if not calls:
        pytest.skip("no app code ran in this session, so no AWS call was recorded")
    return calls


@last
@pytest.mark.parametrize("stage", STAGES)
def test_every_aws_call_the_suite_made_the_app_do_is_allowed(stage):
    report = check_policy(stage_policy(stage), _recorded(), **names(stage))
    assert report.denied == [], f"the app needs more than policy-{stage}.json grants"


@last
@pytest.mark.parametrize("stage", STAGES)
def test_every_action_the_policy_grants_is_used_by_some_call(stage):
    calls = _recorded()
    if not aws_calls.recording().complete:
        pytest.skip("only meaningful when the whole suite ran (a subset uses fewer actions)")
    report = check_policy(stage_policy(stage), calls, **names(stage))
    assert report.unused == [], f"policy-{stage}.json grants actions no code uses"


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
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bkt")
        undo = call_log.record(seen.append)
        try:
            s3.list_objects_v2(Bucket="bkt")  # the test's own call
            app_code["list_from_app"](s3)
        finally:
            undo()
    pretended = Call("s3", "ListObjectsV2", "bkt?prefix=uploads/")
    assert seen == [pretended]
    if aws_calls.recording() is not None:  # the session's recorder saw it too: not real
        aws_calls.recording().calls.discard(pretended)


def test_a_head_of_a_key_that_may_be_missing_needs_list_bucket_to_get_a_404():
    policy = stage_policy("prod")
    without_listing = {
        **policy,
        "Statement": [s for s in policy["Statement"] if s["Action"] != ["s3:ListBucket"]],
    }
    head = Call("s3", "HeadObject", "image-service-local/renders/abc/k.jpg")

    assert check_policy(policy, [head], **names("prod")).denied == []
    denied = check_policy(without_listing, [head], **names("prod")).denied
    assert denied == ["s3:ListBucket on arn:aws:s3:::image-service-prod"]
