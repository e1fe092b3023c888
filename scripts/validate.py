"""Runs the checks `chalice deploy` runs before it creates anything, for one stage or all.

    python scripts/validate.py [--stage STAGE ...] [--project-dir DIR]

`chalice package` skips Chalice's pre-deploy validation (`validate_configuration`), so a
route mixing binary and text media types packaged fine and only `chalice deploy` refused
it. `make package` runs this first, and tests/deploy/test_chalice_validation.py runs it for
every stage in .chalice/config.json.

Each stage is checked in a child process of its own: app.py reads the stage's environment
when it is imported, and Python imports a module once.
"""

import argparse
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def stages(project: Path) -> list[str]:
    config = json.loads((project / ".chalice" / "config.json").read_text())
    return sorted(config.get("stages", {}))


def validate_here(project: Path, stage: str) -> list[str]:
    """Chalice's own validation of the stage, in this process. Returns its warnings."""
    from chalice.cli.factory import CLIFactory
    from chalice.deploy.validate import validate_configuration

    # As the CLI does: the stage's environment variables go into os.environ before app.py
    # is imported, so settings.get() at import time sees them.
    factory = CLIFactory(str(project), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=stage)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        validate_configuration(config)
    return [str(warning.message).strip() for warning in caught]


def validate_stage(project: Path, stage: str) -> tuple[bool, str]:
    """Validate one stage in a child process: (passed, what it said)."""
    environment = dict(os.environ)
    if not (environment.get("AWS_REGION") or environment.get("AWS_DEFAULT_REGION")):
        environment["AWS_DEFAULT_REGION"] = "us-east-1"  # validation calls no AWS API
    command = [sys.executable, __file__, "--in-process", "--project-dir", str(project)]
    result = subprocess.run(
        [*command, "--stage", stage],
        capture_output=True,
        text=True,
        env=environment,
        cwd=project,
        check=False,
    )
    return result.returncode == 0, (result.stdout + result.stderr).strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", action="append", help="default: every stage in config.json")
    parser.add_argument("--project-dir", type=Path, default=ROOT)
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    project = args.project_dir.resolve()
    chosen = args.stage or stages(project)
    if args.in_process:
        from chalice.deploy.validate import ExperimentalFeatureError

        try:
            said = validate_here(project, chosen[0])
        except (ValueError, ExperimentalFeatureError) as error:
            print(error, file=sys.stderr)
            return 1
        print("\n".join(f"warning: {line}" for line in said))
        return 0
    failed = 0
    for stage in chosen:
        passed, said = validate_stage(project, stage)
        failed += not passed
        print(f"validate: stage {stage}: {'ok' if passed else 'FAIL'}")
        if said:
            print("  " + said.replace("\n", "\n  "), file=sys.stdout if passed else sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
