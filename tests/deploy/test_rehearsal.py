"""The deploy rehearsal (`make rehearse`, scripts/rehearse.py): the real `make infra` and the
real `chalice deploy`, redeploy and delete against a fresh moto server. Run once (about
45 s); each test reads one part of its report."""

import json
import subprocess
import sys

import pytest
import rehearsal_shims

import infra
import vendor
from tests.deploy import ROOT, SCRIPTS


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    vendor.vendor("x86_64")
    report_path = tmp_path_factory.mktemp("rehearsal") / "report.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "rehearse.py"), "--report", str(report_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    report = json.loads(report_path.read_text())
    report["returncode"] = result.returncode
    report["printed"] = result.stdout + result.stderr
    return report


def failed(report):
    return [check for check in report["checks"] if not check["ok"]]


def test_the_rehearsal_passes_every_check(rehearsal):
    assert failed(rehearsal) == [], rehearsal["printed"][-4000:]
    assert rehearsal["returncode"] == 0
    assert "rehearse: passed" in rehearsal["printed"]


def test_the_rehearsal_runs_the_users_commands_in_order(rehearsal):
    commands = [step["step"] for step in rehearsal["steps"]]

    assert commands == [
        "cdn key a",
        "cdn key b",
        "make infra",
        "cdn key a signs",
        "chalice deploy",
        "infra connect",
        "make admin",
        "make redrive",
        "chalice deploy (again)",
        "chalice delete",
        "infra delete",
    ]
    assert "make infra STAGE=rehearsal" in rehearsal["steps"][2]["command"]
    assert rehearsal["steps"][4]["command"].endswith("chalice deploy --stage rehearsal")


def test_the_cdn_stage_option_creates_the_distribution_and_delete_removes_it(rehearsal):
    cdn = [check for check in rehearsal["checks"] if check["what"].startswith("cdn: ")]
    assert len(cdn) == 4 and all(check["ok"] for check in cdn), cdn
    assert len(rehearsal["created"]["distributions"]) == 1
    assert rehearsal["left"]["distributions"] == []


def test_the_deploy_creates_five_python_3_12_functions_one_api_and_one_schedule(rehearsal):
    created = rehearsal["created"]
    checks = {check["what"] for check in rehearsal["checks"]}

    assert created["functions"] == [
        "image-service-rehearsal",
        "image-service-rehearsal-cleanup",
        "image-service-rehearsal-deliver_events",
        "image-service-rehearsal-external_key",
        "image-service-rehearsal-handle_upload",
    ]
    assert created["rules"] == ["image-service-rehearsal-cleanup-event"]
    assert created["rest_apis"] == ["image-service"]
    assert "image-service-rehearsal-handle_upload: python3.12 2048 120 app.handle_upload" in checks
    assert "image-service-rehearsal: python3.12 1536 30 app.app" in checks
    assert "authorizer external_key: TOKEN from X-Api-Key, cached 30 s, -> external_key" in checks


def test_a_second_deploy_changes_nothing_and_duplicates_nothing(rehearsal):
    assert rehearsal["redeploy"]["changed"] == []
    assert rehearsal["redeploy"]["resources"] == {
        "functions": 5,
        "roles": 5,
        "rules": 1,
        "rest_apis": 1,
    }


def test_delete_leaves_only_the_retained_bucket_table_and_user_pool(rehearsal):
    left = rehearsal["left"]

    assert len(left["buckets"]) == len(left["tables"]) == len(left["user_pools"]) == 1
    assert left["buckets"][0].startswith("image-service-rehearsal-")
    kinds = ("functions", "roles", "rules", "rest_apis", "stacks", "notifications", "distributions")
    for kind in kinds:
        assert not left[kind], kind
    assert not left["queues"] and not left["alarms"]


def test_the_deployed_stage_can_be_operated(rehearsal):
    checks = {check["what"]: check["ok"] for check in rehearsal["checks"]}
    operations = rehearsal["created"]["operations"]

    assert checks[
        "handle_upload: 2 retries, events up to 3600 s old, then the queue "
        "image-service-rehearsal-upload-failures"
    ]
    assert operations["queue"].endswith(":image-service-rehearsal-upload-failures")
    # The failure queue's depth; errors and throttles of each function.
    assert len(operations["alarms"]) == 1 + 2 * len(infra.FUNCTIONS)
    assert set(operations["log_groups"].values()) == {365}  # prod's LOG_RETENTION_DAYS
    assert checks["user pool: deletion protection on"]
    assert checks[
        "make admin: first-admin in admins, email verified, a temporary password to change"
    ]


def test_every_shim_is_listed_with_what_real_aws_does_and_documented(rehearsal):
    documented = (ROOT / "docs" / "deploy.md").read_text()

    assert len(rehearsal["shims"]) == len(rehearsal_shims.SHIMS)
    for shim, line in zip(rehearsal_shims.SHIMS, rehearsal["shims"], strict=True):
        assert line.startswith(f"{shim.__name__}: Real AWS: ")
        assert f"`{shim.__name__}`" in documented
