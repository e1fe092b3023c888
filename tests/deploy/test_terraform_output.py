"""What `make package` hands users as Terraform: accepted by Terraform >= 1.5 with the AWS
provider 5.x (`terraform validate`, where both are on disk), and free of names that a
second stage in the same account would also claim."""

import json

import package
import pytest
import terraform_output

import vendor
from tests.deploy import ROOT


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """chalice package and the rewrite, as `make package` runs them, for dev and prod."""
    vendor.vendor("x86_64")
    built = {}
    for stage in ("dev", "prod"):
        out = tmp_path_factory.mktemp(f"package-{stage}") / "out"
        package.run_chalice(ROOT, stage, out)
        built[f"{stage}-raw"] = json.loads((out / "chalice.tf.json").read_text())
        package.write_terraform(out, stage)
        built[stage] = out
    return built


def terraform_of(out):
    return json.loads((out / "chalice.tf.json").read_text())


def test_the_terraform_asks_for_terraform_1_5_and_the_aws_provider_5(packages):
    tf = terraform_of(packages["dev"])

    assert tf["terraform"]["required_version"] == ">= 1.5"
    assert tf["terraform"]["required_providers"] == {
        "aws": {"source": "hashicorp/aws", "version": ">= 5.0, < 6.0"}
    }
    assert "null_data_source" not in tf["data"]
    assert "null_data_source" not in json.dumps(tf["resource"])


def test_the_api_stage_is_a_stage_resource_redeployed_when_the_api_changes(packages):
    tf = terraform_of(packages["dev"])
    deployment = tf["resource"]["aws_api_gateway_deployment"]["rest_api"]
    stage = tf["resource"]["aws_api_gateway_stage"]["rest_api"]

    assert "stage_name" not in deployment
    assert deployment["triggers"] == {"redeployment": "${md5(local.chalice_api_swagger)}"}
    assert stage["stage_name"] == "api"
    assert stage["deployment_id"] == "${aws_api_gateway_deployment.rest_api.id}"
    assert tf["output"]["EndpointURL"]["value"] == "${aws_api_gateway_stage.rest_api.invoke_url}"


def test_two_stages_in_one_account_claim_no_name_in_common(packages):
    dev = terraform_output.account_wide_names(terraform_of(packages["dev"]))
    prod = terraform_output.account_wide_names(terraform_of(packages["prod"]))

    assert dev & prod == set()
    assert ("aws_cloudwatch_event_rule", "image-service-prod-cleanup-event") in prod
    assert ("aws_api_gateway_rest_api", "image-service-prod") in prod
    assert ("aws_lambda_function", "image-service-prod") in prod


def test_chalices_own_terraform_would_collide_between_stages(packages):
    """Why the rewrite renames: Chalice names the rule and the API the same in every stage."""
    dev = terraform_output.account_wide_names(packages["dev-raw"])
    prod = terraform_output.account_wide_names(packages["prod-raw"])

    assert ("aws_cloudwatch_event_rule", "cleanup-event") in dev & prod


def test_the_rewrite_changes_nothing_else(packages):
    raw, tf = packages["dev-raw"], terraform_of(packages["dev"])

    assert tf["locals"] == raw["locals"]
    for kind in ("aws_lambda_function", "aws_iam_role_policy", "aws_s3_bucket_notification"):
        for name, resource in raw["resource"][kind].items():
            changed = {k for k, v in resource.items() if tf["resource"][kind][name][k] != v}
            assert changed <= {"function_name"}, (kind, name, changed)


def test_the_inspection_flags_chalices_shared_names(packages):
    report = package.Inspection()

    package.inspect_names(packages["dev-raw"], "dev", report)

    assert len(report.problems) == 1
    assert "cleanup-event" in report.problems[0]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_terraform_validate_accepts_the_package_without_warnings(packages, stage):
    why_not = terraform_output.why_validate_cannot_run()
    if why_not:
        pytest.skip(f"terraform validate cannot run here: {why_not}")

    result = terraform_output.terraform_validate(packages[stage])

    assert result["valid"], result["diagnostics"]
    assert result["diagnostics"] == []
    assert result["provider_selections"]["registry.terraform.io/hashicorp/aws"].startswith("5.")


def test_terraform_refuses_chalices_own_terraform(packages, tmp_path):
    """The gap this closes: Chalice's output pins Terraform < 1.4, so a current Terraform
    will not even initialise it."""
    why_not = terraform_output.why_validate_cannot_run()
    if why_not:
        pytest.skip(f"terraform validate cannot run here: {why_not}")
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "chalice.tf.json").write_text(json.dumps(packages["dev-raw"]))
    (raw / "deployment.zip").write_bytes((packages["dev"] / "deployment.zip").read_bytes())

    with pytest.raises(RuntimeError, match="terraform init failed"):
        terraform_output.terraform_validate(raw)
