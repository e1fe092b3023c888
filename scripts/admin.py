"""Creates an administrator who can sign in on the web page at once (`make admin`).

    python scripts/admin.py --stage prod --user alice --email alice@example.com
    python scripts/admin.py --stage local --user alice --email alice@example.com  # make run

Makes the user in the stage's user pool (USER_POOL_ID in .chalice/config.json, written by
`make infra`) with a verified email (so a forgotten password can be reset), puts it in the
`admins` group, and prints a one-time temporary password. The first sign-in with it is
answered by Cognito's NEW_PASSWORD_REQUIRED challenge, and the page asks for a password of
the user's own; the temporary one expires after the pool's TemporaryPasswordValidityDays
(7). Nothing is emailed: the operator hands the temporary password over.
"""

import argparse
import json
import secrets
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from devserver import local_state  # noqa: E402

ADMINS_GROUP = "admins"


def temporary_password() -> str:
    """One the pool's policy accepts: 12+ characters with upper, lower and digits."""
    return f"Tmp-{secrets.token_urlsafe(12)}-9a"


def user_pool_id(stage: str, chalice_dir: Path = ROOT / ".chalice") -> str:
    config = json.loads((chalice_dir / "config.json").read_text())
    if stage not in config["stages"]:
        raise SystemExit(f"admin: stage {stage!r} is not in .chalice/config.json")
    return config["stages"][stage]["environment_variables"]["USER_POOL_ID"]


def create_admin(idp: Any, pool_id: str, user: str, email: str) -> str:
    """Create the user, verified and in admins; returns its temporary password."""
    password = temporary_password()
    idp.admin_create_user(
        UserPoolId=pool_id,
        Username=user,
        TemporaryPassword=password,
        MessageAction="SUPPRESS",
        UserAttributes=[
            {"Name": "email", "Value": email},
            {"Name": "email_verified", "Value": "true"},
        ],
    )
    idp.admin_add_user_to_group(UserPoolId=pool_id, Username=user, GroupName=ADMINS_GROUP)
    return password


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True, help="a deployed stage, or local for make run")
    parser.add_argument("--user", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--region", default=None, help="default: the AWS profile's region")
    parser.add_argument(
        "--state-file", type=Path, default=local_state.DEFAULT_FILE, help="(stage local)"
    )
    args = parser.parse_args(argv)
    if "@" not in args.email:
        print(f"admin: {args.email!r} is not an email address", file=sys.stderr)
        return 2

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    if args.stage == "local":
        state = local_state.read(args.state_file)
        idp = local_state.client(state, "cognito-idp")
        pool_id = state["userPoolId"]
    else:
        idp = boto3.client("cognito-idp", region_name=args.region)
        pool_id = user_pool_id(args.stage)
    try:
        password = create_admin(idp, pool_id, args.user, args.email)
    except ClientError as error:
        print(f"admin: {error.response['Error']['Message']}", file=sys.stderr)
        return 1
    except BotoCoreError as error:
        print(f"admin: {error}", file=sys.stderr)
        return 1
    print(f"admin: {args.user} <{args.email}> is in {ADMINS_GROUP} of {pool_id}")
    print(f"admin: temporary password (sign in once, then choose your own): {password}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
