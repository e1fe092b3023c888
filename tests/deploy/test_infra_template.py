"""infra/template.yaml passes cfn-lint, and `make infra` turns a stack's outputs into the
stage's settings: .chalice/config.json environment and the stage's IAM policy.

moto's CloudFormation creates S3 buckets and DynamoDB tables but not Cognito resources, so the
stack test deploys the template's bucket and table (with stand-in values for the pool's
outputs); writing the pool's outputs is tested with the same function on a plain dict.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

import infra
from devserver import template as cfn
from tests.deploy import ROOT

REGION = "us-east-1"
COGNITO = ("AWS::Cognito::UserPool", "AWS::Cognito::UserPoolClient", "AWS::Cognito::UserPoolGroup")
POOL_OUTPUTS = {
    "UserPoolId": "us-east-1_abcdefghi",
    "UserPoolArn": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abcdefghi",
    "AppClientId": "1234567890abcdefghijklmnop",
}
EVENT_OUTPUTS = {
    "EventsQueueName": "q-1",
    "EventsQueueUrl": "https://sqs.us-east-1.amazonaws.com/000000000000/q-1",
    "EventBusName": "bus-1",
}


def test_cfn_lint_passes_on_the_template():
    lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(lint), str(ROOT / "infra" / "template.yaml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_setting_the_app_and_connect_need_is_a_stack_output():
    outputs = set(cfn.load()["Outputs"])
    assert outputs == set(infra.OUTPUT_VARIABLES) | set(infra.CDN_OUTPUT_VARIABLES) | {
        *infra.FAILED_EVENT_OUTPUTS,
        "UploadFailureQueueUrl",
    }


def test_a_stage_with_the_cdn_gets_its_url_keys_and_a_policy_for_its_distribution(chalice_dir):
    outputs = {
        "BucketName": "b-1",
        "TableName": "t-1",
        **POOL_OUTPUTS,
        **EVENT_OUTPUTS,
        "CdnUrl": "https://d111111abcdef8.cloudfront.net",
        "CdnDistributionId": "E2EXAMPLE",
    }
    infra.write_stage("dev", outputs, chalice_dir)
    config = json.loads((chalice_dir / "config.json").read_text())["stages"]["dev"]
    environment = config["environment_variables"]
    assert environment["CDN_URL"] == "https://d111111abcdef8.cloudfront.net"
    assert environment["CDN_DISTRIBUTION_ID"] == "E2EXAMPLE"
    assert environment["CDN_KEYS_PARAMETER"] == "/image-service/dev/cdn-signing-keys"
    api_policy = config["lambda_functions"]["api_handler"]["iam_policy_file"]
    policy = json.loads((chalice_dir / api_policy).read_text())
    grants = {s["Sid"]: s["Resource"] for s in policy["Statement"]}
    account = POOL_OUTPUTS["UserPoolArn"].split(":")[4]
    assert grants["CdnInvalidations"] == [f"arn:aws:cloudfront::{account}:distribution/E2EXAMPLE"]
    # Only the API signs links and invalidates.
    upload_policy = config["lambda_functions"]["handle_upload"]["iam_policy_file"]
    upload_sids = {
        s["Sid"] for s in json.loads((chalice_dir / upload_policy).read_text())["Statement"]
    }
    assert not upload_sids & {"CdnKeys", "CdnInvalidations"}
    # Without the option again, the stage's links are presigned S3 GETs.
    outputs = {"BucketName": "b-1", "TableName": "t-1", **POOL_OUTPUTS, **EVENT_OUTPUTS}
    infra.write_stage("dev", outputs, chalice_dir)
    environment = json.loads((chalice_dir / "config.json").read_text())["stages"]["dev"][
        "environment_variables"
    ]
    assert environment["CDN_URL"] == ""


def test_the_stages_public_keys_fill_the_templates_two_key_slots(chalice_dir):
    assert "CdnPublicKeyA" not in infra.stack_parameters("dev", chalice_dir)
    infra.public_keys_file("dev", chalice_dir).write_text(json.dumps({"a": "PEM-A", "b": ""}))
    parameters = infra.stack_parameters("dev", chalice_dir)
    assert (parameters["CdnPublicKeyA"], parameters["CdnPublicKeyB"]) == ("PEM-A", "")
    holds = cfn.conditions(cfn.load(), {**cfn.parameter_defaults(cfn.load()), **parameters})
    cdn = {name: holds[name] for name in ("HasCdnKeyA", "HasCdnKeyB", "HasCdn")}
    assert cdn == {"HasCdnKeyA": True, "HasCdnKeyB": False, "HasCdn": True}


def _as_json(value: Any) -> Any:
    """The template's YAML short forms (!Ref, !Sub, !GetAtt) in CloudFormation's JSON form."""
    if isinstance(value, cfn._Tag):
        if value.name == "Ref":
            return {"Ref": value.value}
        if value.name == "GetAtt":
            return {"Fn::GetAtt": value.value.split(".", 1)}
        return {f"Fn::{value.name}": _as_json(value.value)}
    if isinstance(value, dict):
        return {key: _as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_json(item) for item in value]
    return value


def _template_without_cognito() -> str:
    template = _as_json(cfn.load())
    template["Resources"] = {
        name: spec for name, spec in template["Resources"].items() if spec["Type"] not in COGNITO
    }
    for name, value in POOL_OUTPUTS.items():
        template["Outputs"][name] = {"Value": value}
    return json.dumps(template)


@pytest.fixture
def chalice_dir(tmp_path):
    copy = tmp_path / ".chalice"
    copy.mkdir()
    shutil.copy(ROOT / ".chalice" / "config.json", copy / "config.json")
    return copy


@pytest.fixture
def cloudformation(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("cloudformation", region_name=REGION)


def test_deploying_the_stack_writes_its_resources_into_the_stage(cloudformation, chalice_dir):
    outputs = infra.deploy_stack(cloudformation, "prod", _template_without_cognito())
    infra.write_stage("prod", outputs, chalice_dir)

    config = json.loads((chalice_dir / "config.json").read_text())
    environment = config["stages"]["prod"]["environment_variables"]
    bucket, table = environment["BUCKET_NAME"], environment["TABLE_NAME"]
    assert bucket in {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}
    assert table in boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"]
    assert environment["USER_POOL_ARN"] == POOL_OUTPUTS["UserPoolArn"]
    assert environment["CORS_ORIGINS"] == ""  # what infra does not own stays as it was
    functions = config["stages"]["prod"]["lambda_functions"]
    assert "iam_policy_file" not in config["stages"]["prod"]
    for handler in infra.FUNCTIONS:
        assert functions[handler]["iam_policy_file"] == f"policy-prod-{handler}.json"
    policy = json.loads((chalice_dir / "policy-prod-api_handler.json").read_text())
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    assert f"arn:aws:s3:::{bucket}/uploads/*" in resources
    assert f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/index/*" in resources


def test_connect_gives_the_upload_function_its_retries_and_failure_queue(cloudformation):
    infra.deploy_stack(cloudformation, "prod", _template_without_cognito())
    functions = boto3.client("lambda", region_name=REGION)
    role = boto3.client("iam").create_role(
        RoleName="upload", AssumeRolePolicyDocument="{}", Path="/"
    )["Role"]["Arn"]
    functions.create_function(
        FunctionName="image-service-prod-handle_upload",
        Runtime="python3.12",
        Role=role,
        Handler="app.handle_upload",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )

    found = infra.connect(cloudformation, functions, "prod")

    assert found["MaximumRetryAttempts"] == 2
    assert found["MaximumEventAgeInSeconds"] == 3600
    destination = found["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == "arn:aws:sqs:us-east-1:123456789012:image-service-prod-upload-failures"


def test_deploying_again_updates_the_same_stack(cloudformation):
    first = infra.deploy_stack(cloudformation, "dev", _template_without_cognito())
    again = infra.deploy_stack(cloudformation, "dev", _template_without_cognito())

    assert again == first
    stacks = cloudformation.describe_stacks()["Stacks"]
    assert [s["StackName"] for s in stacks] == ["image-service-dev"]


def test_the_pool_outputs_become_the_stage_environment(chalice_dir):
    outputs = {
        "BucketName": "b-1",
        "TableName": "t-1",
        **EVENT_OUTPUTS,
        **POOL_OUTPUTS,
    }

    infra.write_stage("dev", outputs, chalice_dir)

    environment = json.loads((chalice_dir / "config.json").read_text())["stages"]["dev"][
        "environment_variables"
    ]
    assert {k: environment[k] for k in infra.OUTPUT_VARIABLES.values()} == {
        "BUCKET_NAME": "b-1",
        "TABLE_NAME": "t-1",
        "USER_POOL_ID": POOL_OUTPUTS["UserPoolId"],
        "USER_POOL_ARN": POOL_OUTPUTS["UserPoolArn"],
        "APP_CLIENT_ID": POOL_OUTPUTS["AppClientId"],
        "EVENTS_QUEUE": "q-1",
        "EVENTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/q-1",
        "EVENT_BUS_NAME": "bus-1",
    }


def test_a_stack_missing_an_output_is_refused_before_anything_is_written(chalice_dir):
    before = (chalice_dir / "config.json").read_text()

    with pytest.raises(infra.InfraError, match="AppClientId"):
        infra.write_stage("dev", {"BucketName": "b", "TableName": "t"}, chalice_dir)

    assert (chalice_dir / "config.json").read_text() == before


def test_the_bucket_accepts_browser_uploads_from_the_stages_origins_only(chalice_dir):
    config = json.loads((chalice_dir / "config.json").read_text())
    config["stages"]["prod"]["environment_variables"]["CORS_ORIGINS"] = "https://photos.example"
    (chalice_dir / "config.json").write_text(json.dumps(config))

    assert infra.stack_parameters("prod", chalice_dir) == {
        "Stage": "prod",
        "AllowedOrigins": "https://photos.example",
        "LogRetentionDays": "365",
    }
    assert infra.stack_parameters("dev", chalice_dir) == {
        "Stage": "dev",
        "AllowedOrigins": "*",
        "LogRetentionDays": "14",
    }


def test_each_stage_keeps_its_logs_as_long_as_it_says_and_alarms_notify_its_topic(chalice_dir):
    config = json.loads((chalice_dir / "config.json").read_text())
    config["stages"]["prod"]["environment_variables"]["ALARM_TOPIC_ARN"] = "arn:aws:sns:t"
    (chalice_dir / "config.json").write_text(json.dumps(config))
    groups = [
        spec["Properties"]["RetentionInDays"]
        for spec in cfn.load()["Resources"].values()
        if spec["Type"] == "AWS::Logs::LogGroup"
    ]

    assert [(g.name, g.value) for g in groups] == [("Ref", "LogRetentionDays")] * len(
        infra.FUNCTIONS
    )
    parameters = infra.stack_parameters("prod", chalice_dir)
    assert (parameters["LogRetentionDays"], parameters["AlarmTopicArn"]) == ("365", "arn:aws:sns:t")


def test_only_admins_create_users_unless_the_stage_turns_self_sign_up_on(chalice_dir):
    declared = cfn.load()
    assert declared["Parameters"]["AdminCreateUserOnly"]["Default"] == "true"
    _, pool = cfn.resource(declared, "AWS::Cognito::UserPool")
    parameter = pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"]
    assert (parameter.name, parameter.value) == ("Ref", "AdminCreateUserOnly")
    assert "AdminCreateUserOnly" not in infra.stack_parameters("prod", chalice_dir)

    config = json.loads((chalice_dir / "config.json").read_text())
    config["stages"]["prod"]["environment_variables"]["SELF_SIGN_UP"] = "on"
    (chalice_dir / "config.json").write_text(json.dumps(config))

    assert infra.stack_parameters("prod", chalice_dir)["AdminCreateUserOnly"] == "false"
