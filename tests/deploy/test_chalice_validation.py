"""`chalice deploy` runs Chalice's validate_configuration before it creates anything;
`chalice package` does not. These tests run it for every stage the project declares, and
show that `make package` (scripts/package.py) stops where `chalice deploy` would."""

import json
from pathlib import Path

import package
import pytest
import validate

from tests.deploy import ROOT

MIXED_ROUTE_APP = """
from chalice import Chalice

app = Chalice(app_name="mixed")
app.api.binary_types.append("image/png")


@app.route("/images", methods=["POST"], content_types=["application/json", "image/png"])
def create_image():
    return {}
"""


def project_with_a_mixed_route(directory: Path) -> Path:
    """A project whose one route takes JSON and a binary image type: what POST /images
    was before the raw upload got its own route."""
    (directory / ".chalice").mkdir(parents=True)
    (directory / "app.py").write_text(MIXED_ROUTE_APP)
    config = {"version": "2.0", "app_name": "mixed", "stages": {"dev": {}}}
    (directory / ".chalice" / "config.json").write_text(json.dumps(config))
    return directory


@pytest.mark.parametrize("stage", validate.stages(ROOT))
def test_chalice_deploys_own_validation_passes_for_every_stage(stage):
    passed, said = validate.validate_stage(ROOT, stage)

    assert passed, said


def test_every_stage_is_validated_when_none_is_named(capsys):
    assert validate.main([]) == 0

    printed = capsys.readouterr().out
    assert {"dev", "prod"} <= set(validate.stages(ROOT))
    for stage in validate.stages(ROOT):
        assert f"validate: stage {stage}: ok" in printed


def test_a_route_mixing_binary_and_json_media_types_fails_validation(tmp_path):
    project = project_with_a_mixed_route(tmp_path / "project")

    passed, said = validate.validate_stage(project, "dev")

    assert not passed
    assert 'In view function "create_image"' in said
    assert "must be consistent in their binary support" in said


def test_make_package_refuses_a_stage_chalice_deploy_would_refuse(tmp_path, capsys):
    project = project_with_a_mixed_route(tmp_path / "project")
    out = tmp_path / "out"

    status = package.main(["--project-dir", str(project), "--stage", "dev", "--out", str(out)])

    assert status == 1
    assert "chalice deploy would refuse stage dev" in capsys.readouterr().err
    assert not out.exists()
