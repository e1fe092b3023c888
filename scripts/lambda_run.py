"""Runs the deployment package as Lambda runs it, and the checkout as `make run` runs it,
with the same trigger-shaped events, and compares their answers (`make lambda-run`).

    python scripts/lambda_run.py [--zip out/deployment.zip] [--tf out/chalice.tf.json]
                                 [--photo PATH] [--report FILE]

The package (what `make package` built) is unzipped into an empty directory and each
function runs in a fresh `python3.12 -I -S` (scripts/lambda_bootstrap.py) with only that
directory and boto3 on its path: no venv, no checkout. Each function gets the environment,
memory and timeout chalice.tf.json gives it, its resource names pointed at a local AWS
(moto on 127.0.0.1, provisioned from infra/template.yaml as `make run` does). The same
events then go through the checkout's code with the venv's libraries. Events:

- API Gateway proxy events with the Cognito authorizer's claims and without;
- an S3 ObjectCreated event for a real photo uploaded through the presigned POST;
- the SQS message of the event the upload's verdict queued (deliver_events);
- the EventBridge scheduled event (the cleanup);
- the TOKEN authorizer event (the API-key authorizer), with a real key and a wrong one.

For each function it reports the cold import time and the peak RSS against the memory
setting.
"""

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from devserver.events import sqs_event  # noqa: E402

BOOTSTRAP = Path(__file__).resolve().parent / "lambda_bootstrap.py"
REGION = "us-east-1"
ACCOUNT = "123456789012"
DEFAULT_PHOTO = ROOT / ".corpus" / "photo-20mp-kleiber.jpg"
# The resource names the stage's config points at; locally they name moto's resources.
RESOURCE_VARIABLES = (
    "BUCKET_NAME",
    "TABLE_NAME",
    "USER_POOL_ID",
    "USER_POOL_ARN",
    "APP_CLIENT_ID",
    "EVENTS_QUEUE",
    "EVENTS_QUEUE_URL",
    "EVENT_BUS_NAME",
)
DEMO = {"sub": "sub-demo", "cognito:username": "demo", "token_use": "id"}
ADMIN = {"sub": "sub-admin", "cognito:username": "admin", "cognito:groups": "admins"}


def pinned(name: str) -> str:
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        if line.lower().startswith(f"{name}=="):
            return line.split("==", 1)[1].split(";")[0].strip()
    raise LookupError(f"{name} is not pinned in requirements-dev.txt")


def runtime_libraries() -> Path:
    """boto3 and botocore (what Lambda's python3.12 runtime provides), alone in a folder.
    Installed once with pip into a cache directory."""
    version = pinned("boto3")
    target = Path(tempfile.gettempdir()) / f"image-service-lambda-runtime-boto3-{version}"
    if (target / ".complete").exists():
        return target
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile"]
    command += ["--target", str(target), f"boto3=={version}", f"botocore=={pinned('botocore')}"]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    (target / ".complete").write_text(version)
    return target


