"""App-level fixtures: the real app and chalicelib in-process, against moto's in-process AWS
(mock_aws), with resources made by the same provisioner the local stack uses."""

import importlib
import os
from collections import Counter

import pytest
from moto import mock_aws

from chalicelib import aws, settings
from devserver import provision

REGION = "us-east-1"


@pytest.fixture
def resources(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    with mock_aws():
        outputs = provision.provision(None, REGION, stage="test")
        for name, value in {
            "BUCKET_NAME": outputs.bucket,
            "TABLE_NAME": outputs.table,
            "USER_POOL_ID": outputs.user_pool_id,
            "USER_POOL_ARN": outputs.user_pool_arn,
            "APP_CLIENT_ID": outputs.app_client_id,
            "EVENTS_QUEUE": outputs.events_queue,
            "EVENTS_QUEUE_URL": outputs.events_queue_url,
            "EVENT_BUS_NAME": outputs.event_bus,
        }.items():
            monkeypatch.setenv(name, value)
        settings.get.cache_clear()
        aws.reset()
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
