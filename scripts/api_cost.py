"""The API's own cost per route, apart from the AWS it calls (`make bench` runs this).

    .venv/bin/python scripts/api_cost.py          per route: the app's own ms, the AWS
                                                  calls and their ms, as one JSON line
    .venv/bin/python scripts/api_cost.py --cold   a fresh process: import app, then the
                                                  first GET /images?limit=20

The app runs in-process behind chalice.test.Client against moto's in-process AWS, as
tests/app does. Time spent inside AWS calls (botocore's before-call to after-call, moto
answering) is measured with botocore hooks and taken out: what is left is the app's own
work (routing, validation, serialising, signing, boto3's request building), what a
request costs in Lambda besides DynamoDB's and S3's own latency. On `make run` the same
listing takes 140-220 ms, nearly all of it moto server's DynamoDB index query.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REGION = "us-east-1"
RUNS = 30
PAGE = 20


class AwsTime:
    """Seconds spent inside AWS calls, and how many, through chalicelib's clients."""

    def __init__(self) -> None:
        self.seconds, self.calls, self._started = 0.0, 0, 0.0

    def watch(self, client) -> None:
        client.meta.events.register("before-call.*.*", self._before)
        client.meta.events.register("after-call.*.*", self._after)

    def _before(self, **_) -> None:
        self._started = time.perf_counter()

    def _after(self, **_) -> None:
        self.seconds += time.perf_counter() - self._started
        self.calls += 1


def _environment() -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    fake = "testing"  # moto accepts any credentials; these only keep boto3 from looking
    os.environ.update(AWS_ACCESS_KEY_ID=fake, AWS_SECRET_ACCESS_KEY=fake)
    os.environ.update(AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION)


def _provision() -> None:
    from devserver import provision

    outputs = provision.provision(None, REGION, stage="test")
    os.environ.update(
        BUCKET_NAME=outputs.bucket,
        TABLE_NAME=outputs.table,
        USER_POOL_ID=outputs.user_pool_id,
        USER_POOL_ARN=outputs.user_pool_arn,
        APP_CLIENT_ID=outputs.app_client_id,
    )


def _as_alice() -> None:
    from chalicelib import access
    from chalicelib.callers import Caller

    alice = Caller(id="alice-sub", name="alice")
    access.caller_from_context = lambda context: alice  # the claims are taken as verified


def routes() -> dict:
    from chalice.test import Client
    from moto import mock_aws

    _environment()
    with mock_aws():
        _provision()
        import app
        from chalicelib import aws

        _as_alice()
        measured = AwsTime()
        with Client(app.app) as client:
            body = json.dumps({"filename": "a.jpg", "contentType": "image/jpeg"})
            json_headers = {"Content-Type": "application/json"}
            ids = [
                client.http.post("/images", body=body, headers=json_headers).json_body["image"][
                    "id"
                ]
                for _ in range(PAGE + 1)
            ]
            measured.watch(aws.client("s3"))
            measured.watch(aws.table().meta.client)
            cases = {
                "GET /health": lambda: client.http.get("/health"),
                f"GET /images?limit={PAGE}": lambda: client.http.get(f"/images?limit={PAGE}"),
                "GET /images/{id}": lambda: client.http.get(f"/images/{ids[0]}"),
                "POST /images": lambda: client.http.post(
                    "/images", body=body, headers=json_headers
                ),
            }
            return {name: _time(call, measured) for name, call in cases.items()}


def _time(call, measured: AwsTime) -> dict:
    own, in_aws, calls = [], [], 0
    for run in range(RUNS + 3):
        measured.seconds, measured.calls = 0.0, 0
        started = time.perf_counter()
        response = call()
        total = time.perf_counter() - started
        if response.status_code >= 400:
            return {"error": f"{response.status_code} {response.body[:200]!r}"}
        if run >= 3:  # the first ones warm caches and lazy imports
            own.append((total - measured.seconds) * 1000)
            in_aws.append(measured.seconds * 1000)
            calls = measured.calls
    return {
        "own_ms": round(statistics.median(own), 2),
        "aws_ms": round(statistics.median(in_aws), 2),
        "aws_calls": calls,
        "runs": RUNS,
    }


def cold() -> dict:
    """import app, then the first listing, in this fresh process (moto is imported first
    and is not counted)."""
    from chalice.test import Client
    from moto import mock_aws

    _environment()
    with mock_aws():
        _provision()
        started = time.perf_counter()
        import app

        imported = time.perf_counter()
        from chalicelib import aws

        _as_alice()
        measured = AwsTime()
        with Client(app.app) as client:
            # The clients are made on the first call; hook them as they are made.
            first = time.perf_counter()
            measured.watch(aws.client("s3"))
            measured.watch(aws.table().meta.client)
            response = client.http.get(f"/images?limit={PAGE}")
            done = time.perf_counter()
    assert response.status_code == 200, response.body
    return {
        "import_app_ms": round((imported - started) * 1000, 1),
        "first_request_own_ms": round((done - first - measured.seconds) * 1000, 1),
        "first_request_aws_ms": round(measured.seconds * 1000, 1),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="import app and a first request")
    args = parser.parse_args(argv)
    print(json.dumps(cold() if args.cold else routes()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
