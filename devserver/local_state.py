"""The running local stack's state file (`make run` writes .devserver/state.json): reading it,
and boto3 clients of the moto it names. Everything that reaches a running stack from outside
(`python -m devserver user|token`, `make admin STAGE=local`, `make redrive STAGE=local`)
goes through here."""

import json
from pathlib import Path
from typing import Any

DEFAULT_FILE = Path(__file__).resolve().parent.parent / ".devserver" / "state.json"


def read(state_file: str | Path) -> dict[str, Any]:
    path = Path(state_file)
    if not path.exists():
        raise SystemExit(f"no local stack is running (no {state_file}); start it with `make run`")
    return json.loads(path.read_text())


def client(state: dict[str, Any], service: str) -> Any:
    """A boto3 client of the stack's moto, which takes any credentials."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=state["aws"],
        region_name=state["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106
    )
