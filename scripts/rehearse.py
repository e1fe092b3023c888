"""Rehearses a deploy end to end against a fresh local AWS (`make rehearse`).

    python scripts/rehearse.py [--report FILE]

On a moto server of its own (127.0.0.1, a free port) and a copy of the project (the
checkout's .chalice/ is never written), it runs what a user runs, unchanged:

1. `make infra STAGE=rehearsal` (CloudFormation: bucket, table, user pool);
2. `chalice deploy --stage rehearsal`, and checks what the account then holds, read back
   the way the cloud would answer: each Lambda's runtime, memory, timeout, handler and
   environment; the S3 notification on uploads/ to handle_upload; the events queue's
   mapping to deliver_events; the schedule; the REST API
   with its Cognito and API-key authorizers and binary media types; each role's policy;
3. `chalice deploy` again: nothing changes and nothing is duplicated;
4. `chalice delete --stage rehearsal` and `scripts/infra.py delete --stage rehearsal`,
   then lists what is left: the retained bucket, table and user pool, and nothing else.

The stage `rehearsal` is the prod stage's settings under another name, added to the copy.
Where moto cannot take what these tools send, scripts/rehearsal_shims.py bridges it inside
this moto only; the shims are listed in the output and in docs/deploy.md.
"""

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import package
import rehearsal_shims

import infra

ROOT = Path(__file__).resolve().parent.parent
STAGE = "rehearsal"
MODEL_STAGE = "prod"
REGION = "us-east-1"
APP_NAME = "image-service"
# Chalice's function name for each handler: the API is the app's own name.
FUNCTIONS = {
    "api_handler": f"{APP_NAME}-{STAGE}",
    "handle_upload": f"{APP_NAME}-{STAGE}-handle_upload",
    "cleanup": f"{APP_NAME}-{STAGE}-cleanup",
    "external_key": f"{APP_NAME}-{STAGE}-external_key",
    "deliver_events": f"{APP_NAME}-{STAGE}-deliver_events",
}
HANDLERS = {name: "app.app" if name == "api_handler" else f"app.{name}" for name in FUNCTIONS}
ADMIN = "first-admin"


@dataclass
class Report:
    shims: list[str] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    created: dict[str, Any] = field(default_factory=dict)
    redeploy: dict[str, Any] = field(default_factory=dict)
    left: dict[str, Any] = field(default_factory=dict)

    def check(self, ok: bool, what: str, detail: Any = None) -> None:
        self.checks.append({"ok": bool(ok), "what": what, "detail": detail})
        print(f"  {'ok  ' if ok else 'FAIL'} {what}" + ("" if ok else f": {detail}"), flush=True)

    @property
    def passed(self) -> bool:
        return all(check["ok"] for check in self.checks)


