"""Builds the stage's deployment with `chalice package --pkg-format terraform` and inspects it.

    python scripts/package.py --stage dev [--out out] [--arch x86_64|arm64]

Terraform, because the SAM format cannot express `on_s3_event`. Before packaging, Chalice's
own pre-deploy validation runs for the stage (scripts/validate.py: `chalice package` skips
it, `chalice deploy` does not). The Terraform is then rewritten for Terraform >= 1.5 and the
AWS provider 5.x (scripts/terraform_output.py). The inspection checks what would otherwise
only show on AWS, and prints what it saw:
- the zip holds Pillow's compiled core for CPython 3.12 on manylinux (the vendored file, byte
  for byte) and no compiled module for another Python or machine;
- its unzipped size stays far below Lambda's 250 MB;
- chalice.tf.json has the runtime, architecture, memory and timeout of every function as
  .chalice/config.json sets them; the API's Cognito authorizer on the stage's user pool and
  every custom authorizer wired to its Lambda; the S3 notification on uploads/ to the
  processing function; the cleanup schedule; and the stage's IAM policy on every role;
- every account-wide name (roles, functions, the schedule rule, the API) carries the stage;
- `terraform validate` passes without warnings, where terraform and the provider are on disk.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import terraform_output
import validate

from vendor import MACHINES, read_marker

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = "python3.12"
MAX_UNZIPPED_MB = 200  # Lambda refuses more than 250 MB unzipped; keep a wide margin
PROCESSING_FUNCTION = "handle_upload"
SCHEDULED_FUNCTION = "cleanup"
API_FUNCTION = "api_handler"
APP_NAME = "image-service"


@dataclass
class Inspection:
    facts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def check(self, ok: bool, fact: str, problem: str) -> None:
        (self.facts if ok else self.problems).append(fact if ok else problem)


def stage_settings(project: Path, stage: str) -> dict[str, Any]:
    """The stage's effective settings, resolved as Chalice resolves them."""
    config = json.loads((project / ".chalice" / "config.json").read_text())
    stage_config = config["stages"][stage]
    environment = {
        **config.get("environment_variables", {}),
        **stage_config.get("environment_variables", {}),
    }
    defaults = {
        "memory": stage_config.get("lambda_memory_size", config.get("lambda_memory_size", 128)),
        "timeout": stage_config.get("lambda_timeout", config.get("lambda_timeout", 60)),
    }
    functions = {}
    for name, overrides in stage_config.get("lambda_functions", {}).items():
        functions[name] = {
            "memory": overrides.get("lambda_memory_size", defaults["memory"]),
            "timeout": overrides.get("lambda_timeout", defaults["timeout"]),
        }
    # Each function's own policy (scripts/infra.py writes them; the stage's for the others).
    shared = stage_config.get("iam_policy_file", config.get("iam_policy_file"))
    policy_files = {
        name: overrides.get("iam_policy_file", shared)
        for name, overrides in stage_config.get("lambda_functions", {}).items()
        if overrides.get("iam_policy_file", shared)
    }
    return {
        "environment": environment,
        "defaults": defaults,
        "functions": functions,
        "policies": {
            name: json.loads((project / ".chalice" / file).read_text())
            for name, file in policy_files.items()
        },
        "policy_files": policy_files,
        "architecture": stage_config.get("lambda_architecture", "x86_64"),
    }


def run_chalice(project: Path, stage: str, out: Path) -> float:
    """chalice package into out/ (emptied first). Returns the seconds it took."""
    settings = stage_settings(project, stage)
    environment = dict(os.environ)
    if not (environment.get("AWS_REGION") or environment.get("AWS_DEFAULT_REGION")):
        # Packaging needs a region but talks to no AWS API: take the user pool's.
        environment["AWS_DEFAULT_REGION"] = settings["environment"]["USER_POOL_ARN"].split(":")[3]
    if out.exists():
        shutil.rmtree(out)
    chalice = Path(sys.executable).parent / "chalice"
    command = [str(chalice), "--project-dir", str(project), "package"]
    command += ["--pkg-format", "terraform", "--stage", stage, str(out)]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"chalice package failed:\n{result.stdout}{result.stderr}")
    return time.monotonic() - started


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def inspect_zip(zip_path: Path, vendor_dir: Path, arch: str, report: Inspection) -> None:
    suffix = f".cpython-312-{MACHINES[arch]}-linux-gnu.so"
    core = f"PIL/_imaging{suffix}"
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        unzipped = sum(info.file_size for info in archive.infolist())
        report.check(
            core in names,
            f"zip holds {core}",
            f"zip has no {core}: Pillow for {RUNTIME} {arch} is missing (make vendor)",
        )
        if core in names:
            packaged = _sha256(archive.read(core))
            vendored_file = vendor_dir / core
            vendored = _sha256(vendored_file.read_bytes()) if vendored_file.is_file() else None
            report.check(
                packaged == vendored,
                f"{core} is the vendored manylinux build (sha256 {packaged[:16]}…)",
                f"{core} in the zip (sha256 {packaged[:16]}…) is not vendor/{core} "
                f"({(vendored or 'missing')[:16]}…): it was built or fetched elsewhere",
            )
        foreign = sorted(
            name
            for name in names
            if re.search(r"\.cpython-\d+-[^/]*\.so$", name) and not name.endswith(suffix)
        )
        report.check(
            not foreign,
            f"no compiled module for another Python or machine ({len(names)} files)",
            f"compiled modules not for {RUNTIME} {arch}: {', '.join(foreign[:5])}",
        )
    megabytes = unzipped / 1e6
    report.check(
        megabytes <= MAX_UNZIPPED_MB,
        f"size: {zip_path.stat().st_size / 1e6:.1f} MB zipped, {megabytes:.1f} MB unzipped "
        f"(Lambda's limit: 250 MB unzipped)",
        f"unzipped size {megabytes:.1f} MB is above {MAX_UNZIPPED_MB} MB",
    )


