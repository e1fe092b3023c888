"""App-level fixtures: the real app and chalicelib in-process, against moto's in-process AWS
(mock_aws), with resources made by the same provisioner the local stack uses.

The resources are provisioned once per run of this package (per xdist worker), not per test:
provisioning costs more than a second, and most tests take less. Between tests the data is
wiped instead (table items, bucket objects, queued messages), straight from moto's
backends, and checked gone through the API, so each test still starts from an empty stack.
"""

import importlib
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.base_backend import BackendDict
from moto.dynamodb.models import dynamodb_backends
from moto.s3.models import s3_backends
from moto.sqs.models import sqs_backends

from chalicelib import aws, settings
from devserver import provision

REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def _environment(patch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        patch.delenv(name, raising=False)
    for name, value in CREDENTIALS.items():
        patch.setenv(name, value)


@dataclass(frozen=True)
class Provisioned:
    outputs: provision.Outputs
    services: frozenset[int]  # moto's backends the provisioning used (by id)
    bucket_policy: bytes | None
    checks: dict[str, Any]  # clients of the package's own, for _assert_empty


@pytest.fixture(scope="package")
def provisioned():
    """One mock_aws and one provisioned stack for the package's tests; stopped after them,
    so tests elsewhere (the end-to-end ones over HTTP) never run inside it."""
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        _environment(patch)
        outputs = provision.provision(None, REGION, stage="test")
        yield Provisioned(
            outputs,
            frozenset(id(backends) for backends in BackendDict._instances if len(backends)),
            _bucket(outputs).policy,
            {name: boto3.client(name, region_name=REGION) for name in ("dynamodb", "s3", "sqs")},
        )


def _bucket(outputs: provision.Outputs):
    return s3_backends[DEFAULT_ACCOUNT_ID]["global"].buckets[outputs.bucket]


def _wipe(stack: Provisioned) -> None:
    """Back to what a fresh provisioning gives: the stack's data emptied (table items,
    bucket objects, queued messages), what a test added to it undone (a bucket policy), and
    every service it did not use forgotten (the CDN a test provisions, say)."""
    for table in dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables.values():
        table.items.clear()
    bucket = _bucket(stack.outputs)
    for versions in dict.values(bucket.keys):  # each name's versions, not just its latest
        for key in versions:
            key.dispose()
    bucket.keys.clear()
    for upload_id in list(bucket.multiparts):
        del bucket.multiparts[upload_id]
    bucket.policy = stack.bucket_policy
    for queue in sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues.values():
        queue._messages = []
        queue._pending_messages = set()
    for backends in list(BackendDict._instances):
        if len(backends) and id(backends) not in stack.services:
            for account in backends.values():
                account.reset()
            backends.clear()


def _assert_empty(stack: Provisioned) -> None:
    """The wipe reaches into moto's internals: prove through the API that it worked."""
    outputs, clients = stack.outputs, stack.checks
    assert clients["dynamodb"].scan(TableName=outputs.table, Select="COUNT")["Count"] == 0
    assert clients["s3"].list_objects_v2(Bucket=outputs.bucket).get("KeyCount", 0) == 0
    sqs = clients["sqs"]
    for url in sqs.list_queues().get("QueueUrls", []):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["ApproximateNumberOfMessages"] == "0", url
        assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0", url


@pytest.fixture
def resources(provisioned, monkeypatch):
    outputs = provisioned.outputs
    _environment(monkeypatch)
    for name, value in outputs.environment().items():
        monkeypatch.setenv(name, value)
    settings.get.cache_clear()
    aws.reset()
    _wipe(provisioned)
    _assert_empty(provisioned)
    yield outputs
    settings.get.cache_clear()
    aws.reset()


@pytest.fixture
def configure(resources, monkeypatch):
    """Change settings for one test: configure(MAX_UPLOAD_BYTES="1000")."""

    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        settings.get.cache_clear()

    return apply


class Calls(Counter):
    """AWS operations made through chalicelib's clients, counted by name."""

    def on_call(self, model, **_):
        self[model.name] += 1


@pytest.fixture
def calls(resources):
    counted = Calls()
    for client in (aws.client("s3"), aws.table().meta.client):
        client.meta.events.register("before-call.*.*", counted.on_call)
    return counted


@pytest.fixture
def app_module(resources):
    import app

    return importlib.reload(app)


def env(name: str) -> str:
    return os.environ[name]
