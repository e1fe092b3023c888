"""Signs a local user in against the local Cognito (USER_PASSWORD_AUTH) and returns a token."""

import json
from pathlib import Path

import boto3


def token_for(user: str, password: str | None, state_file: str, *, access: bool = False) -> str:
    path = Path(state_file)
    if not path.exists():
        raise SystemExit(f"no local stack is running (no {state_file}); start it with `make run`")
    state = json.loads(path.read_text())
    password = password or state["users"].get(user)
    if password is None:
        raise SystemExit(f"unknown local user {user!r}; pass --password")
    idp = boto3.client(
        "cognito-idp",
        endpoint_url=state["aws"],
        region_name=state["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    result = idp.initiate_auth(
        ClientId=state["appClientId"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user, "PASSWORD": password},
    )["AuthenticationResult"]
    return result["AccessToken" if access else "IdToken"]
