"""Local users: `python -m devserver user add NAME [--admin]` adds one to the running stack's
user pool (as an admin would with `aws cognito-idp admin-create-user`) and records its
password in the state file, so `python -m devserver token NAME` signs it in."""

import json
import secrets
from pathlib import Path

from devserver import local_state, provision

ADMINS_GROUP = "admins"


def new_password() -> str:
    """A password the pool's policy accepts (12+ characters, upper, lower and a digit)."""
    return f"Local-{secrets.token_urlsafe(9)}-A1a"


def add(name: str, *, admin: bool, password: str | None, state_file: str) -> str:
    """Create the user in the running stack's pool; returns its password."""
    state = local_state.read(state_file)
    if name in state["users"]:
        raise SystemExit(f"local user {name!r} already exists")
    password = password or new_password()
    idp = local_state.client(state, "cognito-idp")
    groups = [ADMINS_GROUP] if admin else []
    try:
        provision.create_user(idp, state["userPoolId"], name, password, groups)
    except idp.exceptions.UsernameExistsException:
        raise SystemExit(f"user {name!r} already exists in the local user pool") from None
    state["users"][name] = password
    Path(state_file).write_text(json.dumps(state, indent=2))
    return password
