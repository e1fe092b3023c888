"""The spine over real HTTP: health, identity from verified tokens, refusals exactly as API
Gateway's Cognito authorizer gives them, and S3 events reaching the handler."""

import io
import os
import subprocess
import sys
import time

import pytest
import requests
from PIL import Image

from tests.support import localstack, tokens

pytestmark = pytest.mark.e2e


def test_health_is_public(stack):
    response = stack.call("GET", "/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_me_returns_the_verified_identity(stack):
    response = stack.call("GET", "/me", "admin")
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "admin"
    assert body["groups"] == ["admins"]
    assert body["sub"] == tokens.claims_of(stack.token("admin"))["sub"]


def test_a_bearer_prefix_is_accepted(stack):
    response = stack.call("GET", "/me", headers={"Authorization": "Bearer " + stack.token("demo")})
    assert response.status_code == 200


def _other_pool_token(stack) -> str:
    idp = stack.client("cognito-idp")
    pool = idp.create_user_pool(PoolName="someone-elses")["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="x", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    idp.admin_create_user(UserPoolId=pool, Username="demo", MessageAction="SUPPRESS")
    idp.admin_set_user_password(
        UserPoolId=pool, Username="demo", Password="Other-pass-1", Permanent=True
    )
    return idp.initiate_auth(
        ClientId=client,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "demo", "PASSWORD": "Other-pass-1"},
    )["AuthenticationResult"]["IdToken"]


BAD_TOKENS = {
    "garbage": lambda stack: "garbage",
    "empty bearer": lambda stack: "Bearer ",
    "three dots": lambda stack: "a.b.c",
    "unsigned (alg none)": lambda stack: tokens.unsigned(stack.token("demo")),
    "one signature character changed": lambda stack: tokens.tampered_signature(stack.token("demo")),
    "payload changed": lambda stack: tokens.tampered_payload(stack.token("demo")),
    "expired": lambda stack: tokens.expired(stack.token("demo")),
    "another pool": _other_pool_token,
    "another app client (wrong audience)": lambda stack: stack.token_from_another_client("demo"),
    "access token, not ID token": lambda stack: stack.auth("demo")["AccessToken"],
    "unknown key id": lambda stack: tokens.forge(tokens.claims_of(stack.token("demo")), kid="x"),
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
def test_a_bad_token_gets_401_and_the_server_keeps_serving(stack, case):
    token = BAD_TOKENS[case](stack)
    response = stack.call("GET", "/me", headers={"Authorization": token})
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert stack.call("GET", "/me", "demo").status_code == 200


def test_no_token_gets_401(stack):
    response = stack.call("GET", "/me")
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


def test_a_jpeg_put_into_uploads_reaches_the_handler(stack):
    created = stack.call(
        "POST", "/images", "demo", json={"filename": "direct.jpg", "contentType": "image/jpeg"}
    )
    assert created.status_code == 201
    image = created.json()["image"]
    key = created.json()["upload"]["fields"]["key"]
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (10, 120, 200)).save(buffer, "JPEG")
    stack.client("s3").put_object(Bucket=stack.state["bucket"], Key=key, Body=buffer.getvalue())
    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline:
        status = stack.call("GET", f"/images/{image['id']}", "demo").json()["status"]
        if status not in ("awaiting_upload", "processing"):
            break
        time.sleep(0.2)
    assert status == "ready"


def test_stopping_the_stack_leaves_no_process_behind(tmp_path):
    running = localstack.start(tmp_path)
    pid = running.process.pid
    assert requests.get(running.api + "/health", timeout=5).status_code == 200
    started = localstack.descendants(pid)
    code = running.stop()
    assert code == 0, "".join(running.output[-40:])
    for leftover in {pid, *started}:
        with pytest.raises(ProcessLookupError):
            os.kill(leftover, 0)
    with pytest.raises(requests.ConnectionError):
        requests.get(running.api + "/health", timeout=2)
    assert not (tmp_path / "state.json").exists()


def test_a_re_signed_copy_of_a_valid_token_is_accepted(stack):
    """The forged-token cases above differ from a good token only in the claim under test."""
    token = tokens.forge(tokens.claims_of(stack.token("demo")))
    assert stack.call("GET", "/me", headers={"Authorization": token}).status_code == 200


def _devserver(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "devserver", *args],
        cwd=localstack.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_user_added_from_the_command_line_signs_in_with_its_groups(stack):
    state = str(stack.state_file)
    added = _devserver("user", "add", "cli-user", "--admin", "--state-file", state)
    assert added.returncode == 0, added.stderr
    token = _devserver("token", "cli-user", "--state-file", state)
    assert token.returncode == 0, token.stderr
    me = stack.call("GET", "/me", headers={"Authorization": token.stdout.strip()})
    assert me.status_code == 200
    assert (me.json()["username"], me.json()["groups"]) == ("cli-user", ["admins"])
    again = _devserver("user", "add", "cli-user", "--state-file", state)
    assert again.returncode != 0
    assert "already exists" in again.stderr
    # A user the pool has but the state file does not (made by an admin) is refused as cleanly.
    stack.create_user("pool-only-user")
    in_pool = _devserver("user", "add", "pool-only-user", "--state-file", state)
    assert in_pool.returncode != 0
    assert "already exists" in in_pool.stderr
    assert "Traceback" not in in_pool.stderr