def copy_project(destination: Path) -> Path:
    """The tracked files, vendor/ and a link to .venv: what a clone that ran make vendor has."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    shutil.copytree(ROOT / "vendor", destination / "vendor", dirs_exist_ok=True)
    (destination / ".venv").symlink_to((ROOT / ".venv").resolve())
    shutil.rmtree(destination / ".chalice" / "deployed", ignore_errors=True)
    config_path = destination / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    stage = json.loads(json.dumps(config["stages"][MODEL_STAGE]))
    stage["environment_variables"]["STAGE"] = STAGE
    for function, settings in stage["lambda_functions"].items():
        settings["iam_policy_file"] = infra.policy_file(STAGE, function)
    config["stages"][STAGE] = stage
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    return destination


def start_aws() -> tuple[Any, str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def aws_environment(endpoint: str) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") or key == "AWS_CA_BUNDLE"
    }
    environment.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }
    )
    return environment


def run_step(report: Report, title: str, command: list[str], project: Path, env: dict) -> str:
    print(f"rehearse: {title}: {' '.join(command)}", flush=True)
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, check=False, timeout=600
    )
    seconds = round(time.monotonic() - started, 1)
    output = (result.stdout + result.stderr).strip()
    report.steps.append(
        {"step": title, "command": " ".join(command), "seconds": seconds, "output": output}
    )
    for line in result.stdout.strip().splitlines():
        print(f"    {line}", flush=True)
    if result.returncode != 0:
        raise RuntimeError(f"{title} failed ({result.returncode}):\n{output}")
    return output


class Account:
    """Reads back what the (local) account holds, with the calls one would make on AWS."""

    def __init__(self, endpoint: str):
        import boto3

        def client(service: str) -> Any:
            return boto3.client(
                service,
                endpoint_url=endpoint,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )

        self.lambda_ = client("lambda")
        self.iam = client("iam")
        self.s3 = client("s3")
        self.events = client("events")
        self.apigateway = client("apigateway")
        self.cloudformation = client("cloudformation")
        self.dynamodb = client("dynamodb")
        self.idp = client("cognito-idp")
        self.sqs = client("sqs")
        self.cloudwatch = client("cloudwatch")
        self.logs = client("logs")
        self.cloudfront = client("cloudfront")

    def queues(self) -> list[str]:
        return sorted(url.rsplit("/", 1)[1] for url in self.sqs.list_queues().get("QueueUrls", []))

    def alarms(self) -> dict[str, dict[str, Any]]:
        return {
            alarm["AlarmName"]: {
                "metric": f"{alarm['Namespace']}/{alarm['MetricName']}",
                "dimensions": {d["Name"]: d["Value"] for d in alarm["Dimensions"]},
            }
            for alarm in self.cloudwatch.describe_alarms()["MetricAlarms"]
        }

    def log_groups(self) -> dict[str, int | None]:
        groups = self.logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]
        return {group["logGroupName"]: group.get("retentionInDays") for group in groups}

    def distributions(self) -> dict[str, dict[str, Any]]:
        """The CloudFront distributions, with their trusted key groups' key counts."""
        listed = self.cloudfront.list_distributions()["DistributionList"].get("Items", [])
        found = {}
        for item in listed:
            config = self.cloudfront.get_distribution_config(Id=item["Id"])["DistributionConfig"]
            groups = config["DefaultCacheBehavior"].get("TrustedKeyGroups", {}).get("Items", [])
            keys = [
                len(self.cloudfront.get_key_group(Id=g)["KeyGroup"]["KeyGroupConfig"]["Items"])
                for g in groups
            ]
            origins = config["Origins"]["Items"]
            found[item["Id"]] = {
                "domain": item["DomainName"],
                "keys_per_group": keys,
                "origin_access_control": [o.get("OriginAccessControlId", "") for o in origins],
            }
        return found

    def functions(self) -> dict[str, dict[str, Any]]:
        found = self.lambda_.list_functions()["Functions"]
        return {
            f["FunctionName"]: self.lambda_.get_function_configuration(
                FunctionName=f["FunctionName"]
            )
            for f in found
        }

    def permissions(self, function: str) -> list[dict[str, Any]]:
        try:
            policy = self.lambda_.get_policy(FunctionName=function)["Policy"]
        except self.lambda_.exceptions.ResourceNotFoundException:
            return []
        return json.loads(policy)["Statement"]

    def roles(self) -> dict[str, dict[str, Any]]:
        roles = {}
        for role in self.iam.list_roles()["Roles"]:
            name = role["RoleName"]
            policies = self.iam.list_role_policies(RoleName=name)["PolicyNames"]
            roles[name] = {
                policy: self.iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
                for policy in policies
            }
        return roles

    def rules(self) -> dict[str, dict[str, Any]]:
        return {
            rule["Name"]: {
                "schedule": rule.get("ScheduleExpression"),
                "targets": [
                    t["Arn"] for t in self.events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
                ],
            }
            for rule in self.events.list_rules()["Rules"]
        }

    def rest_apis(self) -> dict[str, dict[str, Any]]:
        apis = {}
        for api in self.apigateway.get_rest_apis()["items"]:
            api_id = api["id"]
            resources = self.apigateway.get_resources(restApiId=api_id, limit=500)["items"]
            authorizers = self.apigateway.get_authorizers(restApiId=api_id)["items"]
            # Chalice replaces the API's definition on every deploy, which makes new
            # authorizer ids: a method is compared by its authorizer's name.
            names = {a["id"]: a["name"] for a in authorizers}
            methods = {}
            for resource in resources:
                for verb in resource.get("resourceMethods", {}):
                    method = self.apigateway.get_method(
                        restApiId=api_id, resourceId=resource["id"], httpMethod=verb
                    )
                    methods[f"{verb} {resource['path']}"] = {
                        "authorizationType": method.get("authorizationType"),
                        "authorizer": names.get(method.get("authorizerId")),
                        "integration": method.get("methodIntegration", {}).get("type"),
                    }
            apis[api_id] = {
                "name": api["name"],
                "binaryMediaTypes": api.get("binaryMediaTypes", []),
                "authorizers": [{k: v for k, v in a.items() if k != "id"} for a in authorizers],
                "stages": [
                    s["stageName"] for s in self.apigateway.get_stages(restApiId=api_id)["item"]
                ],
                "methods": methods,
            }
        return apis

    def buckets(self) -> list[str]:
        return sorted(b["Name"] for b in self.s3.list_buckets()["Buckets"])

    def notifications(self, bucket: str) -> list[dict[str, Any]]:
        found = self.s3.get_bucket_notification_configuration(Bucket=bucket)
        # Chalice rewrites the configuration on every deploy; S3 names it anew each time.
        return [
            {k: v for k, v in hook.items() if k != "Id"}
            for hook in found.get("LambdaFunctionConfigurations", [])
        ]

    def stacks(self) -> list[str]:
        return sorted(
            s["StackName"]
            for s in self.cloudformation.list_stacks()["StackSummaries"]
            if s["StackStatus"] != "DELETE_COMPLETE"
        )

    def tables(self) -> list[str]:
        return sorted(self.dynamodb.list_tables()["TableNames"])

    def user_pools(self) -> list[str]:
        return sorted(p["Id"] for p in self.idp.list_user_pools(MaxResults=60)["UserPools"])

    def everything(self) -> dict[str, Any]:
        """What a second deploy must leave alone and a delete must remove (or keep)."""
        return {
            "functions": {
                name: {
                    k: f.get(k)
                    for k in (
                        "Runtime",
                        "MemorySize",
                        "Timeout",
                        "Handler",
                        "Role",
                        "CodeSha256",
                        "Environment",
                    )
                }
                for name, f in self.functions().items()
            },
            "permissions": {name: self.permissions(name) for name in self.functions()},
            "roles": self.roles(),
            "rules": self.rules(),
            "rest_apis": self.rest_apis(),
            "stacks": self.stacks(),
            "buckets": self.buckets(),
            "notifications": {b: self.notifications(b) for b in self.buckets()},
            "tables": self.tables(),
            "user_pools": self.user_pools(),
            "distributions": self.distributions(),
            "queues": self.queues(),
            "alarms": self.alarms(),
        }


