"""Makes `chalice package --pkg-format terraform` output what a current Terraform accepts,
and runs `terraform validate` on it where Terraform and the AWS provider are installed.

Chalice 1.34 writes for Terraform < 1.4 and the AWS provider < 5, declares a
`null_data_source` nothing reads (removed from the null provider's future, deprecated now),
sets the API stage through the deployment's deprecated `stage_name`, and names the schedule
rule `cleanup-event` and the REST API after the app alone, so two stages in one account
would fight over the rule. `modernize` rewrites exactly those parts:

- Terraform >= 1.5 and hashicorp/aws 5.x;
- no null_data_source (and no null provider);
- an `aws_api_gateway_stage` holding the stage, the deployment redeployed when the API
  definition changes (`triggers`), and the endpoint output read from the stage;
- every account-wide name carrying the app and the stage.
"""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

TERRAFORM_VERSION = ">= 1.5"
AWS_PROVIDER = {"source": "hashicorp/aws", "version": ">= 5.0, < 6.0"}
# Where a provider may already be on disk when the registry cannot be reached: a
# filesystem mirror laid out as registry.terraform.io/hashicorp/aws/<version>/<os_arch>/.
MIRROR_ENV = "TF_PROVIDER_MIRROR"
MIRROR_CANDIDATES = (
    Path("/opt/tf-plugins"),
    Path.home() / ".terraform.d" / "plugins",
    Path("/usr/share/terraform/plugins"),
)
# Resource types whose `name` must be unique in an account and region.
ACCOUNT_WIDE_NAMES = {
    "aws_iam_role": "name",
    "aws_lambda_function": "function_name",
    "aws_cloudwatch_event_rule": "name",
    "aws_api_gateway_rest_api": "name",
}


def modernize(tf: dict[str, Any], app_name: str, stage: str) -> dict[str, Any]:
    """chalice.tf.json as Terraform >= 1.5 with the AWS provider 5.x wants it."""
    tf = json.loads(json.dumps(tf))
    tf["terraform"] = {
        "required_version": TERRAFORM_VERSION,
        "required_providers": {"aws": AWS_PROVIDER},
    }
    data = tf.get("data", {})
    data.pop("null_data_source", None)
    resources = tf["resource"]
    for deployment_name, deployment in resources.get("aws_api_gateway_deployment", {}).items():
        stage_name = deployment.pop("stage_name")
        deployment.pop("stage_description", None)
        deployment["triggers"] = {"redeployment": "${md5(local.chalice_api_swagger)}"}
        resources.setdefault("aws_api_gateway_stage", {})[deployment_name] = {
            "stage_name": stage_name,
            "rest_api_id": deployment["rest_api_id"],
            "deployment_id": f"${{aws_api_gateway_deployment.{deployment_name}.id}}",
        }
        for output in tf.get("output", {}).values():
            output["value"] = output["value"].replace(
                f"aws_api_gateway_deployment.{deployment_name}.invoke_url",
                f"aws_api_gateway_stage.{deployment_name}.invoke_url",
            )
    prefix = f"{app_name}-{stage}"
    for resource_type, attribute in ACCOUNT_WIDE_NAMES.items():
        for resource in resources.get(resource_type, {}).values():
            name = resource[attribute]
            if name != prefix and not name.startswith(f"{prefix}-"):
                resource[attribute] = f"{prefix}-{name}".removesuffix(f"-{app_name}")
    return tf


def account_wide_names(tf: dict[str, Any]) -> set[tuple[str, str]]:
    """(resource type, name) of everything whose name must be unique in the account."""
    return {
        (resource_type, resource[attribute])
        for resource_type, attribute in ACCOUNT_WIDE_NAMES.items()
        for resource in tf["resource"].get(resource_type, {}).values()
    }


def find_provider_mirror() -> Path | None:
    """A directory holding the hashicorp/aws 5.x provider, or None."""
    named = os.environ.get(MIRROR_ENV)
    for candidate in [Path(named)] if named else MIRROR_CANDIDATES:
        provider = candidate / "registry.terraform.io" / "hashicorp" / "aws"
        if provider.is_dir() and any(v.name.startswith("5.") for v in provider.iterdir()):
            return candidate
    return None


def why_validate_cannot_run() -> str | None:
    if shutil.which("terraform") is None:
        return "no `terraform` binary on PATH"
    if find_provider_mirror() is None:
        places = ", ".join(str(p) for p in MIRROR_CANDIDATES)
        return (
            f"no hashicorp/aws 5.x provider on disk (looked in ${MIRROR_ENV}, {places}); "
            "`terraform init` here cannot download it"
        )
    return None


def terraform_validate(out: Path) -> dict[str, Any]:
    """`terraform init -backend=false` from the local provider mirror, then
    `terraform validate -json`, in a copy of out/ (so out/ stays what users are handed)."""
    mirror = find_provider_mirror()
    if mirror is None or shutil.which("terraform") is None:
        raise RuntimeError(why_validate_cannot_run())
    with tempfile.TemporaryDirectory(prefix="tf-validate-") as scratch:
        work = Path(scratch) / "module"
        shutil.copytree(out, work)
        cli_config = Path(scratch) / "terraform.rc"
        cli_config.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{ path = "{mirror}" }}\n'
            '  direct { exclude = ["registry.terraform.io/*/*"] }\n'
            "}\n"
        )
        environment = {
            **os.environ,
            "TF_CLI_CONFIG_FILE": str(cli_config),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
        }
        init = subprocess.run(
            ["terraform", "init", "-input=false", "-backend=false", "-no-color"],
            cwd=work,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        if init.returncode != 0:
            raise RuntimeError(f"terraform init failed:\n{init.stdout}{init.stderr}")
        validate = subprocess.run(
            ["terraform", "validate", "-json", "-no-color"],
            cwd=work,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        version = subprocess.run(
            ["terraform", "version", "-json"],
            cwd=work,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
    result = json.loads(validate.stdout)
    about = json.loads(version.stdout)
    result["terraform_version"] = about.get("terraform_version")
    result["provider_selections"] = about.get("provider_selections", {})
    return result
