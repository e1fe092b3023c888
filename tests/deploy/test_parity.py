"""The local stack and the cloud are made from one definition: what devserver/provision.py
creates in moto matches what infra/template.yaml declares, setting by setting.

Both sides are reduced to the same plain facts (the template's CloudFormation spelling on
one side, what the AWS APIs answer on the other), written here independently of the
provisioner's own conversions, and compared.
"""

import copy
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devserver import provision
from devserver import template as cfn

REGION = "us-east-1"
STAGE = "parity"


def _facts_declared(template: dict[str, Any]) -> dict[str, Any]:
    parameters = {**cfn.parameter_defaults(template), "Stage": STAGE}
    names = {"Bucket": "bucket", "Table": "table", "UserPool": "pool", "UserPool.Arn": "arn"}
    _, bucket = cfn.resource(template, "AWS::S3::Bucket")
    _, table = cfn.resource(template, "AWS::DynamoDB::Table")
    _, pool = cfn.resource(template, "AWS::Cognito::UserPool")
    _, client = cfn.resource(template, "AWS::Cognito::UserPoolClient")
    _, group = cfn.resource(template, "AWS::Cognito::UserPoolGroup")
    queue = cfn.properties(template, "UploadFailures")
    bucket, table, pool, client, group, queue = (
        cfn.resolve(props, parameters, names)
        for props in (bucket, table, pool, client, group, queue)
    )
    return {
        **_table_shape(table),
        "table.billing": table["BillingMode"],
        "table.pitr": bool(
            table.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled")
        ),
        "table.ttl": (
            table["TimeToLiveSpecification"]["AttributeName"]
            if table.get("TimeToLiveSpecification", {}).get("Enabled")
            else None
        ),
        "bucket.public_access_block": bucket["PublicAccessBlockConfiguration"],
        "bucket.encryption": [
            rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
            for rule in bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ],
        "bucket.cors": [
            {
                "methods": sorted(rule["AllowedMethods"]),
                "origins": sorted(rule["AllowedOrigins"]),
                "headers": sorted(rule.get("AllowedHeaders", [])),
                "exposed": sorted(rule.get("ExposedHeaders", [])),
                "max_age": int(rule["MaxAge"]) if "MaxAge" in rule else None,
            }
            for rule in bucket["CorsConfiguration"]["CorsRules"]
        ],
        "bucket.lifecycle": sorted(
            (
                rule["Id"],
                rule["Status"],
                rule.get("Prefix", ""),
                int(rule["ExpirationInDays"]) if "ExpirationInDays" in rule else None,
                int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
                if "AbortIncompleteMultipartUpload" in rule
                else None,
            )
            for rule in bucket["LifecycleConfiguration"]["Rules"]
        ),
        "pool.admin_create_user_only": str(
            pool.get("AdminCreateUserConfig", {}).get("AllowAdminCreateUserOnly", "false")
        ).lower()
        == "true",
        "pool.deletion_protection": pool.get("DeletionProtection", "INACTIVE"),
        "failures.queue": (queue["QueueName"], int(queue["MessageRetentionPeriod"])),
        "client.auth_flows": sorted(client["ExplicitAuthFlows"]),
        "client.secret": bool(client.get("GenerateSecret", False)),
        "groups": [group["GroupName"]],
        **_events_declared(template, parameters, names),
    }


def _events_declared(template, parameters, names) -> dict[str, Any]:
    queue = cfn.properties(template, "EventsQueue")
    _, bus = cfn.resource(template, "AWS::Events::EventBus")
    queue, bus = (cfn.resolve(props, parameters, names) for props in (queue, bus))
    return {
        "events.queue": queue["QueueName"],
        "events.visibility": int(queue["VisibilityTimeout"]),
        "events.retention": int(queue["MessageRetentionPeriod"]),
        "events.sse": bool(queue["SqsManagedSseEnabled"]),
        "events.bus": bus["Name"],
    }


def _keys(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(key["AttributeName"], key["KeyType"]) for key in schema]


