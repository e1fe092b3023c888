"""The app's route table, read from the app itself (in a child process, with the dev stage's
settings), so tests that must cover every route notice a new one; and that child process
for other checks of what importing the app does."""

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


def run_with_the_app(script: str) -> subprocess.CompletedProcess:
    """Run `script` in a fresh Python, in the project, with the dev stage's environment."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = {
        **os.environ,
        **config["environment_variables"],
        **config["stages"]["dev"]["environment_variables"],
    }
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )


def app_routes() -> set[tuple[str, str]]:
    done = run_with_the_app(_SCRIPT)
    assert done.returncode == 0, done.stderr
    return {(method, path) for method, path in json.loads(done.stdout)}
