"""What a logger costs a cold start: chalicelib.logs against aws-lambda-powertools.

    pip install --target /tmp/powertools aws-lambda-powertools==3.37.0 --no-deps
    python scripts/logging_cost.py --powertools /tmp/powertools [--runs 9]

Imports each in fresh processes, alternating so the machine's load falls on all alike, and
prints the median and fastest milliseconds (docs/operations.md has a run's figures).
Powertools is not a project dependency; it is installed into a folder of its own only to
be measured.
"""

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "logging, json (the floor)": "import logging, json",
    "chalicelib.logs": "import chalicelib.logs",
    "powertools Logger + Metrics": (
        "from aws_lambda_powertools import Logger, Metrics;"
        "Logger(service='image-service'); Metrics(namespace='ImageService')"
    ),
}


def timed(code: str, path: str) -> float:
    program = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--powertools", required=True, help="folder pip installed it into")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)
    path = os.pathsep.join([args.powertools, str(ROOT)])
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.runs):
        for name, code in CASES.items():
            times[name].append(timed(code, path))
    for name, found in times.items():
        print(f"{name}: median {statistics.median(found):.0f} ms, fastest {min(found):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
