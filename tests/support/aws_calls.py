"""Every AWS call the suite makes the app's code do, and the check of a policy against them.

A pytest plugin (registered in the root conftest.py): a session-scoped autouse fixture records
the calls made in this process (tests that run app.py and chalicelib in-process) to a file,
and sets AWS_CALL_LOG so that local stacks started as child processes log theirs to the same
file (devserver/call_log.py). Tests marked `policy` judge the recording, so they need every
other test to have run first:

- in one process (`pytest`), they run last;
- on several workers (pytest-xdist, as `make test` runs), a worker cannot know when the others
  are done, so there they skip; the rest is run with `--aws-calls PATH`, which keeps the log
  at PATH and, once a run has covered every test but the policy ones, writes PATH.complete;
  then `pytest -m "policy or alone" --aws-calls PATH` judges that log (and runs the tests
  marked `alone`, which measure the stack over minutes and need the machine to themselves).

`check_policy` holds a policy to the recording: every call must be allowed (actions,
resources, conditions), and every action granted must be used by some call.
"""

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from devserver import call_log
from devserver.call_log import Call

TESTS = Path(__file__).resolve().parent.parent
ACCOUNT_ARN = "us-east-1:123456789012"  # the region and account when a check names none

# Operations whose IAM action has another name. Other operations are their own action.
S3_ACTIONS = {
    "HeadObject": "s3:GetObject",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "DeleteObjects": "s3:DeleteObject",
    "PresignedPost": "s3:PutObject",
    # A copy needs PutObject on its key and GetObject on its source (recorded on its own).
    "CopyObject": "s3:PutObject",
}
# Reading a key that may not exist: S3 answers 404 only to a caller who may list the bucket,
# and 403 to anyone else, so these also need s3:ListBucket on the bucket (with no s3:prefix:
# the request carries none, so a prefix condition would never hold).
S3_MAY_BE_MISSING = {"HeadObject", "GetObject"}
# Items inside a transaction are authorised as the single-item action of their kind.
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
# Used by the Lambda runtime itself (the function's logs, its X-Ray segments, the failed
# event it sends to the on-failure destination), never by the app's code.
RUNTIME_ACTIONS = {
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "sqs:SendMessage",
    # deliver_events' event source mapping polls its queue with the function's role.
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
}


