"""A small Python client of the Image Service API: sign in with Cognito, call the routes,
upload through the presigned POST with progress, wait for the verdict.

    from imgsvc.client import Client
    client = Client("http://127.0.0.1:8000")
    client.login("demo", "Demo-password-1")
    image = client.upload("photo.jpg")          # presigned POST, then waits for a verdict
    print(image["status"], image.get("links"))
"""

import json
import mimetypes
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

UNFINISHED = ("awaiting_upload", "processing")
CHUNK = 64 * 1024
# The content types the service accepts, by file suffix (it checks the bytes themselves).
SUFFIX_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".bmp": "image/bmp",
    ".avif": "image/avif",
    ".heic": "image/heic",
    ".heif": "image/heif",
}


class ApiError(Exception):
    """An answer of 400 or more: its status, stable code, message and request id."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.request_id = status, code, message, request_id

    @classmethod
    def from_response(cls, response: requests.Response) -> "ApiError":
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        # The app answers {"Code", "Message", "RequestId"}; API Gateway's own refusals
        # (a bad token, a missing key) answer {"message"} with x-amzn-RequestId.
        code = body.get("Code") or _GATEWAY_CODES.get(response.status_code, "HttpError")
        message = body.get("Message") or body.get("message") or response.reason or ""
        request_id = (
            body.get("RequestId")
            or response.headers.get("X-Request-Id")
            or response.headers.get("x-amzn-RequestId")
        )
        return cls(response.status_code, code, message, request_id)


_GATEWAY_CODES = {401: "UnauthorizedError", 403: "ForbiddenError", 413: "RequestTooLargeError"}


class NotSignedIn(Exception):
    """No credentials stored: run `imgsvc login`."""


@dataclass
class Credentials:
    api: str
    username: str
    id_token: str
    refresh_token: str | None
    expires_at: float


def config_dir() -> Path:
    base = os.environ.get("IMGSVC_CONFIG_DIR") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "imgsvc"
    )
    return Path(base)


def _credentials_file() -> Path:
    return config_dir() / "credentials.json"


def load_credentials() -> Credentials | None:
    try:
        return Credentials(**json.loads(_credentials_file().read_text()))
    except (OSError, ValueError, TypeError):
        return None


def save_credentials(credentials: Credentials) -> None:
    path = _credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Tokens are secrets: the file is the user's alone from the moment it exists.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(credentials.__dict__, out)


def forget_credentials() -> None:
    _credentials_file().unlink(missing_ok=True)


class Client:
    """One API, one signed-in user (or none, for the public routes)."""

    def __init__(self, api: str, credentials: Credentials | None = None, timeout: float = 30):
        self.api = api.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout
        self.http = requests.Session()

    # -- signing in ------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return self.call("GET", "/config", auth=False)

    def login(self, username: str, password: str) -> Credentials:
        """Cognito USER_PASSWORD_AUTH against the pool the service names in GET /config."""
        result = self._cognito(
            "InitiateAuth",
            {
                "AuthFlow": "USER_PASSWORD_AUTH",
                "AuthParameters": {"USERNAME": username, "PASSWORD": password},
            },
        )
        self.credentials = Credentials(
            api=self.api,
            username=username,
            id_token=result["IdToken"],
            refresh_token=result.get("RefreshToken"),
            expires_at=time.time() + int(result.get("ExpiresIn", 3600)),
        )
        return self.credentials

    def _refresh(self) -> bool:
        found = self.credentials
        if found is None or not found.refresh_token:
            return False
        try:
            result = self._cognito(
                "InitiateAuth",
                {
                    "AuthFlow": "REFRESH_TOKEN_AUTH",
                    "AuthParameters": {"REFRESH_TOKEN": found.refresh_token},
                },
            )
        except ApiError:
            return False
        found.id_token = result["IdToken"]
        found.expires_at = time.time() + int(result.get("ExpiresIn", 3600))
        save_credentials(found)
        return True

    def _cognito(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        config = self.config()
        response = self.http.post(
            config["cognitoEndpoint"],
            json={**body, "ClientId": config["appClientId"]},
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": f"AWSCognitoIdentityProviderService.{action}",
            },
            timeout=self.timeout,
        )
        if response.status_code >= 400:
            try:
                error = response.json()
            except ValueError:
                error = {}
            kind = str(error.get("__type", "CognitoError")).rsplit("#", 1)[-1]
            message = error.get("message") or error.get("Message") or response.reason
            status = (
                401
                if kind in ("NotAuthorizedException", "UserNotFoundException")
                else (response.status_code)
            )
            raise ApiError(status, kind, str(message), response.headers.get("x-amzn-RequestId"))
        return response.json()["AuthenticationResult"]

    # -- calling the API -------------------------------------------------------------------

    def request(
        self, method: str, path: str, *, auth: bool = True, **kwargs: Any
    ) -> requests.Response:
        """One call; a 401 with a stored refresh token refreshes once and retries."""
        headers = dict(kwargs.pop("headers", None) or {})
        if auth:
            if self.credentials is None:
                raise NotSignedIn("not signed in: run `imgsvc login`")
            if self.credentials.expires_at < time.time() + 30:
                self._refresh()
            headers["Authorization"] = self.credentials.id_token
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("allow_redirects", False)
        response = self.http.request(method, self.api + path, headers=headers, **kwargs)
        if response.status_code == 401 and auth and self._refresh():
            headers["Authorization"] = self.credentials.id_token
            response = self.http.request(method, self.api + path, headers=headers, **kwargs)
        return response

    def call(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> Any:
        """request(), with an answer of 400 or more raised as ApiError and JSON decoded."""
        response = self.request(method, path, auth=auth, **kwargs)
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        if response.status_code in (204, 304) or not response.content:
            return None
        return response.json()

    def location(self, method: str, path: str, **kwargs: Any) -> str:
        """The Location of a redirecting route (a presigned GET)."""
        response = self.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response.headers["Location"]

    # -- uploads ---------------------------------------------------------------------------

    def create(
        self,
        filename: str,
        content_type: str,
        *,
        collection_id: str | None = None,
        title: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"filename": filename, "contentType": content_type}
        if collection_id:
            body["collectionId"] = collection_id
        if title:
            body["title"] = title
        # One key per intended image: a retry of this call (a dropped connection) is
        # answered with the same image instead of a second one.
        key = idempotency_key or secrets.token_urlsafe(24)
        for attempt in range(3):
            try:
                return self.call("POST", "/images", json=body, headers={"Idempotency-Key": key})
            except requests.ConnectionError:
                if attempt == 2:
                    raise
                time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    def send(
        self,
        form: dict[str, Any],
        path: Path,
        content_type: str,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """The file to its presigned POST, as a browser form (fields first, file last),
        streamed from disk with progress (bytes sent so far)."""
        body = _Multipart(form["fields"], path, content_type, progress)
        response = self.http.post(
            form["url"],
            data=body,
            headers={"Content-Type": body.content_type, "Content-Length": str(len(body))},
            timeout=max(self.timeout, 300),
        )
        if response.status_code >= 300:
            raise ApiError(response.status_code, "UploadRefused", _s3_message(response), None)

    def wait(self, image_id: str, *, timeout: float = 120, interval: float = 0.5) -> dict:
        """GET /images/{id} until its upload is processed (ready or failed, or expired)."""
        deadline = time.monotonic() + timeout
        while True:
            image = self.call("GET", f"/images/{image_id}")
            if image["status"] not in UNFINISHED:
                return image
            if time.monotonic() > deadline:
                raise TimeoutError(f"{image_id} is still {image['status']} after {timeout:g} s")
            time.sleep(interval)

    def upload(
        self,
        path: str | Path,
        *,
        collection_id: str | None = None,
        title: str | None = None,
        progress: Callable[[int], None] | None = None,
        wait: bool = True,
        timeout: float = 120,
    ) -> dict[str, Any]:
        path = Path(path)
        content_type = content_type_of(path)
        created = self.create(path.name, content_type, collection_id=collection_id, title=title)
        self.send(created["upload"], path, content_type, progress)
        if not wait:
            return created["image"]
        return self.wait(created["image"]["id"], timeout=timeout)


def content_type_of(path: Path) -> str:
    found = SUFFIX_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    return found if found in SUFFIX_TYPES.values() else "image/jpeg"


def _s3_message(response: requests.Response) -> str:
    text = response.text
    start, end = text.find("<Message>"), text.find("</Message>")
    return text[start + 9 : end] if 0 <= start < end else f"storage answered {response.status_code}"


class _Multipart:
    """multipart/form-data of a presigned POST, read in chunks so the file is never held in
    memory whole and every chunk sent moves the progress bar. Its length is known up front:
    S3 wants Content-Length on a POST (it refuses chunked transfer encoding)."""

    def __init__(
        self,
        fields: dict[str, str],
        path: Path,
        content_type: str,
        progress: Callable[[int], None] | None,
    ):
        boundary = secrets.token_hex(16)
        self.content_type = f"multipart/form-data; boundary={boundary}"
        part = '--{}\r\nContent-Disposition: form-data; name="{}"\r\n\r\n{}\r\n'
        head = b"".join(
            part.format(boundary, name, value).encode() for name, value in fields.items()
        )
        safe = path.name.replace('"', "_").replace("\r", "_").replace("\n", "_")
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{safe}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        self._head, self._tail = head, f"\r\n--{boundary}--\r\n".encode()
        self._path, self._size = path, path.stat().st_size
        self._progress = progress
        self._chunks: Iterator[bytes] | None = None
        self._pending = b""

    def __len__(self) -> int:
        return len(self._head) + self._size + len(self._tail)

    def _generate(self) -> Iterator[bytes]:
        yield self._head
        sent = 0
        with self._path.open("rb") as source:
            while chunk := source.read(CHUNK):
                yield chunk
                sent += len(chunk)
                if self._progress:
                    self._progress(sent)
        yield self._tail

    def read(self, size: int = -1) -> bytes:
        if self._chunks is None:
            self._chunks = self._generate()
        while size < 0 or len(self._pending) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._pending += chunk
        if size < 0:
            size = len(self._pending)
        out, self._pending = self._pending[:size], self._pending[size:]
        return out
