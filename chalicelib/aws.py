"""Lazily created boto3 clients, one of each per process.

Created on first use so a cold start pays only for the clients a function touches, and kept
in module state so warm invocations reuse their connections. Endpoints are boto3's own
business (it reads them from the environment), so this code is the same everywhere.
"""

from functools import cache
from typing import Any

from botocore.config import Config

from chalicelib import settings

_RETRIES = Config(
    retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=5, read_timeout=30
)


@cache
def _session() -> Any:
    import boto3  # deferred: importing boto3 costs ~100 ms of cold start

    return boto3.session.Session(region_name=settings.get().region)


@cache
def client(service: str) -> Any:
    """The shared client for one service ('s3', 'dynamodb')."""
    if service == "s3":
        config = _RETRIES.merge(Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    else:
        config = _RETRIES
    return _session().client(service, config=config)


@cache
def table() -> Any:
    """The service's DynamoDB table (boto3 resource: plain Python values in and out)."""
    resource = _session().resource("dynamodb", config=_RETRIES)
    return resource.Table(settings.get().table)


def reset() -> None:
    """Forget every client (tests swap endpoints between stacks)."""
    client.cache_clear()
    table.cache_clear()
    _session.cache_clear()
