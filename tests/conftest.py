"""Shared fixtures. End-to-end tests get a running local stack (see tests/support)."""

import pytest

from tests.support import localstack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    running = localstack.start(tmp_path_factory.mktemp("devserver"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def cdn_stack(tmp_path_factory):
    """A second local stack that plays the CDN stage option (python -m devserver --cdn)."""
    running = localstack.start(tmp_path_factory.mktemp("devserver-cdn"), args=("--cdn",))
    yield running
    running.stop()