def _facts_created(outputs: provision.Outputs) -> dict[str, Any]:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    idp = boto3.client("cognito-idp", region_name=REGION)
    table = dynamodb.describe_table(TableName=outputs.table)["Table"]
    backups = dynamodb.describe_continuous_backups(TableName=outputs.table)
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    ttl = dynamodb.describe_time_to_live(TableName=outputs.table)["TimeToLiveDescription"]
    cors = s3.get_bucket_cors(Bucket=outputs.bucket)["CORSRules"]
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=outputs.bucket)["Rules"]
    encryption = s3.get_bucket_encryption(Bucket=outputs.bucket)
    client = idp.describe_user_pool_client(
        UserPoolId=outputs.user_pool_id, ClientId=outputs.app_client_id
    )["UserPoolClient"]
    groups = idp.list_groups(UserPoolId=outputs.user_pool_id)["Groups"]
    pool = idp.describe_user_pool(UserPoolId=outputs.user_pool_id)["UserPool"]
    sqs = boto3.client("sqs", region_name=REGION)
    retention = sqs.get_queue_attributes(
        QueueUrl=outputs.failure_queue_url, AttributeNames=["MessageRetentionPeriod"]
    )["Attributes"]["MessageRetentionPeriod"]
    return {
        **_table_shape(table),
        "table.billing": table["BillingModeSummary"]["BillingMode"],
        "table.pitr": pitr["PointInTimeRecoveryStatus"] == "ENABLED",
        "table.ttl": ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") == "ENABLED" else None,
        "bucket.public_access_block": s3.get_public_access_block(Bucket=outputs.bucket)[
            "PublicAccessBlockConfiguration"
        ],
        "bucket.encryption": [
            rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
            for rule in encryption["ServerSideEncryptionConfiguration"]["Rules"]
        ],
        "bucket.cors": [
            {
                "methods": sorted(rule["AllowedMethods"]),
                "origins": sorted(rule["AllowedOrigins"]),
                "headers": sorted(rule.get("AllowedHeaders", [])),
                "exposed": sorted(rule.get("ExposeHeaders", [])),
                "max_age": rule.get("MaxAgeSeconds"),
            }
            for rule in cors
        ],
        "bucket.lifecycle": sorted(
            (
                rule["ID"],
                rule["Status"],
                rule.get("Filter", {}).get("Prefix", rule.get("Prefix", "")),
                rule.get("Expiration", {}).get("Days"),
                rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation"),
            )
            for rule in lifecycle
        ),
        "pool.admin_create_user_only": pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"],
        "pool.deletion_protection": pool.get("DeletionProtection", "INACTIVE"),
        "failures.queue": (outputs.failure_queue_url.rsplit("/", 1)[1], int(retention)),
        "client.auth_flows": sorted(client.get("ExplicitAuthFlows", [])),
        "client.secret": "ClientSecret" in client,
        "groups": sorted(group["GroupName"] for group in groups),
        **_events_created(outputs),
    }


def _events_created(outputs: provision.Outputs) -> dict[str, Any]:
    sqs = boto3.client("sqs", region_name=REGION)
    attributes = sqs.get_queue_attributes(
        QueueUrl=outputs.events_queue_url, AttributeNames=["All"]
    )["Attributes"]
    bus = boto3.client("events", region_name=REGION).describe_event_bus(Name=outputs.event_bus)
    return {
        "events.queue": outputs.events_queue,
        "events.visibility": int(attributes["VisibilityTimeout"]),
        "events.retention": int(attributes["MessageRetentionPeriod"]),
        "events.sse": attributes.get("SqsManagedSseEnabled") == "true",
        "events.bus": bus["Name"],
    }


def differences(declared: dict[str, Any], created: dict[str, Any]) -> list[str]:
    """Each setting where the local resources and the template disagree, by name."""
    found = []
    for name in sorted(set(declared) | set(created)):
        want, have = declared.get(name), created.get(name)
        if isinstance(want, dict) and isinstance(have, dict) and name == "table.indexes":
            for index in sorted(set(want) | set(have)):
                if want.get(index) != have.get(index):
                    found.append(
                        f"{name}[{index}]: template {want.get(index)}, local {have.get(index)}"
                    )
        elif want != have:
            found.append(f"{name}: template {want}, local {have}")
    return found


