"""pytest's plugins for the whole suite. Here, at the root, so that pytest-xdist's workers
load them before they read the command line (`--aws-calls` is the recorder's option)."""

pytest_plugins = ["tests.support.aws_calls"]
