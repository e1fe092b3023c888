"""Signs a local user in against the local Cognito (USER_PASSWORD_AUTH) and returns a token."""

from devserver import local_state


def token_for(user: str, password: str | None, state_file: str, *, access: bool = False) -> str:
    state = local_state.read(state_file)
    password = password or state["users"].get(user)
    if password is None:
        raise SystemExit(f"unknown local user {user!r}; pass --password")
    idp = local_state.client(state, "cognito-idp")
    result = idp.initiate_auth(
        ClientId=state["appClientId"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user, "PASSWORD": password},
    )["AuthenticationResult"]
    return result["AccessToken" if access else "IdToken"]