def _functions(tf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return tf["resource"].get("aws_lambda_function", {})


def inspect_functions(
    tf: dict[str, Any], settings: dict[str, Any], arch: str, report: Inspection
) -> None:
    for name, function in sorted(_functions(tf).items()):
        wanted = settings["functions"].get(name, settings["defaults"])
        seen = (
            function["runtime"],
            function.get("architectures", ["x86_64"]),
            function["memory_size"],
            function["timeout"],
        )
        expected = (RUNTIME, [arch], wanted["memory"], wanted["timeout"])
        report.check(
            seen == expected,
            f"function {name}: {seen[0]} {seen[1][0]}, {seen[2]} MB, {seen[3]} s",
            f"function {name} is {seen}, config says {expected}",
        )
    for name in (API_FUNCTION, PROCESSING_FUNCTION, SCHEDULED_FUNCTION):
        report.check(name in _functions(tf), f"function {name} exists", f"no function {name}")


def inspect_api(tf: dict[str, Any], settings: dict[str, Any], report: Inspection) -> None:
    swagger = json.loads(tf["locals"]["chalice_api_swagger"])
    definitions = swagger.get("securityDefinitions", {})
    pool_arn = settings["environment"]["USER_POOL_ARN"]
    used = {
        name
        for path in swagger["paths"].values()
        for method in path.values()
        if isinstance(method, dict)
        for security in method.get("security", [])
        for name in security
    }
    cognito = {
        name: spec["x-amazon-apigateway-authorizer"]
        for name, spec in definitions.items()
        if spec.get("x-amazon-apigateway-authtype") == "cognito_user_pools"
    }
    report.check(
        bool(cognito) and all(a.get("providerARNs") == [pool_arn] for a in cognito.values()),
        f"API authorizer {', '.join(cognito)}: Cognito user pool {pool_arn}",
        f"no Cognito authorizer on the stage's pool {pool_arn} (found {cognito})",
    )
    for name in sorted(used - set(cognito)):
        authorizer = definitions.get(name, {}).get("x-amazon-apigateway-authorizer", {})
        report.check(
            authorizer.get("type") in ("token", "request") and "authorizerUri" in authorizer,
            f"API authorizer {name}: custom {authorizer.get('type')} authorizer on header "
            f"{definitions.get(name, {}).get('name')}",
            f"routes use security {name!r}, which the API defines as {definitions.get(name)}, "
            "not as the app's authorizer Lambda. Chalice reserves the name 'api_key' for API "
            "Gateway's own API keys: rename that authorizer function in app.py.",
        )


def inspect_events(tf: dict[str, Any], settings: dict[str, Any], report: Inspection) -> None:
    bucket = settings["environment"]["BUCKET_NAME"]
    hooks = [
        (notification["bucket"], hook)
        for notification in tf["resource"].get("aws_s3_bucket_notification", {}).values()
        for hook in notification.get("lambda_function", [])
    ]
    processing_arn = f"${{aws_lambda_function.{PROCESSING_FUNCTION}.arn}}"
    report.check(
        any(
            on == bucket
            and hook.get("filter_prefix") == "uploads/"
            and hook.get("lambda_function_arn") == processing_arn
            and "s3:ObjectCreated:*" in hook.get("events", [])
            for on, hook in hooks
        ),
        f"S3 notification: s3://{bucket}/uploads/ ObjectCreated -> {PROCESSING_FUNCTION}",
        f"no ObjectCreated notification on s3://{bucket}/uploads/ for {PROCESSING_FUNCTION}",
    )
    rate = settings["environment"].get("CLEANUP_RATE_MINUTES")
    rules = tf["resource"].get("aws_cloudwatch_event_rule", {})
    targets = tf["resource"].get("aws_cloudwatch_event_target", {})
    scheduled = [
        rules[name]["schedule_expression"]
        for name, target in targets.items()
        if name in rules and target.get("arn", "").find(f".{SCHEDULED_FUNCTION}.") >= 0
    ]
    report.check(
        scheduled == [f"rate({rate} minutes)"],
        f"schedule: {scheduled[0] if scheduled else ''} -> {SCHEDULED_FUNCTION}",
        f"{SCHEDULED_FUNCTION} is scheduled {scheduled}, config says rate({rate} minutes)",
    )


def inspect_policy(tf: dict[str, Any], settings: dict[str, Any], report: Inspection) -> None:
    """Each function's role carries exactly its own policy file, and no role another's."""
    policies = tf["resource"].get("aws_iam_role_policy", {})
    packaged = sorted(
        json.dumps(json.loads(p["policy"]), sort_keys=True) for p in policies.values()
    )
    wanted = sorted(json.dumps(p, sort_keys=True) for p in settings["policies"].values())
    report.check(
        bool(policies) and packaged == wanted,
        f"IAM: {len(policies)} roles, each with its function's own policy "
        f"({', '.join(sorted(settings['policy_files'].values()))})",
        f"the roles' policies are not the functions' own: {len(packaged)} packaged, "
        f"{len(wanted)} wanted",
    )


def inspect_names(tf: dict[str, Any], stage: str, report: Inspection) -> None:
    prefix = f"{APP_NAME}-{stage}"
    names = sorted(name for _, name in terraform_output.account_wide_names(tf))
    shared = [name for name in names if name != prefix and not name.startswith(f"{prefix}-")]
    report.check(
        bool(names) and not shared,
        f"names: all {len(names)} account-wide names start with {prefix}",
        f"names another stage in the account would also use: {', '.join(shared)}",
    )


def inspect_terraform(out: Path, report: Inspection) -> None:
    why_not = terraform_output.why_validate_cannot_run()
    if why_not:
        report.facts.append(f"terraform validate skipped: {why_not}")
        return
    result = terraform_output.terraform_validate(out)
    said = [
        f"{d['severity']}: {d['summary']}: {d.get('detail', '')}" for d in result["diagnostics"]
    ]
    versions = ", ".join(
        f"{k.rsplit('/', 1)[1]} {v}" for k, v in result["provider_selections"].items()
    )
    report.check(
        result["valid"] and not said,
        f"terraform validate: valid, no warnings (Terraform {result['terraform_version']}, "
        f"{versions})",
        "terraform validate: " + ("; ".join(said) or "invalid"),
    )


def write_terraform(out: Path, stage: str) -> None:
    path = out / "chalice.tf.json"
    tf = terraform_output.modernize(json.loads(path.read_text()), APP_NAME, stage)
    path.write_text(json.dumps(tf, indent=2) + "\n")


def inspect(out: Path, project: Path, stage: str, arch: str) -> Inspection:
    report = Inspection()
    settings = stage_settings(project, stage)
    vendor_dir = project / "vendor"
    marker = read_marker(vendor_dir) or {}
    report.check(
        marker.get("arch") == arch == settings["architecture"],
        f"vendor/ and the functions are both {arch}",
        f"vendor/ is {marker.get('arch')}, the functions are {settings['architecture']}, "
        f"packaging for {arch}: set lambda_architecture or run make vendor ARCH=...",
    )
    inspect_zip(out / "deployment.zip", vendor_dir, arch, report)
    tf = json.loads((out / "chalice.tf.json").read_text())
    inspect_functions(tf, settings, arch, report)
    inspect_api(tf, settings, report)
    inspect_events(tf, settings, report)
    inspect_policy(tf, settings, report)
    inspect_names(tf, stage, report)
    inspect_terraform(out, report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--arch", choices=sorted(MACHINES), default="x86_64")
    parser.add_argument("--out", type=Path, default=ROOT / "out")
    parser.add_argument("--project-dir", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    passed, said = validate.validate_stage(args.project_dir, args.stage)
    if not passed:
        print(f"package: chalice deploy would refuse stage {args.stage}:\n{said}", file=sys.stderr)
        return 1
    print(f"package: chalice's pre-deploy validation passes for stage {args.stage}")
    try:
        seconds = run_chalice(args.project_dir, args.stage, args.out)
    except RuntimeError as error:
        print(f"package: {error}", file=sys.stderr)
        return 1
    write_terraform(args.out, args.stage)
    print(f"package: chalice package (terraform) for stage {args.stage} in {seconds:.1f} s")
    print(f"  {args.out}/chalice.tf.json, {args.out}/deployment.zip")
    report = inspect(args.out, args.project_dir, args.stage, args.arch)
    for fact in report.facts:
        print(f"  ok   {fact}")
    for problem in report.problems:
        print(f"  FAIL {problem}", file=sys.stderr)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