def check_deployment(report: Report, account: Account, project: Path) -> dict[str, Any]:
    settings = package.stage_settings(project, STAGE)
    environment = settings["environment"]
    held = account.everything()
    functions = held["functions"]
    arns = {}
    report.check(
        set(functions) == set(FUNCTIONS.values()),
        f"functions: exactly {', '.join(sorted(FUNCTIONS.values()))}",
        sorted(functions),
    )
    for handler, name in FUNCTIONS.items():
        function = functions.get(name, {})
        arns[handler] = (
            account.lambda_.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
            if function
            else None
        )
        wanted = settings["functions"].get(handler, settings["defaults"])
        seen = (
            function.get("Runtime"),
            function.get("MemorySize"),
            function.get("Timeout"),
            function.get("Handler"),
        )
        expected = (package.RUNTIME, wanted["memory"], wanted["timeout"], HANDLERS[handler])
        report.check(seen == expected, f"{name}: {' '.join(map(str, seen))}", expected)
        variables = (function.get("Environment") or {}).get("Variables", {})
        report.check(
            variables == environment,
            f"{name}: environment is the stage's {len(environment)} variables",
            {
                k: (variables.get(k), environment.get(k))
                for k in set(variables) | set(environment)
                if variables.get(k) != environment.get(k)
            },
        )
    bucket = environment["BUCKET_NAME"]
    hooks = held["notifications"].get(bucket, [])
    prefixes = [
        rule["Value"]
        for hook in hooks
        for rule in hook.get("Filter", {}).get("Key", {}).get("FilterRules", [])
        if rule["Name"].lower() == "prefix"
    ]
    report.check(
        len(hooks) == 1
        and hooks[0]["LambdaFunctionArn"] == arns["handle_upload"]
        and hooks[0]["Events"] == ["s3:ObjectCreated:*"]
        and prefixes == ["uploads/"],
        f"S3 notification: s3://{bucket}/uploads/ s3:ObjectCreated:* -> handle_upload",
        hooks,
    )
    principals = {
        s["Principal"]["Service"] for s in held["permissions"].get(FUNCTIONS["handle_upload"], [])
    }
    report.check("s3.amazonaws.com" in principals, "handle_upload may be invoked by S3", principals)
    mappings = [
        mapping
        for mapping in account.lambda_.list_event_source_mappings()["EventSourceMappings"]
        if mapping["FunctionArn"] == arns["deliver_events"]
    ]
    queues = [mapping["EventSourceArn"].rsplit(":", 1)[1] for mapping in mappings]
    report.check(
        queues == [environment["EVENTS_QUEUE"]],
        f"SQS: {environment['EVENTS_QUEUE']} -> deliver_events",
        mappings,
    )
    rate = f"rate({environment['CLEANUP_RATE_MINUTES']} minutes)"
    scheduled = [r for r in held["rules"].values() if arns["cleanup"] in r["targets"]]
    report.check(
        len(held["rules"]) == 1 and [r["schedule"] for r in scheduled] == [rate],
        f"schedule: {rate} -> cleanup ({', '.join(held['rules'])})",
        held["rules"],
    )
    apis = held["rest_apis"]
    report.check(
        len(apis) == 1,
        f"one REST API ({', '.join(a['name'] for a in apis.values())})",
        list(apis.values()),
    )
    api = next(
        iter(apis.values()),
        {"authorizers": [], "methods": {}, "binaryMediaTypes": [], "stages": []},
    )
    authorizers = {a["name"]: a for a in api["authorizers"]}
    users = authorizers.get("users", {})
    report.check(
        users.get("type") == "COGNITO_USER_POOLS"
        and users.get("providerARNs") == [environment["USER_POOL_ARN"]],
        f"authorizer users: COGNITO_USER_POOLS on {environment['USER_POOL_ARN']}",
        users,
    )
    key = authorizers.get("external_key", {})
    report.check(
        key.get("type") == "TOKEN"
        and arns["external_key"] in (key.get("authorizerUri") or "")
        and key.get("identitySource") == "method.request.header.X-Api-Key"
        and key.get("authorizerResultTtlInSeconds") == 30,
        "authorizer external_key: TOKEN from X-Api-Key, cached 30 s, -> external_key",
        key,
    )
    methods = api["methods"]
    expected_methods = {
        "GET /me": ("COGNITO_USER_POOLS", "users"),
        "POST /images": ("COGNITO_USER_POOLS", "users"),
        "POST /images/raw": ("COGNITO_USER_POOLS", "users"),
        "GET /external/images/{image_id}/render": ("CUSTOM", "external_key"),
        "GET /health": ("NONE", None),
    }
    for route, (kind, authorizer) in expected_methods.items():
        method = methods.get(route, {})
        seen = (method.get("authorizationType") or "NONE", method.get("authorizer"))
        report.check(seen == (kind, authorizer), f"{route}: {kind}", method)
    from chalicelib import validation

    missing = sorted(set(validation.IMAGE_TYPES) - set(api["binaryMediaTypes"]))
    report.check(
        not missing,
        f"binary media types include {len(validation.IMAGE_TYPES)} image types",
        missing,
    )
    report.check(api["stages"] == ["api"], "API stage: api", api["stages"])
    roles = held["roles"]
    role_of = {name: f.get("Role", "").rsplit("/", 1)[-1] for name, f in functions.items()}
    wrong = {}
    for handler, name in FUNCTIONS.items():
        policy_path = project / ".chalice" / infra.policy_file(STAGE, handler)
        own = list(roles.get(role_of.get(name, ""), {}).values())
        if own != [json.loads(policy_path.read_text())]:
            wrong[name] = own
    report.check(
        len(roles) == len(FUNCTIONS) and not wrong,
        f"IAM: {len(roles)} roles, each function's with exactly its own policy "
        f"({', '.join(infra.policy_file(STAGE, h) for h in FUNCTIONS)})",
        wrong or {name: list(p) for name, p in roles.items()},
    )
    return held


