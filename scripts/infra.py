"""Deploys infra/template.yaml for a stage and points the app at what it created (`make infra`).

    python scripts/infra.py deploy --stage prod [--region eu-west-1]

Creates or updates the CloudFormation stack image-service-STAGE (the bucket, the table and
its indexes, the user pool, its app client and the admins group), waits for it, and writes
its outputs into .chalice/config.json (stages.STAGE.environment_variables) and the stage's
least-privilege policy (.chalice/policy-STAGE.json, whose resources are those names). Then
`chalice deploy --stage STAGE` builds the Lambdas and the API around them.
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
}
PREFIXES = ("uploads/", "variants/", "renders/", "links/")  # chalicelib/blobs.py's key layout
# The CDN stage option's outputs, when the stack has it (both public key slots empty: none).
CDN_OUTPUT_VARIABLES = {"CdnUrl": "CDN_URL", "CdnDistributionId": "CDN_DISTRIBUTION_ID"}


def keys_parameter(stage: str) -> str:
    """The SSM SecureString holding a stage's CloudFront signing keys (scripts/cdn_keys.py)."""
    return f"/image-service/{stage}/cdn-signing-keys"


def public_keys_file(stage: str, chalice_dir: Path = CHALICE_DIR) -> Path:
    """The stage's CloudFront public keys (slots a and b; public, so kept with the stage)."""
    return chalice_dir / f"cdn-keys-{stage}.json"


class InfraError(Exception):
    pass


def stack_name(stage: str) -> str:
    return f"{APP_NAME}-{stage}"


def policy_document(
    stage: str, bucket: str, table: str, distribution_id: str = "*"
) -> dict[str, Any]:
    """Exactly what the Lambdas' code does (tests/deploy/test_policy.py holds it to that).

    Transactions need no action of their own: IAM checks each Put/Update inside
    TransactWriteItems as PutItem/UpdateItem. HeadObject is authorised by s3:GetObject (plus
    s3:ListBucket for the 404 of a missing key), and presigned URLs act with the role's
    rights (GetObject for downloads, PutObject for the browser's uploads)."""
    objects = [f"arn:aws:s3:::{bucket}/{prefix}*" for prefix in PREFIXES]
    table_arn = f"arn:aws:dynamodb:*:*:table/{table}"
    log_group = f"arn:aws:logs:*:*:log-group:/aws/lambda/{APP_NAME}-{stage}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Objects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": objects,
            },
            {
                # Listing, and the right S3 asks for before it answers 404 (not 403) to a
                # HEAD or GET of a missing key, which carries no s3:prefix to condition on.
                # The bucket holds nothing but the service's own prefixes.
                "Sid": "ListBucket",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            },
            {
                "Sid": "Items",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:GetItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:BatchWriteItem",
                    "dynamodb:Query",
                ],
                "Resource": [table_arn],
            },
            {
                "Sid": "Indexes",
                "Effect": "Allow",
                "Action": ["dynamodb:Query"],
                "Resource": [f"{table_arn}/index/*"],
            },
            {
                # The CDN stage option: its signing keys, and invalidations of what the app
                # deleted (of the stage's distribution once there is one).
                "Sid": "CdnKeys",
                "Effect": "Allow",
                "Action": ["ssm:GetParameter"],
                "Resource": [f"arn:aws:ssm:*:*:parameter{keys_parameter(stage)}"],
            },
            {
                "Sid": "CdnInvalidations",
                "Effect": "Allow",
                "Action": ["cloudfront:CreateInvalidation"],
                "Resource": [f"arn:aws:cloudfront::*:distribution/{distribution_id}"],
            },
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [
                    log_group,
                    f"{log_group}:*",
                    f"{log_group}-*",
                ],
            },
        ],
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
    policy_file = stage_config.get("iam_policy_file", f"policy-{stage}.json")
    stage_config["iam_policy_file"] = policy_file
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    policy = policy_document(
        stage,
        environment["BUCKET_NAME"],
        environment["TABLE_NAME"],
        outputs.get("CdnDistributionId", "*"),
    )
    (chalice_dir / policy_file).write_text(json.dumps(policy, indent=2) + "\n")


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
    return parameters


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
    delete = commands.add_parser("delete", help="delete the stack; the retained resources stay")
    delete.add_argument("--stage", required=True)
    delete.add_argument("--region", default=None, help="default: the AWS profile's region")
    args = parser.parse_args(argv)

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, WaiterError

    cloudformation = boto3.client("cloudformation", region_name=args.region)
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
