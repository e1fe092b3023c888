"""Starts `python -m devserver` as a child process on free ports and talks to it over HTTP.

The end-to-end tests use the stack exactly as a developer does: real moto server, real
Cognito tokens, real presigned POSTs, real S3 -> SQS -> handler events.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LocalStack:
    process: subprocess.Popen
    api: str
    aws: str
    state: dict[str, Any]
    output: list[str] = field(default_factory=list)
    state_file: Path | None = None
    # Called with each line the stack prints after it started (from the reader's thread).
    listeners: list[Callable[[str], None]] = field(default_factory=list)
    _tokens: dict[str, str] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.aws,
            region_name=self.state["region"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def create_user(
        self, name: str, password: str = "Test-password-1", groups: tuple[str, ...] = ()
    ) -> None:
        idp = self.client("cognito-idp")
        pool = self.state["userPoolId"]
        idp.admin_create_user(UserPoolId=pool, Username=name, MessageAction="SUPPRESS")
        idp.admin_set_user_password(
            UserPoolId=pool, Username=name, Password=password, Permanent=True
        )
        for group in groups:
            idp.admin_add_user_to_group(UserPoolId=pool, Username=name, GroupName=group)
        self.state["users"][name] = password

    def auth(self, user: str, *, access: bool = False) -> dict[str, Any]:
        result = self.client("cognito-idp").initiate_auth(
            ClientId=self.state["appClientId"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": user, "PASSWORD": self.state["users"][user]},
        )["AuthenticationResult"]
        return result

    def token_from_another_client(self, user: str) -> str:
        """A real ID token of this pool, issued to another app client (a wrong audience)."""
        idp = self.client("cognito-idp")
        client_id = idp.create_user_pool_client(
            UserPoolId=self.state["userPoolId"],
            ClientName=f"another-app-{user}",
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"],
        )["UserPoolClient"]["ClientId"]
        return idp.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": user, "PASSWORD": self.state["users"][user]},
        )["AuthenticationResult"]["IdToken"]

    def token(self, user: str) -> str:
        if user not in self._tokens:
            self._tokens[user] = self.auth(user)["IdToken"]
        return self._tokens[user]

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": self.token(user)}

    def call(self, method: str, path: str, user: str | None = None, **kwargs: Any):
        headers = dict(kwargs.pop("headers", {}))
        if user:
            headers.update(self.headers(user))
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("allow_redirects", False)
        return requests.request(method, self.api + path, headers=headers, **kwargs)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return self.process.returncode


def start(
    tmp: Path,
    *,
    extra_env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    timeout: float = 60,
) -> LocalStack:
    state_file = tmp / "state.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "devserver", "--port", "0", "--state-file", str(state_file), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    ready: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)
        if line.startswith('{"ready": true'):
            ready = json.loads(line)
            break
        if time.monotonic() > deadline:
            break
    if not ready:
        process.kill()
        raise RuntimeError("devserver did not start:\n" + "".join(output[-50:]))
    state = json.loads(state_file.read_text())
    stack = LocalStack(process, ready["api"], ready["aws"], state, output, state_file)
    threading.Thread(target=_drain, args=(process, output, stack.listeners), daemon=True).start()
    return stack


def _drain(
    process: subprocess.Popen, output: list[str], listeners: list[Callable[[str], None]]
) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)
        for listener in listeners:
            listener(line)
        if len(output) > 20000:
            del output[:10000]


def descendants(pid: int) -> set[int]:
    """Every process started under pid (children, their children, ...)."""
    found, frontier = set(), [pid]
    while frontier:
        parent = frontier.pop()
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(parent)], capture_output=True, text=True, check=False
        ).stdout.split()
        children = {int(child) for child in out}
        found |= children
        frontier.extend(children)
    return found


def upload(
    stack: LocalStack,
    user: str,
    data: bytes,
    *,
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
    **fields: Any,
) -> dict[str, Any]:
    """POST /images, then send the bytes with the presigned POST exactly as a browser form
    would (multipart, the returned fields first, the file last). Returns the created image."""
    created = stack.call(
        "POST", "/images", user, json={"filename": filename, "contentType": content_type, **fields}
    )
    assert created.status_code == 201, created.text
    form = created.json()["upload"]
    sent = requests.post(
        form["url"], data=form["fields"], files={"file": (filename, data, content_type)}, timeout=60
    )
    assert sent.status_code in (200, 201, 204), sent.text
    return created.json()["image"]


def wait_until_done(
    stack: LocalStack, user: str, image_id: str, timeout: float = 30
) -> dict[str, Any]:
    """Poll GET /images/{id} until the latest upload is no longer awaited or processing."""
    deadline = time.monotonic() + timeout
    while True:
        record = stack.call("GET", f"/images/{image_id}", user).json()
        if record.get("status") not in ("awaiting_upload", "processing"):
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"image {image_id} still {record.get('status')} after {timeout}s")
        time.sleep(0.2)
