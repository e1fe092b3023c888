"""Records the AWS calls the app's own code makes (for the least-privilege test).

A call belongs to the app when app.py or chalicelib/ is on the Python stack that makes it, so
the local stack's own work (provisioning, the event pump, the gateway) and the tests' checks
are left out without touching chalicelib/aws.py. Every call is described by what IAM looks
at: the operation and the object, prefix, table or index it acts on. Presigned URLs and
POSTs are recorded too: they make no call here, but the browser's request acts with the
role's rights.

The devserver writes one call a line to the file named by AWS_CALL_LOG (see
`install_from_environment`); tests/support/aws_calls.py reads it and records its own process.
"""

import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP_FILE = str(ROOT / "app.py")
APP_PACKAGE = str(ROOT / "chalicelib") + os.sep
ENVIRONMENT_VARIABLE = "AWS_CALL_LOG"


@dataclass(frozen=True, order=True)
class Call:
    service: str  # botocore's service name: "s3", "dynamodb"
    operation: str  # "GetObject", "TransactWriteItems.Put", "PresignedPost"
    # "bucket/key", "bucket?prefix=p", "table", "table/index/name", an SSM parameter's
    # name, a CloudFront distribution's id
    resource: str

    def line(self) -> str:
        return f"{self.service} {self.operation} {self.resource}"

    @classmethod
    def parse(cls, line: str) -> "Call":
        service, operation, resource = [*line.rstrip("\n").split(" ", 2), "", ""][:3]
        return cls(service, operation, resource)


def _s3_calls(operation: str, params: dict[str, Any]) -> Iterator[Call]:
    bucket = params.get("Bucket", "")
    if operation == "DeleteObjects":
        for item in params.get("Delete", {}).get("Objects", []):
            yield Call("s3", operation, f"{bucket}/{item['Key']}")
    elif operation == "CopyObject":
        yield Call("s3", operation, f"{bucket}/{params['Key']}")
        source = params.get("CopySource", {})
        yield Call("s3", "GetObject", f"{source.get('Bucket', '')}/{source.get('Key', '')}")
    elif operation in ("ListObjectsV2", "ListObjects"):
        yield Call("s3", operation, f"{bucket}?prefix={params.get('Prefix', '')}")
    elif "Key" in params:
        yield Call("s3", operation, f"{bucket}/{params['Key']}")
    else:
        yield Call("s3", operation, bucket)


def _dynamodb_calls(operation: str, params: dict[str, Any]) -> Iterator[Call]:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        for item in params.get("TransactItems", []):
            for kind, request in item.items():
                yield Call("dynamodb", f"{operation}.{kind}", request.get("TableName", ""))
    elif operation in ("BatchGetItem", "BatchWriteItem"):
        for table in params.get("RequestItems", {}):
            yield Call("dynamodb", operation, table)
    elif params.get("IndexName"):
        yield Call("dynamodb", operation, f"{params['TableName']}/index/{params['IndexName']}")
    else:
        yield Call("dynamodb", operation, params.get("TableName", ""))


def describe(service: str, operation: str, params: dict[str, Any]) -> list[Call]:
    """The call as IAM sees it: one Call per action and resource it needs."""
    if service == "s3":
        return list(_s3_calls(operation, params))
    if service == "dynamodb":
        return list(_dynamodb_calls(operation, params))
    if service == "ssm":
        return [Call(service, operation, params.get("Name", ""))]
    if service == "cloudfront":
        return [Call(service, operation, params.get("DistributionId", ""))]
    return [Call(service, operation, "")]


def made_by_app() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename == APP_FILE or filename.startswith(APP_PACKAGE):
            return True
        frame = frame.f_back
    return False


def record(sink: Callable[[Call], None]) -> Callable[[], None]:
    """Send every AWS call the app makes to sink, from now on. Returns the undo."""
    from botocore import client, signers

    originals = (
        client.BaseClient._make_api_call,
        signers.generate_presigned_url,
        signers.generate_presigned_post,
    )
    make_api_call, presigned_url, presigned_post = originals

    def recorded_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if made_by_app():
            for call in describe(self.meta.service_model.service_name, operation_name, api_params):
                sink(call)
        return make_api_call(self, operation_name, api_params)

    def recorded_url(self: Any, ClientMethod: str, Params: Any = None, *args: Any, **kw: Any):
        if made_by_app():
            operation = self.meta.method_to_api_mapping.get(ClientMethod, ClientMethod)
            service = self.meta.service_model.service_name
            for call in describe(service, operation, Params or {}):
                sink(Call(call.service, f"PresignedUrl.{call.operation}", call.resource))
        return presigned_url(self, ClientMethod, Params, *args, **kw)

    def recorded_post(self: Any, Bucket: str, Key: str, *args: Any, **kw: Any) -> Any:
        if made_by_app():
            sink(Call("s3", "PresignedPost", f"{Bucket}/{Key}"))
        return presigned_post(self, Bucket, Key, *args, **kw)

    # Presigning methods are copied onto each client class when it is created, so only
    # clients created after this point are seen; the app creates its own on first use.
    client.BaseClient._make_api_call = recorded_call
    signers.generate_presigned_url = recorded_url
    signers.generate_presigned_post = recorded_post

    def undo() -> None:
        client.BaseClient._make_api_call = originals[0]
        signers.generate_presigned_url = originals[1]
        signers.generate_presigned_post = originals[2]

    return undo


def install(path: str) -> Callable[[], None]:
    """Append every call the app makes to the file at path, one `Call.line()` a line."""
    lock = threading.Lock()

    def append(call: Call) -> None:
        with lock, open(path, "a", encoding="utf-8") as log:
            log.write(call.line() + "\n")

    return record(append)


def install_from_environment() -> None:
    """What the devserver runs at start: record to $AWS_CALL_LOG if it is set."""
    path = os.environ.get(ENVIRONMENT_VARIABLE)
    if path:
        install(path)


def read(path: str) -> list[Call]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as log:
        return [Call.parse(line) for line in log if line.strip()]
