"""Deploys infra/template.yaml for a stage and points the app at what it created (`make infra`).

    python scripts/infra.py deploy --stage prod [--region eu-west-1]

Creates or updates the CloudFormation stack image-service-STAGE (the bucket, the table and
its indexes, the user pool, its app client and the admins group, the upload failure queue,
the log groups and the alarms), waits for it, and writes its outputs into
.chalice/config.json (stages.STAGE.environment_variables) and one least-privilege policy per
function (.chalice/policy-STAGE-HANDLER.json, whose resources are those names). Then
`chalice deploy --stage STAGE` builds the Lambdas and the API around them, and

    python scripts/infra.py connect --stage prod

gives handle_upload its retry policy and its on-failure destination (the failure queue):
Chalice does not configure them, and CloudFormation could only once the function exists.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"
CHALICE_DIR = ROOT / ".chalice"
APP_NAME = "image-service"

# Stack output -> the app's environment variable (chalicelib/settings.py reads these).
OUTPUT_VARIABLES = {
    "BucketName": "BUCKET_NAME",
    "TableName": "TABLE_NAME",
    "UserPoolId": "USER_POOL_ID",
    "UserPoolArn": "USER_POOL_ARN",
    "AppClientId": "APP_CLIENT_ID",
    "EventsQueueName": "EVENTS_QUEUE",
    "EventsQueueUrl": "EVENTS_QUEUE_URL",
    "EventBusName": "EVENT_BUS_NAME",
}
# The CDN stage option's outputs, when the stack has it (both public key slots empty: none).
CDN_OUTPUT_VARIABLES = {"CdnUrl": "CDN_URL", "CdnDistributionId": "CDN_DISTRIBUTION_ID"}


def keys_parameter(stage: str) -> str:
    """The SSM SecureString holding a stage's CloudFront signing keys (scripts/cdn_keys.py)."""
    return f"/image-service/{stage}/cdn-signing-keys"


def public_keys_file(stage: str, chalice_dir: Path = CHALICE_DIR) -> Path:
    """The stage's CloudFront public keys (slots a and b; public, so kept with the stage)."""
    return chalice_dir / f"cdn-keys-{stage}.json"


# The outputs `connect` reads: handle_upload's retry policy and on-failure destination.
FAILED_EVENT_OUTPUTS = ("UploadFailureQueueArn", "UploadRetryAttempts", "UploadEventMaxAgeSeconds")


class InfraError(Exception):
    pass


def stack_name(stage: str) -> str:
    return f"{APP_NAME}-{stage}"


# Chalice's Lambda functions: handler name -> function name suffix (the API has none).
FUNCTIONS = {
    "api_handler": "",
    "external_key": "-external_key",
    "handle_upload": "-handle_upload",
    "cleanup": "-cleanup",
    "deliver_events": "-deliver_events",
}
UPLOAD_FUNCTION = "handle_upload"
# What each function's code does to objects (tests/deploy/test_policy.py holds each to it):
# prefix -> S3 actions. The API writes renders; the cleanup never does.
OBJECT_GRANTS = {
    "api_handler": {
        "uploads/": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        "variants/": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        "renders/": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        # An embed link is a copy (GetObject on its source, PutObject on it), deleted with
        # its image or when revoked.
        "links/": ["s3:PutObject", "s3:DeleteObject"],
    },
    "external_key": {},
    # The pipeline reads the upload, writes variants (and the shared original), and removes
    # what a failed or superseded upload leaves, renders of a replaced original included.
    "handle_upload": {
        "uploads/": ["s3:GetObject", "s3:DeleteObject"],
        "variants/": ["s3:PutObject", "s3:DeleteObject"],
        "renders/": ["s3:DeleteObject"],
    },
    # The cleanup re-drives uploads through the same pipeline, and removes orphans.
    "cleanup": {
        "uploads/": ["s3:GetObject", "s3:DeleteObject"],
        "variants/": ["s3:PutObject", "s3:DeleteObject"],
        "renders/": ["s3:DeleteObject"],
    },
    # Events and webhook deliveries touch no object.
    "deliver_events": {},
}
# Functions that list the bucket (and so may be told 404, not 403, for a missing key).
LISTS_BUCKET = {"api_handler", "handle_upload", "cleanup"}
ITEM_GRANTS = {
    "api_handler": [
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:Query",
    ],
    "external_key": ["dynamodb:GetItem"],
    # Reads an image with its upload (one BatchGetItem), writes transitions (PutItems in a
    # transaction), looks for look-alikes in the likeness index (Query) and files the
    # picture's fingerprint bands (BatchWriteItem).
    "handle_upload": [
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:BatchWriteItem",
    ],
    # Plus its sweep position (GetItem/PutItem), the sweep index and purging tombstones.
    "cleanup": [
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:Query",
    ],
    # Webhooks of active keys (the byOwner index, then one BatchGetItem of their keys), a
    # webhook and its key before each attempt (GetItem), the attempt's record (PutItem).
    "deliver_events": ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem"],
}
QUERIES_INDEXES = {"api_handler", "handle_upload", "cleanup", "deliver_events"}
# The CDN stage option's signing keys and invalidations: the API signs links and deletes.
USES_CDN = {"api_handler"}
# Adding a collection member by user name looks the name up (one user).
LOOKS_UP_USERS = {"api_handler"}
# Queue an event (a verdict, a delete) or a webhook's next attempt on the events queue.
QUEUES_EVENTS = {"api_handler", "handle_upload", "cleanup", "deliver_events"}
# Takes the events queue (its event source mapping receives and deletes with the function's
# role) and puts each event on the bus.
EVENTS_FUNCTION = "deliver_events"