@dataclass(frozen=True)
class Request:
    """One call as IAM evaluates it."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        extra = "".join(f" {key}={value}" for key, value in self.context)
        return f"{self.action} on {self.resource}{extra}"


def iam_action(call: Call) -> str:
    operation = call.operation.removeprefix("PresignedUrl.")
    if call.service == "s3":
        return S3_ACTIONS.get(operation, f"s3:{operation}")
    if call.service == "dynamodb" and "." in operation:
        kind = operation.split(".", 1)[1]
        return f"dynamodb:{TRANSACT_ACTIONS.get(kind, kind)}"
    return f"{call.service}:{operation}"


def to_requests(
    call: Call,
    bucket: str,
    table: str,
    account_arn: str = ACCOUNT_ARN,
    keys_parameter: str = "",
    **names: str,
) -> list[Request]:
    """What IAM checks for a call: its action, and for a read of a key that may be missing
    the bucket-level ListBucket that turns a 403 into a 404."""
    request = to_request(call, bucket, table, account_arn, keys_parameter, **names)
    if call.service == "s3" and call.operation in S3_MAY_BE_MISSING:
        return [request, Request("s3:ListBucket", f"arn:aws:s3:::{bucket}")]
    return [request]


def to_request(
    call: Call,
    bucket: str,
    table: str,
    account_arn: str = ACCOUNT_ARN,
    keys_parameter: str = "",
    user_pool_arn: str = "",
    events_queue: str = "",
    event_bus: str = "",
) -> Request:
    """The IAM request for a call, with the stage's names in place of the test's ones (the
    app reads exactly one bucket, one table and one SSM parameter from its settings)."""
    action = iam_action(call)
    if call.service == "ssm":
        return Request(action, f"arn:aws:ssm:{account_arn}:parameter{keys_parameter}")
    if call.service == "cloudfront":
        account = account_arn.split(":")[1]
        return Request(action, f"arn:aws:cloudfront::{account}:distribution/{call.resource}")
    if call.service == "s3":
        if "?prefix=" in call.resource:
            prefix = call.resource.split("?prefix=", 1)[1]
            return Request(action, f"arn:aws:s3:::{bucket}", (("s3:prefix", prefix),))
        key = call.resource.split("/", 1)[1] if "/" in call.resource else ""
        return Request(action, f"arn:aws:s3:::{bucket}/{key}" if key else f"arn:aws:s3:::{bucket}")
    if call.service == "dynamodb":
        index = call.resource.partition("/index/")[2]
        arn = f"arn:aws:dynamodb:{account_arn}:table/{table}"
        return Request(action, f"{arn}/index/{index}" if index else arn)
    if call.service == "cognito-idp" and user_pool_arn:
        return Request(action, user_pool_arn)
    if call.service == "sqs" and events_queue:  # the app uses one queue, the events'
        return Request(action, f"arn:aws:sqs:{account_arn}:{events_queue}")
    if call.service == "events" and event_bus:
        return Request(action, f"arn:aws:events:{account_arn}:event-bus/{event_bus}")
    return Request(action, "*")


def _matches(value: str, patterns: Any, *, case: bool = True) -> bool:
    patterns = [patterns] if isinstance(patterns, str) else patterns
    if not case:
        return any(fnmatchcase(value.lower(), pattern.lower()) for pattern in patterns)
    return any(fnmatchcase(value, pattern) for pattern in patterns)


def _conditions_hold(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, tests in conditions.items():
        for key, expected in tests.items():
            if key not in context:
                return False
            if operator == "StringLike" and not _matches(context[key], expected):
                return False
            if operator == "StringEquals" and context[key] not in (
                [expected] if isinstance(expected, str) else expected
            ):
                return False
            if operator not in ("StringLike", "StringEquals"):
                raise ValueError(f"condition operator {operator} is not understood by the test")
    return True


def _statement_applies(statement: dict[str, Any], request: Request) -> bool:
    return (
        _matches(request.action, statement["Action"], case=False)
        and _matches(request.resource, statement["Resource"])
        and _conditions_hold(statement.get("Condition", {}), dict(request.context))
    )


def allowed(policy: dict[str, Any], request: Request) -> bool:
    statements = policy["Statement"]
    if any(s["Effect"] == "Deny" and _statement_applies(s, request) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _statement_applies(s, request) for s in statements)


def granted_actions(policy: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow":
            listed = statement["Action"]
            actions.update([listed] if isinstance(listed, str) else listed)
    return actions


@dataclass
class PolicyReport:
    denied: list[str] = field(default_factory=list)  # calls the policy does not allow
    unused: list[str] = field(default_factory=list)  # actions granted that no call needs


def check_policy(
    policy: dict[str, Any],
    calls: list[Call] | set[Call],
    *,
    bucket: str,
    table: str,
    region: str = "us-east-1",
    account: str = "123456789012",
    keys_parameter: str = "",
    user_pool_arn: str = "",
    events_queue: str = "",
    event_bus: str = "",
) -> PolicyReport:
    """`calls` made in the stage's region and account, against its bucket and table."""
    account_arn = f"{region}:{account}"
    requests = {
        request
        for call in calls
        for request in to_requests(
            call,
            bucket,
            table,
            account_arn,
            keys_parameter,
            user_pool_arn=user_pool_arn,
            events_queue=events_queue,
            event_bus=event_bus,
        )
    }
    denied = sorted(str(r) for r in requests if not allowed(policy, r))
    used = {r.action.lower() for r in requests}
    unused = sorted(
        action
        for action in granted_actions(policy) - RUNTIME_ACTIONS
        if not any(fnmatchcase(u, action.lower()) for u in used)
    )
    return PolicyReport(denied, unused)