def find_python_3_12() -> str:
    found = subprocess.run(
        [str(ROOT / "scripts" / "find-python.sh"), "--strict"],
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.strip().splitlines()[-1]


@dataclass(frozen=True)
class Function:
    name: str  # the handler's name in app.py (chalice's resource name)
    function_name: str
    handler: str
    memory: int
    timeout: int
    environment: dict[str, str]


def functions_of(tf: dict[str, Any]) -> dict[str, Function]:
    return {
        name: Function(
            name=name,
            function_name=spec["function_name"],
            handler=spec["handler"],
            memory=spec["memory_size"],
            timeout=spec["timeout"],
            environment=dict(spec.get("environment", {}).get("variables", {})),
        )
        for name, spec in tf["resource"]["aws_lambda_function"].items()
    }


@dataclass(frozen=True)
class Runtime:
    label: str
    python: str
    task_root: Path
    libraries: Path


class Worker:
    """One function's warm execution environment (scripts/lambda_bootstrap.py)."""

    def __init__(self, runtime: Runtime, function: Function, environment: dict[str, str]):
        self.function = function
        command = [runtime.python, "-I", "-S", str(BOOTSTRAP)]
        command += [str(runtime.task_root), str(runtime.libraries), function.handler]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
            cwd=runtime.task_root,
        )
        self.started = self._read()
        self.peak_rss_kb = self.started["peak_rss_kb"]

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            assert self.process.stderr is not None
            raise RuntimeError(f"{self.function.name} died:\n{self.process.stderr.read()[-4000:]}")
        return json.loads(line)

    def _send(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        return self._read()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        result = self._send({"event": event, "request_id": str(uuid.uuid4())})
        self.peak_rss_kb = max(self.peak_rss_kb, result["peak_rss_kb"])
        return result

    def origins(self) -> dict[str, Any]:
        return self._send({"stats": True})

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        if self.process.stderr:
            self.process.stderr.close()
        if self.process.stdout:
            self.process.stdout.close()


# --- the events each trigger sends ---


def api_event(
    method: str,
    path: str,
    resource: str | None = None,
    *,
    claims: dict[str, str] | None = None,
    body: Any = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """API Gateway's REST proxy event; `claims` as its Cognito authorizer passes them."""
    headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "Accept": "*/*"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    context: dict[str, Any] = {
        "resourcePath": resource or path,
        "httpMethod": method,
        "path": f"/api{path}",
        "stage": "api",
        "requestId": str(uuid.uuid4()),
        "accountId": ACCOUNT,
        "apiId": "abc123",
        "identity": {"sourceIp": "127.0.0.1", "userAgent": "lambda-run"},
    }
    if claims is not None:
        context["authorizer"] = {"claims": claims}
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": context,
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def s3_event(bucket: str, key: str, size: int, etag: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "eventName": "ObjectCreated:Post",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "handle_upload",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {
                        "key": urllib.parse.quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": etag,
                        "sequencer": "0062E99A88DC407460",
                    },
                },
            }
        ]
    }


def scheduled_event(rule: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"],
        "detail": {},
    }


def token_event(token: str) -> dict[str, Any]:
    return {
        "type": "TOKEN",
        "authorizationToken": token,
        "methodArn": (
            f"arn:aws:execute-api:{REGION}:{ACCOUNT}:abc123/api/GET/external/images/x/render"
        ),
    }


# --- comparing answers across runtimes ---

# Presigned POST fields signed at the moment of the request.
SIGNED_FIELDS = {"policy", "x-amz-signature", "x-amz-date"}
# Each run's events carry their own API Gateway request id, which answers repeat.
REQUEST_ID_FIELDS = {"X-Request-Id", "RequestId"}
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")