def check_operations(report: Report, account: Account, project: Path) -> dict[str, Any]:
    """What `make infra` and `infra.py connect` give an operator (docs/operations.md)."""
    environment = package.stage_settings(project, STAGE)["environment"]
    queue = f"{APP_NAME}-{STAGE}-upload-failures"
    queue_arn = account.sqs.get_queue_attributes(
        QueueUrl=account.sqs.get_queue_url(QueueName=queue)["QueueUrl"],
        AttributeNames=["QueueArn"],
    )["Attributes"]["QueueArn"]
    found = account.lambda_.get_function_event_invoke_config(
        FunctionName=FUNCTIONS["handle_upload"]
    )
    seen = (
        found.get("MaximumRetryAttempts"),
        found.get("MaximumEventAgeInSeconds"),
        found.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"),
    )
    report.check(
        seen == (2, 3600, queue_arn),
        f"handle_upload: 2 retries, events up to 3600 s old, then the queue {queue}",
        seen,
    )
    tracing = {
        name: account.lambda_.get_function_configuration(FunctionName=name)
        .get("TracingConfig", {})
        .get("Mode")
        for name in FUNCTIONS.values()
    }
    report.check(
        set(tracing.values()) == {"Active"},
        "X-Ray: tracing active on every function",
        tracing,
    )
    alarms = account.alarms()
    watched = {
        (
            alarm["metric"],
            alarm["dimensions"].get("FunctionName") or alarm["dimensions"].get("QueueName"),
        )
        for alarm in alarms.values()
    }
    wanted = {("AWS/SQS/ApproximateNumberOfMessagesVisible", queue)} | {
        (f"AWS/Lambda/{metric}", name)
        for name in FUNCTIONS.values()
        for metric in ("Errors", "Throttles")
    }
    report.check(
        watched == wanted,
        f"alarms: the failure queue's depth, errors and throttles of each function ({len(alarms)})",
        sorted(watched ^ wanted),
    )
    retention = int(environment["LOG_RETENTION_DAYS"])
    groups = account.log_groups()
    wanted_groups = {f"/aws/lambda/{name}": retention for name in FUNCTIONS.values()}
    report.check(
        {g: groups.get(g) for g in wanted_groups} == wanted_groups,
        f"log groups: one per function, kept {retention} days (LOG_RETENTION_DAYS)",
        groups,
    )
    bucket = environment["BUCKET_NAME"]
    statements = json.loads(account.s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    report.check(
        any(
            s["Effect"] == "Deny"
            and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            for s in statements
        ),
        f"bucket {bucket}: requests without TLS are denied",
        statements,
    )
    pool = account.idp.describe_user_pool(UserPoolId=environment["USER_POOL_ID"])["UserPool"]
    report.check(
        pool.get("DeletionProtection") == "ACTIVE",
        "user pool: deletion protection on",
        pool.get("DeletionProtection"),
    )
    return {"alarms": sorted(alarms), "log_groups": groups, "queue": queue_arn}


def check_admin(report: Report, account: Account, project: Path, printed: str) -> None:
    pool = package.stage_settings(project, STAGE)["environment"]["USER_POOL_ID"]
    user = account.idp.admin_get_user(UserPoolId=pool, Username=ADMIN)
    groups = account.idp.admin_list_groups_for_user(UserPoolId=pool, Username=ADMIN)["Groups"]
    attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    report.check(
        user["UserStatus"] == "FORCE_CHANGE_PASSWORD"
        and [g["GroupName"] for g in groups] == ["admins"]
        and attributes.get("email_verified") == "true"
        and "temporary password" in printed,
        f"make admin: {ADMIN} in admins, email verified, a temporary password to change",
        (user["UserStatus"], groups, attributes),
    )


def compare_redeploy(report: Report, before: dict[str, Any], after: dict[str, Any]) -> None:
    counts = {kind: len(before[kind]) for kind in ("functions", "roles", "rules", "rest_apis")}
    changed = sorted(kind for kind in before if before[kind] != after[kind])
    report.redeploy = {"resources": counts, "changed": changed}
    report.check(
        not changed,
        f"second deploy: no change, nothing duplicated ({counts})",
        {kind: (before[kind], after[kind]) for kind in changed},
    )


def check_cdn(report: Report, account: Account, project: Path) -> None:
    """The CDN stage option: one distribution over the private bucket through origin access
    control, trusting one key group of the stage's two keys, and the app pointed at it."""
    environment = package.stage_settings(project, STAGE)["environment"]
    distributions = account.distributions()
    report.check(len(distributions) == 1, "cdn: one CloudFront distribution", distributions)
    for distribution_id, found in distributions.items():
        # moto keeps no origin's OriginAccessControlId (its Origin model drops it), so the
        # control is read back on its own: the template gives the origin its id.
        controls = account.cloudfront.list_origin_access_controls()["OriginAccessControlList"]
        kinds = [c["OriginAccessControlOriginType"] for c in controls.get("Items", [])]
        report.check(
            found["keys_per_group"] == [2] and kinds == ["s3"],
            "cdn: an S3 origin access control, a trusted key group of two keys",
            {**found, "origin_access_controls": kinds},
        )
        wanted = (f"https://{found['domain']}", distribution_id)
        seen = (environment.get("CDN_URL"), environment.get("CDN_DISTRIBUTION_ID"))
        report.check(seen == wanted, "cdn: the stage's CDN_URL and CDN_DISTRIBUTION_ID", seen)
    policy = json.loads(account.s3.get_bucket_policy(Bucket=environment["BUCKET_NAME"])["Policy"])
    # The policy also denies every request without TLS; who may read is in its Allows.
    readers = [s["Principal"] for s in policy["Statement"] if s["Effect"] == "Allow"]
    report.check(
        readers == [{"Service": "cloudfront.amazonaws.com"}],
        "cdn: the bucket policy lets CloudFront alone read",
        readers,
    )


def check_left(report: Report, account: Account, environment: dict[str, str]) -> None:
    held = account.everything()
    report.left = {
        "queues": held["queues"],
        "alarms": sorted(held["alarms"]),
        "buckets": held["buckets"],
        "tables": held["tables"],
        "user_pools": held["user_pools"],
        "functions": sorted(held["functions"]),
        "roles": sorted(held["roles"]),
        "rules": sorted(held["rules"]),
        "rest_apis": sorted(a["name"] for a in held["rest_apis"].values()),
        "stacks": held["stacks"],
        "notifications": {b: n for b, n in held["notifications"].items() if n},
        "distributions": sorted(held["distributions"]),
    }
    report.check(
        held["buckets"] == [environment["BUCKET_NAME"]]
        and held["tables"] == [environment["TABLE_NAME"]]
        and held["user_pools"] == [environment["USER_POOL_ID"]],
        "left: the retained bucket, table and user pool",
        report.left,
    )
    kinds = ("functions", "roles", "rules", "rest_apis", "stacks", "notifications")
    gone = {k: report.left[k] for k in (*kinds, "queues", "alarms", "distributions")}
    report.check(
        not any(gone.values()),
        "left: nothing else (no function, role, rule, API, stack, notification, queue, alarm"
        " or CDN)",
        gone,
    )


def rehearse(report: Report, scratch: Path) -> None:
    report.shims = rehearsal_shims.install()
    print("rehearse: moto compatibility shims (rehearsal only; real AWS does this itself):")
    for line in report.shims:
        print(f"  - {line}")
    server, endpoint = start_aws()
    try:
        project = copy_project(scratch / "project")
        env = aws_environment(endpoint)
        account = Account(endpoint)
        chalice = str(project / ".venv" / "bin" / "chalice")
        python = str(project / ".venv" / "bin" / "python")
        # The copy links this checkout's .venv; `-o` keeps make from reinstalling the project
        # into it from the copy (whose files are newer than .venv/.installed), which would
        # leave the venv's imgsvc pointing at a folder deleted with the scratch copy.
        venv = [f"VENV={project / '.venv'}", "-o", str(project / ".venv" / ".installed")]
        # The CDN stage option, with two signing keys (as a rotation has them).
        keys = [python, "scripts/cdn_keys.py"]
        for slot in ("a", "b"):
            command = [*keys, "add", "--stage", STAGE, "--slot", slot]
            run_step(report, f"cdn key {slot}", command, project, env)
        run_step(report, "make infra", ["make", "infra", f"STAGE={STAGE}", *venv], project, env)
        command = [*keys, "activate", "--stage", STAGE, "--slot", "a"]
        run_step(report, "cdn key a signs", command, project, env)
        run_step(report, "chalice deploy", [chalice, "deploy", "--stage", STAGE], project, env)
        print("rehearse: what the account holds", flush=True)
        before = check_deployment(report, account, project)
        check_cdn(report, account, project)
        report.created = {
            "functions": sorted(before["functions"]),
            "roles": sorted(before["roles"]),
            "rules": sorted(before["rules"]),
            "rest_apis": [a["name"] for a in before["rest_apis"].values()],
            "stacks": before["stacks"],
            "buckets": before["buckets"],
            "tables": before["tables"],
            "user_pools": before["user_pools"],
            "distributions": sorted(before["distributions"]),
        }
        python = str(project / ".venv" / "bin" / "python")
        connect = [python, "scripts/infra.py", "connect", "--stage", STAGE]
        run_step(report, "infra connect", connect, project, env)
        report.created["operations"] = check_operations(report, account, project)
        admin = ["make", "admin", f"STAGE={STAGE}", f"USER={ADMIN}", f"EMAIL={ADMIN}@example.com"]
        printed = run_step(report, "make admin", [*admin, *venv], project, env)
        check_admin(report, account, project, printed)
        redriven = run_step(
            report, "make redrive", ["make", "redrive", f"STAGE={STAGE}", *venv], project, env
        )
        report.check(
            "re-drove 0 event(s)" in redriven,
            "make redrive: finds the failure queue (empty: nothing to send)",
            redriven,
        )
        before = account.everything()
        run_step(
            report, "chalice deploy (again)", [chalice, "deploy", "--stage", STAGE], project, env
        )
        compare_redeploy(report, before, account.everything())
        run_step(report, "chalice delete", [chalice, "delete", "--stage", STAGE], project, env)
        run_step(
            report,
            "infra delete",
            [python, "scripts/infra.py", "delete", "--stage", STAGE],
            project,
            env,
        )
        print("rehearse: what is left", flush=True)
        check_left(report, account, package.stage_settings(project, STAGE)["environment"])
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="write the whole report here as JSON")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))  # chalicelib.validation names the image media types
    report = Report()
    with tempfile.TemporaryDirectory(prefix="rehearse-") as scratch:
        try:
            rehearse(report, Path(scratch))
        except RuntimeError as error:
            report.check(False, "rehearsal ran to the end", str(error))
    if args.report:
        args.report.write_text(json.dumps(report.__dict__, indent=2, default=str))
    print(
        f"rehearse: {'passed' if report.passed else 'FAILED'} "
        f"({sum(c['ok'] for c in report.checks)}/{len(report.checks)} checks)"
    )
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
