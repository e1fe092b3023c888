"""The app's route table, read from the app itself (in a child process, with the dev stage's
settings), so tests that must cover every route notice a new one."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_SCRIPT = """
import json
from app import app
print(json.dumps(sorted([m, p] for p, methods in app.routes.items() for m in methods)))
"""


def app_routes() -> set[tuple[str, str]]:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = {
        **os.environ,
        **config["environment_variables"],
        **config["stages"]["dev"]["environment_variables"],
    }
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {(method, path) for method, path in json.loads(out)}