def function_name(stage: str, handler: str) -> str:
    return f"{APP_NAME}-{stage}{FUNCTIONS[handler]}"


def policy_file(stage: str, handler: str) -> str:
    return f"policy-{stage}-{handler}.json"


def failure_queue_arn(stage: str, region: str, account: str) -> str:
    """The template names the queue (QueueName), so its ARN is known before it exists."""
    return f"arn:aws:sqs:{region}:{account}:{APP_NAME}-{stage}-upload-failures"


def policy_document(
    stage: str,
    handler: str,
    bucket: str,
    table: str,
    region: str,
    account: str,
    distribution_id: str = "*",
    *,
    user_pool_arn: str,
    events_queue: str,
    event_bus: str,
) -> dict[str, Any]:
    """Exactly what one function's code does, on this stage's bucket and table in its region
    and account (tests/deploy/test_policy.py holds each function to that).

    Transactions need no action of their own: IAM checks each Put/Update inside
    TransactWriteItems as PutItem/UpdateItem. HeadObject is authorised by s3:GetObject (plus
    s3:ListBucket for the 404 of a missing key), and presigned URLs act with the role's
    rights (GetObject for downloads, PutObject for the browser's uploads). The runtime
    itself writes the function's logs and X-Ray segments, and Lambda sends a failed S3 event
    to the failure queue with the upload function's role."""
    table_arn = f"arn:aws:dynamodb:{region}:{account}:table/{table}"
    log_group = f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/"
    log_group += function_name(stage, handler)
    by_action: dict[str, list[str]] = {}
    for prefix, actions in OBJECT_GRANTS[handler].items():
        for action in actions:
            by_action.setdefault(action, []).append(f"arn:aws:s3:::{bucket}/{prefix}*")
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Objects" + action.split(":")[1].removesuffix("Object"),
            "Effect": "Allow",
            "Action": [action],
            "Resource": resources,
        }
        for action, resources in by_action.items()
    ]
    if handler in LISTS_BUCKET:
        # Listing, and the right S3 asks for before it answers 404 (not 403) to a HEAD or
        # GET of a missing key, which carries no s3:prefix to condition on. The bucket
        # holds nothing but the service's own prefixes.
        statements.append(
            {
                "Sid": "ListBucket",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            }
        )
    statements.append(
        {"Sid": "Items", "Effect": "Allow", "Action": ITEM_GRANTS[handler], "Resource": [table_arn]}
    )
    if handler in QUERIES_INDEXES:
        statements.append(
            {
                "Sid": "Indexes",
                "Effect": "Allow",
                "Action": ["dynamodb:Query"],
                "Resource": [f"{table_arn}/index/*"],
            }
        )
    statements.append(
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [log_group, f"{log_group}:*"],
        }
    )
    statements.append(
        {
            # X-Ray takes no resource-level permissions: "*" is the only resource it accepts.
            "Sid": "Tracing",
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": ["*"],
        }
    )
    if handler == UPLOAD_FUNCTION:
        statements.append(
            {
                "Sid": "FailedEvents",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": [failure_queue_arn(stage, region, account)],
            }
        )
    if handler in LOOKS_UP_USERS:
        statements.append(
            {
                "Sid": "Users",
                "Effect": "Allow",
                "Action": ["cognito-idp:AdminGetUser"],
                "Resource": [user_pool_arn],
            }
        )
    events_queue_arn = f"arn:aws:sqs:{region}:{account}:{events_queue}"
    if handler in QUEUES_EVENTS:
        statements.append(
            {
                "Sid": "EventsQueue",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": [events_queue_arn],
            }
        )
    if handler == EVENTS_FUNCTION:
        statements += [
            {
                "Sid": "EventsQueueSource",
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                "Resource": [events_queue_arn],
            },
            {
                "Sid": "EventBus",
                "Effect": "Allow",
                "Action": ["events:PutEvents"],
                "Resource": [f"arn:aws:events:{region}:{account}:event-bus/{event_bus}"],
            },
        ]
    if handler in USES_CDN:
        statements += [
            {
                # The CDN stage option: its signing keys, and invalidations of what the app
                # deleted (of the stage's distribution once there is one).
                "Sid": "CdnKeys",
                "Effect": "Allow",
                "Action": ["ssm:GetParameter"],
                "Resource": [f"arn:aws:ssm:{region}:{account}:parameter{keys_parameter(stage)}"],
            },
            {
                "Sid": "CdnInvalidations",
                "Effect": "Allow",
                "Action": ["cloudfront:CreateInvalidation"],
                "Resource": [f"arn:aws:cloudfront::{account}:distribution/{distribution_id}"],
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}


def region_and_account(user_pool_arn: str) -> tuple[str, str]:
    """The stage's region and account, read from its user pool's ARN (a stack output)."""
    parts = user_pool_arn.split(":")
    if len(parts) < 6 or not parts[3] or not parts[4]:
        raise InfraError(f"not a user pool ARN: {user_pool_arn!r}")
    return parts[3], parts[4]


def policy_documents(
    stage: str, environment: dict[str, str], distribution_id: str = "*"
) -> dict[str, dict[str, Any]]:
    """Every function's policy: handler -> document."""
    region, account = region_and_account(environment["USER_POOL_ARN"])
    bucket, table = environment["BUCKET_NAME"], environment["TABLE_NAME"]
    return {
        handler: policy_document(
            stage,
            handler,
            bucket,
            table,
            region,
            account,
            distribution_id,
            user_pool_arn=environment["USER_POOL_ARN"],
            events_queue=environment["EVENTS_QUEUE"],
            event_bus=environment["EVENT_BUS_NAME"],
        )
        for handler in FUNCTIONS
    }


def stage_environment(outputs: dict[str, str]) -> dict[str, str]:
    missing = sorted(set(OUTPUT_VARIABLES) - set(outputs))
    if missing:
        raise InfraError(f"the stack has no output(s) {', '.join(missing)}")
    return {variable: outputs[name] for name, variable in OUTPUT_VARIABLES.items()}


def write_stage(stage: str, outputs: dict[str, str], chalice_dir: Path = CHALICE_DIR) -> None:
    """Point the stage at the stack's resources: environment variables and IAM policy."""
    config_path = chalice_dir / "config.json"
    config = json.loads(config_path.read_text())
    if stage not in config.get("stages", {}):
        raise InfraError(f"stage {stage!r} is not in {config_path}; add it first")
    environment = stage_environment(outputs)
    if "CdnUrl" in outputs:
        environment.update({v: outputs[k] for k, v in CDN_OUTPUT_VARIABLES.items()})
        environment["CDN_KEYS_PARAMETER"] = keys_parameter(stage)
    else:
        environment.update(
            dict.fromkeys([*CDN_OUTPUT_VARIABLES.values(), "CDN_KEYS_PARAMETER"], "")
        )
    stage_config = config["stages"][stage]
    stage_config.setdefault("environment_variables", {}).update(environment)
    stage_config.pop("iam_policy_file", None)  # each function has its own
    functions = stage_config.setdefault("lambda_functions", {})
    distribution_id = outputs.get("CdnDistributionId") or "*"
    for handler, policy in policy_documents(stage, environment, distribution_id).items():
        functions.setdefault(handler, {})["iam_policy_file"] = policy_file(stage, handler)
        text = json.dumps(policy, indent=2) + "\n"
        (chalice_dir / policy_file(stage, handler)).write_text(text)
    config_path.write_text(json.dumps(config, indent=2) + "\n")


def _stack_exists(cloudformation: Any, name: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return False
        raise
    return bool(stacks) and stacks[0]["StackStatus"] != "REVIEW_IN_PROGRESS"


def stack_parameters(stage: str, chalice_dir: Path = CHALICE_DIR) -> dict[str, str]:
    """The template's parameters for a stage: browsers may upload from the stage's CORS
    origins (the template's default, any origin, when the stage names none), and only admins
    create users unless the stage sets SELF_SIGN_UP=on."""
    config = json.loads((chalice_dir / "config.json").read_text())
    environment = config["stages"].get(stage, {}).get("environment_variables", {})
    parameters = {"Stage": stage}
    if environment.get("CORS_ORIGINS"):
        parameters["AllowedOrigins"] = environment["CORS_ORIGINS"]
    # Self sign-up is off unless the stage turns it on: the app client id is public.
    if environment.get("SELF_SIGN_UP", "").strip().lower() == "on":
        parameters["AdminCreateUserOnly"] = "false"
    # The CDN option: the public keys scripts/cdn_keys.py keeps for the stage.
    keys = public_keys_file(stage, chalice_dir)
    if keys.is_file():
        slots = json.loads(keys.read_text())
        parameters["CdnPublicKeyA"] = slots.get("a", "")
        parameters["CdnPublicKeyB"] = slots.get("b", "")
    if environment.get("LOG_RETENTION_DAYS"):
        parameters["LogRetentionDays"] = environment["LOG_RETENTION_DAYS"]
    if environment.get("ALARM_TOPIC_ARN"):
        parameters["AlarmTopicArn"] = environment["ALARM_TOPIC_ARN"]
    return parameters


def stack_outputs(cloudformation: Any, stage: str) -> dict[str, str]:
    stack = cloudformation.describe_stacks(StackName=stack_name(stage))["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def connect(cloudformation: Any, lambda_client: Any, stage: str) -> dict[str, Any]:
    """Give handle_upload (made by chalice deploy) the stack's retry policy for S3 events and
    the failure queue as its on-failure destination. Returns what the function now has."""
    outputs = stack_outputs(cloudformation, stage)
    missing = sorted(set(FAILED_EVENT_OUTPUTS) - set(outputs))
    if missing:
        raise InfraError(f"the stack has no output(s) {', '.join(missing)}; run make infra")
    wanted = {
        "FunctionName": function_name(stage, UPLOAD_FUNCTION),
        "MaximumRetryAttempts": int(outputs["UploadRetryAttempts"]),
        "MaximumEventAgeInSeconds": int(outputs["UploadEventMaxAgeSeconds"]),
        "DestinationConfig": {"OnFailure": {"Destination": outputs["UploadFailureQueueArn"]}},
    }
    lambda_client.put_function_event_invoke_config(**wanted)
    found = lambda_client.get_function_event_invoke_config(FunctionName=wanted["FunctionName"])
    return {key: found.get(key) for key in wanted if key != "FunctionName"}


def deploy_stack(
    cloudformation: Any, stage: str, template_body: str, parameters: dict[str, str] | None = None
) -> dict[str, str]:
    """Create or update the stage's stack and wait for it; returns its outputs."""
    from botocore.exceptions import ClientError

    name = stack_name(stage)
    values = parameters or {"Stage": stage}
    arguments = {
        "StackName": name,
        "TemplateBody": template_body,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
        "Tags": [{"Key": "app", "Value": APP_NAME}, {"Key": "stage", "Value": stage}],
    }
    if _stack_exists(cloudformation, name):
        try:
            cloudformation.update_stack(**arguments)
            cloudformation.get_waiter("stack_update_complete").wait(StackName=name)
        except ClientError as error:
            if "No updates are to be performed" not in str(error):
                raise
    else:
        cloudformation.create_stack(**arguments, OnFailure="ROLLBACK")
        cloudformation.get_waiter("stack_create_complete").wait(StackName=name)
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def retained_resources(template_body: str) -> set[str]:
    """Logical ids the template keeps when its stack is deleted (DeletionPolicy: Retain)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    # Intrinsic functions (!Ref, !Sub, ...) do not matter here: read them as nothing.
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    resources = yaml.load(template_body, Loader=Loader)["Resources"]  # noqa: S506
    return {name for name, spec in resources.items() if spec.get("DeletionPolicy") == "Retain"}


def delete_stack(cloudformation: Any, stage: str) -> list[dict[str, str]]:
    """Delete the stage's stack and wait for it. Returns what it leaves in the account: the
    resources the template retains, as {"type", "id"}."""
    name = stack_name(stage)
    if not _stack_exists(cloudformation, name):
        return []
    body = cloudformation.get_template(StackName=name)["TemplateBody"]
    kept = retained_resources(body if isinstance(body, str) else json.dumps(body))
    resources = cloudformation.describe_stack_resources(StackName=name)["StackResources"]
    cloudformation.delete_stack(StackName=name)
    cloudformation.get_waiter("stack_delete_complete").wait(StackName=name)
    return [
        {"type": resource["ResourceType"], "id": resource["PhysicalResourceId"]}
        for resource in resources
        if resource["LogicalResourceId"] in kept
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    deploy = commands.add_parser("deploy", help="create or update the stage's stack")
    deploy.add_argument("--stage", required=True)
    deploy.add_argument("--region", default=None, help="default: the AWS profile's region")
    link = commands.add_parser("connect", help="after chalice deploy: failed S3 events are kept")
    link.add_argument("--stage", required=True)
    link.add_argument("--region", default=None, help="default: the AWS profile's region")
    delete = commands.add_parser("delete", help="delete the stack; the retained resources stay")
    delete.add_argument("--stage", required=True)
    delete.add_argument("--region", default=None, help="default: the AWS profile's region")
    args = parser.parse_args(argv)

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, WaiterError

    cloudformation = boto3.client("cloudformation", region_name=args.region)
    if args.command == "connect":
        name = function_name(args.stage, UPLOAD_FUNCTION)
        try:
            found = connect(
                cloudformation, boto3.client("lambda", region_name=args.region), args.stage
            )
        except (BotoCoreError, ClientError, InfraError) as error:
            print(f"infra: {error}", file=sys.stderr)
            return 1
        print(f"infra: {name}: {json.dumps(found, sort_keys=True)}")
        return 0
    if args.command == "delete":
        print(f"infra: deleting stack {stack_name(args.stage)}")
        try:
            kept = delete_stack(cloudformation, args.stage)
        except (BotoCoreError, ClientError, WaiterError) as error:
            print(f"infra: {error}", file=sys.stderr)
            return 1
        for resource in kept:
            print(f"  kept (DeletionPolicy: Retain): {resource['type']} {resource['id']}")
        print("infra: deleted; empty and delete what was kept by hand if you mean it")
        return 0
    print(f"infra: deploying stack {stack_name(args.stage)} from {TEMPLATE.relative_to(ROOT)}")
    try:
        parameters = stack_parameters(args.stage)
        outputs = deploy_stack(cloudformation, args.stage, TEMPLATE.read_text(), parameters)
        write_stage(args.stage, outputs)
    except (BotoCoreError, ClientError, WaiterError, InfraError) as error:
        print(f"infra: {error}", file=sys.stderr)
        return 1
    for name, value in stage_environment(outputs).items():
        print(f"  {name}={value}")
    print(f"infra: wrote .chalice/config.json and the policy of stage {args.stage}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
