"""The web page: one static HTML page, its script and style, and the settings it needs.

The files live in chalicelib/static and are served by the app itself (no CDN, no build
step). The page signs in against the stage's Cognito with USER_PASSWORD_AUTH, so it needs the
Cognito endpoint and app client id; both come from client_config().
"""

from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from chalice import Response

from chalicelib import aws, settings

STATIC = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@cache
def _files() -> dict[str, Path]:
    """The servable files by name: only what is in the folder, with a known type."""
    return {
        path.name: path
        for path in STATIC.iterdir()
        if path.is_file() and path.suffix in CONTENT_TYPES
    }


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _endpoints() -> tuple[str, str]:
    """Where the browser talks to Cognito and S3: the endpoints boto3 itself would use."""
    return aws.client("cognito-idp").meta.endpoint_url, aws.client("s3").meta.endpoint_url


def _content_security_policy() -> str:
    cognito, s3 = (_origin(url) for url in _endpoints())
    return "; ".join(
        (
            "default-src 'self'",
            f"connect-src 'self' {cognito} {s3}",
            f"img-src 'self' {s3} blob: data:",
            "style-src 'self'",
            "script-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            f"form-action 'self' {s3}",
        )
    )


def asset(name: str) -> Response:
    path = _files().get(name)
    if path is None:
        return Response(
            body={"Code": "NotFoundError", "Message": f"no such file: {name[:60]}"}, status_code=404
        )
    headers = {
        "Content-Type": CONTENT_TYPES[path.suffix],
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if path.suffix == ".html":
        headers["Content-Security-Policy"] = _content_security_policy()
    return Response(body=path.read_text(), status_code=200, headers=headers)


def client_config() -> dict:
    config = settings.get()
    cognito, _ = _endpoints()
    return {
        "region": config.region,
        "userPoolId": config.user_pool_id,
        "appClientId": config.app_client_id,
        "cognitoEndpoint": cognito,
        "maxUploadBytes": config.max_upload_bytes,
        "variants": [spec.name for spec in config.variants],
    }