def comparable(value: Any, dynamic: set[str]) -> Any:
    """The answer with what differs between any two runs (ids, times, URLs) masked."""
    if isinstance(value, dict):
        return {
            key: "<signed>"
            if key in SIGNED_FIELDS
            else "<request>"
            if key in REQUEST_ID_FIELDS
            else comparable(item, dynamic)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [comparable(item, dynamic) for item in value]
    if isinstance(value, str):
        if value.startswith(("{", "[")):
            try:
                return comparable(json.loads(value), dynamic)
            except ValueError:
                pass
        if value.startswith("http"):
            return "<url>"
        for known in sorted(dynamic, key=len, reverse=True):
            value = value.replace(known, "<id>")
        return _TIME.sub("<time>", value)
    return value


def run_scenario(
    runtime: Runtime,
    functions: dict[str, Function],
    aws: dict[str, Any],
    photo: Path,
) -> dict[str, Any]:
    import boto3
    import requests

    s3 = boto3.client("s3", endpoint_url=aws["endpoint"], region_name=REGION)
    workers: dict[str, Worker] = {}
    answers: list[dict[str, Any]] = []
    dynamic: set[str] = set()

    def environment(function: Function) -> dict[str, str]:
        return {
            **function.environment,
            **aws["names"],
            "AWS_ENDPOINT_URL": aws["endpoint"],
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "LAMBDA_TASK_ROOT": str(runtime.task_root),
            "LAMBDA_TIMEOUT_SECONDS": str(function.timeout),
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
        }

    def call(name: str, label: str, event: dict[str, Any]) -> Any:
        if name not in workers:
            workers[name] = Worker(runtime, functions[name], environment(functions[name]))
        result = workers[name].invoke(event)
        answers.append({"function": name, "event": label, **result})
        if result["error"]:
            raise RuntimeError(f"{runtime.label} {name} {label}:\n{result['error']}")
        return result["answer"]

    def body(answer: dict[str, Any]) -> dict[str, Any]:
        return json.loads(answer["body"])

    try:
        call("api_handler", "GET /health, no claims", api_event("GET", "/health"))
        call("api_handler", "GET /me, demo's claims", api_event("GET", "/me", claims=DEMO))
        call("api_handler", "GET /me, no claims", api_event("GET", "/me"))
        request = {"filename": photo.name, "contentType": "image/jpeg"}
        created = body(
            call(
                "api_handler",
                "POST /images, demo's claims",
                api_event("POST", "/images", claims=DEMO, body=request),
            )
        )
        image_id, form = created["image"]["id"], created["upload"]
        key = form["fields"]["key"]
        dynamic.update({image_id, *key.split("/")[1:]})
        with photo.open("rb") as data:
            sent = requests.post(
                form["url"],
                data=form["fields"],
                files={"file": (photo.name, data, "image/jpeg")},
                timeout=60,
            )
        sent.raise_for_status()
        head = s3.head_object(Bucket=aws["names"]["BUCKET_NAME"], Key=key)
        event = s3_event(aws["names"]["BUCKET_NAME"], key, head["ContentLength"], head["ETag"])
        call("handle_upload", "S3 ObjectCreated (a real photo)", event)
        sqs = boto3.client("sqs", endpoint_url=aws["endpoint"], region_name=REGION)
        queued = sqs.receive_message(
            QueueUrl=aws["events_queue"], MaxNumberOfMessages=1, WaitTimeSeconds=5
        )["Messages"][0]
        sqs.delete_message(QueueUrl=aws["events_queue"], ReceiptHandle=queued["ReceiptHandle"])
        call(
            "deliver_events",
            "SQS message (the photo's ready event)",
            sqs_event(queued, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{aws['names']['EVENTS_QUEUE']}"),
        )
        path = f"/images/{image_id}"
        call(
            "api_handler",
            "GET /images/{id}, demo's claims",
            api_event(
                "GET",
                path,
                "/images/{image_id}",
                claims=DEMO,
                path_parameters={"image_id": image_id},
            ),
        )
        issued = body(
            call(
                "api_handler",
                "POST /admin/api-keys, admin's claims",
                api_event("POST", "/admin/api-keys", claims=ADMIN, body={"name": "lambda-run"}),
            )
        )
        dynamic.update({issued["secret"], issued["keyId"]})
        call("external_key", "TOKEN, a valid key", token_event(issued["secret"]))
        call("external_key", "TOKEN, an unknown key", token_event("isk_0000_nope"))
        rule = f"{functions['cleanup'].function_name}-event"
        call("cleanup", "scheduled event", scheduled_event(rule))
        origins = {name: worker.origins() for name, worker in workers.items()}
    finally:
        for worker in workers.values():
            worker.stop()
    for answer in answers:
        answer["comparable"] = comparable(answer["answer"], dynamic)
    return {
        "answers": answers,
        "functions": {
            name: {
                "function_name": worker.function.function_name,
                "memory_mb": worker.function.memory,
                "import_seconds": round(worker.started["import_seconds"], 3),
                "rss_after_import_mb": round(worker.started["peak_rss_kb"] / 1024, 1),
                "peak_rss_mb": round(worker.peak_rss_kb / 1024, 1),
                "sys_path": worker.started["sys_path"],
                "origins": origins[name],
            }
            for name, worker in workers.items()
        },
    }


def local_aws() -> tuple[Any, dict[str, Any]]:
    """moto on 127.0.0.1 with the template's resources, made as `make run` makes them."""
    from moto.server import ThreadedMotoServer

    from devserver import provision

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ[name] = "testing"
    os.environ.pop("AWS_PROFILE", None)
    # moto's state is the process's, whichever server serves it: start from none.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    outputs = provision.provision(endpoint, REGION, stage="lambda-run")
    names = outputs.environment()
    return server, {"endpoint": endpoint, "names": names, "events_queue": outputs.events_queue_url}


def run(zip_path: Path, tf_path: Path, photo: Path, scratch: Path) -> dict[str, Any]:
    task_root = scratch / "task"
    task_root.mkdir()
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(task_root)
    functions = functions_of(json.loads(tf_path.read_text()))
    import sysconfig

    runtimes = [
        Runtime("package", find_python_3_12(), task_root, runtime_libraries()),
        Runtime("make run", sys.executable, ROOT, Path(sysconfig.get_paths()["purelib"])),
    ]
    results = {}
    for runtime in runtimes:
        # A stack of its own: in a shared one the second run's photo is a duplicate of the
        # first's, and its record says so.
        server, aws = local_aws()
        try:
            results[runtime.label] = run_scenario(runtime, functions, aws, photo)
        finally:
            server.stop()
    package, checkout = results["package"], results["make run"]
    differences = [
        {"event": p["event"], "package": p["comparable"], "make run": c["comparable"]}
        for p, c in zip(package["answers"], checkout["answers"], strict=True)
        if p["comparable"] != c["comparable"]
    ]
    return {
        "python": runtimes[0].python,
        "runtime_libraries": str(runtimes[0].libraries),
        "task_root": str(task_root),
        "package": package,
        "make run": checkout,
        "differences": differences,
    }


def summary(answer: Any) -> str:
    if isinstance(answer, dict) and "statusCode" in answer:
        text = answer.get("body") or ""
        return f"{answer['statusCode']} {text[:90]}"
    if isinstance(answer, dict) and "policyDocument" in answer:
        statement = answer["policyDocument"]["Statement"][0]
        resources = statement.get("Resource") or []
        return (
            f"{statement['Effect']} on {len(resources)} resource(s), "
            f"principal {answer.get('principalId')}"
        )
    return json.dumps(answer)[:100]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", type=Path, default=ROOT / "out" / "deployment.zip")
    parser.add_argument("--tf", type=Path, default=ROOT / "out" / "chalice.tf.json")
    parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    parser.add_argument("--report", type=Path)
    args = parser.parse_args(argv)
    if not args.zip.exists():
        print(f"lambda-run: no {args.zip}; run `make package` first", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="lambda-run-") as scratch:
        report = run(args.zip, args.tf, args.photo, Path(scratch))
    print(f"lambda-run: {report['python']} -I -S, path = the unzipped package + boto3 only")
    for answer in report["package"]["answers"]:
        print(f"  {answer['function']:<14} {answer['event']:<38} -> {summary(answer['answer'])}")
    print("  function        memory  cold import  RSS after import  peak RSS")
    over = []
    for name, facts in report["package"]["functions"].items():
        share = facts["peak_rss_mb"] / facts["memory_mb"]
        over += [name] if share >= 1 else []
        print(
            f"  {name:<14} {facts['memory_mb']:>5} MB  {facts['import_seconds']:>8.3f} s"
            f"  {facts['rss_after_import_mb']:>12.1f} MB  {facts['peak_rss_mb']:>7.1f} MB"
            f" ({share:.0%})"
        )
    for difference in report["differences"]:
        print(f"  DIFFERS from make run: {json.dumps(difference)[:400]}", file=sys.stderr)
    if args.report:
        args.report.write_text(json.dumps(report, indent=2, default=str))
    ok = not report["differences"] and not over
    print(
        f"lambda-run: {'ok' if ok else 'FAILED'}: answers as under make run: "
        f"{not report['differences']}; within memory: {not over}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