@pytest.fixture(scope="module")
def created(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        with mock_aws():
            outputs = provision.provision(None, REGION, stage=STAGE)
            yield _facts_created(outputs)


def test_the_local_resources_are_the_ones_the_template_declares(created):
    assert differences(_facts_declared(cfn.load()), created) == []


def test_the_comparison_sees_every_setting_it_claims_to(created):
    assert set(created) == {
        "table.keys",
        "table.attributes",
        "table.indexes",
        "table.billing",
        "table.pitr",
        "table.ttl",
        "bucket.public_access_block",
        "bucket.encryption",
        "bucket.cors",
        "bucket.lifecycle",
        "pool.admin_create_user_only",
        "pool.deletion_protection",
        "failures.queue",
        "client.auth_flows",
        "client.secret",
        "groups",
        "events.queue",
        "events.visibility",
        "events.retention",
        "events.sse",
        "events.bus",
    }
    assert set(created["table.indexes"]) == {
        "byOwner",
        "byCollection",
        "log",
        "logByDay",
        "sweep",
        "likeness",
    }


# Declared for the cloud only, and why the local stack does without (devserver/provision.py).
CLOUD_ONLY = {
    "AWS::S3::BucketPolicy": "moto holds every request as plain HTTP and would deny them all",
    "AWS::Logs::LogGroup": "locally the functions log to the console",
    "AWS::CloudWatch::Alarm": "no CloudWatch watches the local stack",
}
PROVISIONED = {
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
    "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolClient",
    "AWS::Cognito::UserPoolGroup",
    "AWS::SQS::Queue",
    "AWS::Events::EventBus",
}


# The CDN stage option: made locally only by `python -m devserver --cdn` (devserver/cdn.py,
# tests/e2e/test_delivery.py), from the same template.
WITH_THE_CDN = {
    "AWS::CloudFront::PublicKey",
    "AWS::CloudFront::KeyGroup",
    "AWS::CloudFront::OriginAccessControl",
    "AWS::CloudFront::Distribution",
}


def test_every_resource_type_is_made_locally_or_is_cloud_only_for_a_stated_reason():
    declared = {spec["Type"] for spec in cfn.load()["Resources"].values()}
    assert declared == PROVISIONED | set(CLOUD_ONLY) | WITH_THE_CDN


def test_the_bucket_policy_denies_every_request_without_tls():
    _, policy = cfn.resource(cfn.load(), "AWS::S3::BucketPolicy")
    (statement,) = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if isinstance(s, dict) and s.get("Sid") == "DenyInsecureTransport"
    ]
    resources = cfn.resolve(statement["Resource"], {"AWS::Partition": "aws"}, {"Bucket": "b"})

    assert (statement["Effect"], statement["Principal"], statement["Action"]) == (
        "Deny",
        "*",
        "s3:*",
    )
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert resources == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]


def test_an_index_renamed_in_the_template_only_is_reported(created):
    template = copy.deepcopy(cfn.load())
    indexes = template["Resources"]["Table"]["Properties"]["GlobalSecondaryIndexes"]
    next(i for i in indexes if i["IndexName"] == "byOwner")["IndexName"] = "byOwnerV2"

    found = differences(_facts_declared(template), created)

    assert any(line.startswith("table.indexes[byOwner]:") for line in found), found
    assert any(line.startswith("table.indexes[byOwnerV2]:") for line in found), found


@pytest.mark.parametrize(
    ("setting", "change"),
    [
        ("pitr", lambda p: p["Table"]["PointInTimeRecoverySpecification"].clear()),
        ("ttl", lambda p: p["Table"].pop("TimeToLiveSpecification")),
        ("secret", lambda p: p["AppClient"].update(GenerateSecret=True)),
        ("cors", lambda p: p["Bucket"]["CorsConfiguration"]["CorsRules"][0].update(MaxAge=1)),
        ("lifecycle", lambda p: p["Bucket"]["LifecycleConfiguration"]["Rules"].pop(0)),
        ("admin_create_user_only", lambda p: p["UserPool"].pop("AdminCreateUserConfig")),
        ("visibility", lambda p: p["EventsQueue"].update(VisibilityTimeout=30)),
    ],
)
def test_a_setting_changed_in_the_template_only_is_reported(created, setting, change):
    template = copy.deepcopy(cfn.load())
    change({name: spec["Properties"] for name, spec in template["Resources"].items()})

    found = differences(_facts_declared(template), created)

    assert [line for line in found if setting in line.split(":")[0]], found


def _table_shape(table: dict[str, Any]) -> dict[str, Any]:
    """Keys, attributes and indexes: spelt the same in the template and by DescribeTable."""
    return {
        "table.keys": _keys(table["KeySchema"]),
        "table.attributes": sorted(
            (a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]
        ),
        "table.indexes": {
            index["IndexName"]: {
                "keys": _keys(index["KeySchema"]),
                "projection": index["Projection"]["ProjectionType"],
            }
            for index in table.get("GlobalSecondaryIndexes", [])
        },
    }
