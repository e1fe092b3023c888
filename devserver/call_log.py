"""Records the AWS calls the app's own code makes (for the least-privilege test).

A call belongs to the app when app.py or chalicelib/ is on the Python stack that makes it, so
the local stack's own work (provisioning, the event pump, the gateway) and the tests' checks
are left out without touching chalicelib/aws.py. It is also put down to the Lambda function
that made it (each has a policy of its own): the handler of app.py on the stack, or, for a
test that calls chalicelib directly, the module that is that function's entry point.
Every call is described by what IAM looks at: the operation and the object, prefix, table
or index it acts on. Presigned URLs and
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
DEVSERVER = str(ROOT / "devserver") + os.sep
ENVIRONMENT_VARIABLE = "AWS_CALL_LOG"
# Chalice's name of each Lambda function: app.py's handlers that are functions of their own;
# every route runs in api_handler.
FUNCTIONS = ("api_handler", "external_key", "handle_upload", "cleanup", "deliver_events")
# A test that calls chalicelib directly: the module that is a function's entry point.
ENTRY_MODULES = {"processing.py": "handle_upload", "cleanup.py": "cleanup"}


@dataclass(frozen=True, order=True)
class Call:
    service: str  # botocore's service name: "s3", "dynamodb"
    operation: str  # "GetObject", "TransactWriteItems.Put", "PresignedPost"
    # "bucket/key", "bucket?prefix=p", "table", "table/index/name", an SSM parameter's
    # name, a CloudFront distribution's id
    resource: str
    function: str = ""  # a FUNCTIONS value, or "" when no function can be named

    def line(self) -> str:
        return f"{self.function or '-'} {self.service} {self.operation} {self.resource}"

    @classmethod
    def parse(cls, line: str) -> "Call":
        function, service, operation, resource = [*line.rstrip("\n").split(" ", 3), "", ""][:4]
        return cls(service, operation, resource, "" if function == "-" else function)


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


def _library(filename: str) -> bool:
    """boto3, botocore and the rest of site-packages, and the local stack (which wraps
    botocore to record calls or inject faults): frames between the caller and the wire."""
    return f"{os.sep}site-packages{os.sep}" in filename or filename.startswith(DEVSERVER)


def made_by_app() -> str | None:
    """None unless app code made the call itself (the first frame outside the libraries is
    app.py or chalicelib: a test's or the local stack's own call is not the app's, even when
    app code is further up the stack). Else the function that made it, or ""."""
    frame = sys._getframe(2)
    while frame is not None and _library(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is None:
        return None
    filename = frame.f_code.co_filename
    if filename != APP_FILE and not filename.startswith(APP_PACKAGE):
        return None
    # The app's own frames around the call, up to the first frame that is neither the app's
    # nor a library's (the Lambda runtime, a test, the local stack's server): a test's code
    # that a test put inside the pipeline ends the walk, and so is no function's.
    handler = module = None
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename == APP_FILE and frame.f_code.co_name != "<module>":
            handler = frame.f_code.co_name  # the outermost one is the function's handler
        elif filename.startswith(APP_PACKAGE):
            module = filename[len(APP_PACKAGE) :]
        elif not _library(filename):
            break
        frame = frame.f_back
    if handler is not None:
        return handler if handler in FUNCTIONS else "api_handler"
    if module is not None:
        return ENTRY_MODULES.get(module, "")
    return ""


def _attributed(call: Call, function: str) -> Call:
    return Call(call.service, call.operation, call.resource, function)


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
        function = made_by_app()
        if function is not None:
            for call in describe(self.meta.service_model.service_name, operation_name, api_params):
                sink(_attributed(call, function))
        return make_api_call(self, operation_name, api_params)

    def recorded_url(self: Any, ClientMethod: str, Params: Any = None, *args: Any, **kw: Any):
        function = made_by_app()
        if function is not None:
            operation = self.meta.method_to_api_mapping.get(ClientMethod, ClientMethod)
            service = self.meta.service_model.service_name
            for call in describe(service, operation, Params or {}):
                presigned = f"PresignedUrl.{call.operation}"
                sink(Call(call.service, presigned, call.resource, function))
        return presigned_url(self, ClientMethod, Params, *args, **kw)

    def recorded_post(self: Any, Bucket: str, Key: str, *args: Any, **kw: Any) -> Any:
        function = made_by_app()
        if function is not None:
            sink(Call("s3", "PresignedPost", f"{Bucket}/{Key}", function))
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


def appender(path: str) -> Callable[[Call], None]:
    """A sink that appends each call to the file at path, one `Call.line()` a line (several
    processes may append to one file: each line is one write to a file opened to append)."""
    lock = threading.Lock()

    def append(call: Call) -> None:
        with lock, open(path, "a", encoding="utf-8") as log:
            log.write(call.line() + "\n")

    return append


def install(path: str) -> Callable[[], None]:
    """Append every call the app makes to the file at path."""
    return record(appender(path))


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
