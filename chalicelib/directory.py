"""The user directory (the Cognito user pool): who a user name belongs to.

Members are kept by user id (the `sub`), which never changes; a name is looked up once,
when someone is added by it, with AdminGetUser (one call, by the pool's own key).
"""

from botocore.exceptions import ClientError

from chalicelib import aws, settings


def user_id_of(username: str) -> str | None:
    """The `sub` of the user with this name (or alias the pool accepts); None if none."""
    try:
        user = aws.client("cognito-idp").admin_get_user(
            UserPoolId=settings.get().user_pool_id, Username=username
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "UserNotFoundException":
            return None
        raise
    attributes = {item["Name"]: item["Value"] for item in user.get("UserAttributes", [])}
    return attributes.get("sub")
