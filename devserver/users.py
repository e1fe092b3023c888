"""Local users: `python -m devserver user add NAME [--admin]` adds one to the running stack's
user pool (as an admin would with `aws cognito-idp admin-create-user`) and records its
password in the state file, so `python -m devserver token NAME` signs it in."""

import json
import secrets
from pathlib import Path
from typing import Any

import boto3

from devserver import provision

ADMINS_GROUP = "admins"


def _state(state_file: str) -> dict[str, Any]:
    path = Path(state_file)
    if not path.exists():
        raise SystemExit(f"no local stack is running (no {state_file}); start it with `make run`")
    return json.loads(path.read_text())


def new_password() -> str:
    """A password the pool's policy accepts (12+ characters, upper, lower and a digit)."""
    return f"Local-{secrets.token_urlsafe(9)}-A1a"


def add(name: str, *, admin: bool, password: str | None, state_file: str) -> str:
    """Create the user in the running stack's pool; returns its password."""
    state = _state(state_file)
    if name in state["users"]:
        raise SystemExit(f"local user {name!r} already exists")
    password = password or new_password()
    idp = boto3.client(
        "cognito-idp",
        endpoint_url=state["aws"],
        region_name=state["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 (moto accepts any credentials)
    )
    groups = [ADMINS_GROUP] if admin else []
    try:
        provision.create_user(idp, state["userPoolId"], name, password, groups)
    except idp.exceptions.UsernameExistsException:
        raise SystemExit(f"user {name!r} already exists in the local user pool") from None
    state["users"][name] = password
    Path(state_file).write_text(json.dumps(state, indent=2))
    return password