@dataclass
class Recording:
    """The calls of this process and of child local stacks (all in one log file)."""

    log: Path
    keep: bool = False  # --aws-calls named the file: it outlives the session
    worker: bool = False  # one of several pytest-xdist workers
    complete: bool = False  # the recording holds every other test's calls (policy may judge)
    covers_rest: bool = False  # this session runs every test but those kept back
    deselected: bool = False  # something other than a kept-back test was left out
    pause: bool = False

    def all(self) -> set[Call]:
        return set(call_log.read(str(self.log)))

    @property
    def marker(self) -> Path:
        return self.log.with_name(self.log.name + ".complete")

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Calls made meanwhile are not the app's (a test of the recorder itself)."""
        self.pause = True
        try:
            yield
        finally:
            self.pause = False


_recording: Recording | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--aws-calls",
        metavar="PATH",
        help="append the recorded AWS calls to PATH and keep it (make test: the tests on "
        "workers first, then `-m policy` judges PATH)",
    )


def why_incomplete(recording: Recording) -> str:
    if recording.worker:
        return "on a pytest-xdist worker; `pytest -m policy --aws-calls PATH` after the rest"
    return "only meaningful when the whole suite ran (a subset uses fewer actions)"


def recording() -> Recording | None:
    """The session's recording, or None when this plugin is not registered."""
    return _recording


def pytest_configure(config: pytest.Config) -> None:
    global _recording
    config.addinivalue_line("markers", "policy: checks the recorded AWS calls; runs last")
    config.addinivalue_line(
        "markers", "alone: measures the stack over minutes; make test runs it after the others"
    )
    worker = hasattr(config, "workerinput")
    given = config.getoption("aws_calls")
    if worker:  # the controller chose the file and set the variable before starting us
        name = os.environ[call_log.ENVIRONMENT_VARIABLE]
    elif given:
        name = str(Path(given).resolve())
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).touch()
    else:
        handle, name = tempfile.mkstemp(prefix="aws-calls-", suffix=".log")
        os.close(handle)
    _recording = Recording(Path(name), keep=bool(given) or worker, worker=worker)
    # Child processes (python -m devserver, the workers) inherit this and log to the file.
    os.environ[call_log.ENVIRONMENT_VARIABLE] = name


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _recording is not None and _recording.covers_rest and _recording.keep:
        _recording.marker.touch()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _recording is not None and not _recording.keep:
        _recording.log.unlink(missing_ok=True)
        os.environ.pop(call_log.ENVIRONMENT_VARIABLE, None)


def _selects_whole_suite(config: pytest.Config) -> bool:
    """Some argument names the tests folder or one above it (so no module is left out)."""
    for arg in config.args:
        if "::" in arg:
            continue
        path = (Path(config.invocation_params.dir) / arg).resolve()
        if path == TESTS or path in TESTS.parents:
            return True
    return False


@pytest.hookimpl(trylast=True)  # after -k, -m and --deselect have removed what they remove
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    items.sort(key=lambda item: item.get_closest_marker("policy") is not None)
    if _recording is None:
        return
    narrowed = _recording.deselected or bool(getattr(config.option, "lf", False))
    whole = not narrowed and _selects_whole_suite(config)
    judging = any(item.get_closest_marker("policy") for item in items) and all(
        _kept_back(item) for item in items
    )
    _recording.covers_rest = whole and not judging
    if _recording.worker:
        _recording.complete = False  # the other workers may not be done
    elif judging and _recording.keep:  # pytest -m policy --aws-calls PATH
        _recording.complete = _recording.marker.exists()
    else:
        _recording.complete = whole


def pytest_deselected(items: list[pytest.Item]) -> None:
    if _recording is None:
        return
    if any(not _kept_back(item) for item in items):
        _recording.deselected = True


def _kept_back(item: pytest.Item) -> bool:
    """A test make test runs after the others, on its own (see the module's docstring)."""
    return any(item.get_closest_marker(name) for name in ("policy", "alone"))


@pytest.fixture(scope="session", autouse=True)
def aws_calls() -> Any:
    """Record the app's AWS calls made in this process for the whole session, to the log."""
    assert _recording is not None
    recording = _recording
    append = call_log.appender(str(recording.log))

    def sink(call: Call) -> None:
        if not recording.pause:
            append(call)

    undo = call_log.record(sink)
    yield recording
    undo()


def load_policy(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())
