"""The local API Gateway: serves the Chalice app over HTTP and verifies Cognito tokens.

`chalice local` believes any JWT it is given. This gateway does what API Gateway's Cognito
user-pool authorizer does: the ID token's RS256 signature against the pool's JWKS, `exp`,
`iss`, `aud` (the app client) and `token_use` = id. Anything else gets 401
{"message": "Unauthorized"} and never reaches the app. Built-in (API key) authorizers run
through Chalice's own local authorizer, as `chalice local` runs them.
"""

import base64
import logging
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import requests
from chalice.app import Chalice, ChaliceAuthorizer, CognitoUserPoolAuthorizer
from chalice.config import Config
from chalice.local import LocalGateway, LocalGatewayAuthorizer, LocalGatewayException

log = logging.getLogger("devserver.gateway")
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit


class Unauthorized(LocalGatewayException):
    CODE = 401

    def __init__(self) -> None:
        super().__init__(
            {"x-amzn-ErrorType": "UnauthorizedException", "Content-Type": "application/json"},
            b'{"message":"Unauthorized"}',
        )


class TokenVerifier:
    """Verifies Cognito ID tokens against one pool and app client."""

    def __init__(self, endpoint: str, region: str, pool_id: str, client_id: str):
        self.issuer = f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"
        self.client_id = client_id
        self._jwks_url = f"{endpoint.rstrip('/')}/{pool_id}/.well-known/jwks.json"
        self._keys: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def _signing_keys(self) -> dict[str, Any]:
        with self._lock:
            if self._keys is None:
                jwks = requests.get(self._jwks_url, timeout=5).json()
                self._keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(jwks).keys}
            return self._keys

    def claims(self, token: str) -> dict[str, Any] | None:
        """The verified claims of an ID token, or None for any token API Gateway would refuse."""
        if token.lower().startswith("bearer "):
            token = token[7:]
        try:
            header = jwt.get_unverified_header(token)
            key = self._signing_keys().get(header.get("kid", ""))
            if key is None or header.get("alg") != "RS256":
                return None
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self.client_id,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "token_use"]},
            )
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            return None
        if claims.get("token_use") != "id":
            return None
        return claims


class VerifyingAuthorizer(LocalGatewayAuthorizer):
    """Chalice's local authorizer, with Cognito tokens verified instead of believed."""

    def __init__(self, app: Chalice, verifier: TokenVerifier):
        super().__init__(app)
        self._verifier = verifier

    def authorize(self, raw_path: str, lambda_event: dict, lambda_context: Any):
        # API Gateway gives every request an id (its x-amzn-RequestId); chalice local none.
        lambda_event["requestContext"].setdefault("requestId", str(uuid.uuid4()))
        route = self._route_for_event(lambda_event)
        if route is not None and isinstance(route.authorizer, ChaliceAuthorizer):
            return self._builtin(route.authorizer, raw_path, lambda_event, lambda_context)
        if route is None or not isinstance(route.authorizer, CognitoUserPoolAuthorizer):
            return super().authorize(raw_path, lambda_event, lambda_context)
        token = lambda_event.get("headers", {}).get("authorization", "")
        claims = self._verifier.claims(token) if token else None
        if claims is None:
            raise Unauthorized()
        # API Gateway passes every claim as a string (groups as one string).
        claims = {k: v if isinstance(v, str) else _as_gateway_string(v) for k, v in claims.items()}
        lambda_event["requestContext"]["authorizer"] = {"claims": claims}
        return lambda_event, lambda_context

    def _builtin(
        self, authorizer: ChaliceAuthorizer, raw_path: str, lambda_event: dict, lambda_context: Any
    ):
        """Run a built-in authorizer on the header it names (chalice local reads only
        Authorization), so X-Api-Key works locally as it does behind API Gateway."""
        header = (authorizer.config.header or "Authorization").lower()
        original = lambda_event.get("headers") or {}
        headers = {k: v for k, v in original.items() if k != "authorization"}
        if original.get(header) is not None:
            headers["authorization"] = original[header]
        lambda_event["headers"] = headers
        try:
            return super().authorize(raw_path, lambda_event, lambda_context)
        finally:
            lambda_event["headers"] = original


def _as_gateway_string(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def one_request_per_thread(app: Chalice) -> None:
    """Chalice keeps the request it is answering on the app object (`app.current_request`,
    `app.lambda_context`). A Lambda container answers one request at a time; the local gateway
    answers many at once on threads, so each thread keeps its own, or a view could read another
    request's body (a JSON POST answered "the request body must be a JSON object" under a soak
    of concurrent uploads)."""
    local = threading.local()

    def per_thread(name: str) -> property:
        return property(
            lambda _self: getattr(local, name, None),
            lambda _self, value: setattr(local, name, value),
        )

    for name in ("current_request", "lambda_context"):
        app.__dict__.pop(name, None)
    app.__class__ = type(
        f"PerThread{type(app).__name__}",
        (type(app),),
        {
            "current_request": per_thread("current_request"),
            "lambda_context": per_thread("lambda_context"),
        },
    )


class Gateway(LocalGateway):
    def __init__(self, app: Chalice, verifier: TokenVerifier):
        one_request_per_thread(app)
        config = Config.create(chalice_stage="dev", app_name=app.app_name, lambda_timeout=30)
        super().__init__(app, config)
        self._authorizer = VerifyingAuthorizer(app, verifier)


def make_handler(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "image-service-devserver"
        # A reply is written as headers then body; with Nagle's algorithm on, the body waits
        # for the client's delayed ACK of the headers (about 40 ms on a kept-alive
        # connection). API Gateway has no such stall, so neither may the local one.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

        def _handle(self) -> None:
            try:
                length = int(self.headers.get("content-length") or 0)
            except ValueError:
                return self._reply(400, {}, b'{"message":"Bad Request"}')
            if length > MAX_BODY_BYTES:
                self.close_connection = True
                return self._reply(413, {}, b'{"message":"Request Entity Too Large"}')
            body = self.rfile.read(length) if length > 0 else None
            try:
                response = gateway.handle_request(
                    method=self.command, path=self.path, headers=dict(self.headers), body=body
                )
            except LocalGatewayException as error:
                return self._reply(error.CODE, dict(error.headers), error.body)
            except Exception:
                log.exception("request failed: %s %s", self.command, self.path)
                return self._reply(502, {}, b'{"message":"Internal server error"}')
            headers = dict(response.get("headers") or {})
            headers.update(response.get("multiValueHeaders") or {})
            payload = response.get("body")
            if response.get("isBase64Encoded") and payload is not None:
                payload = base64.b64decode(payload)
            self._reply(response["statusCode"], headers, payload)

        def _reply(self, status: int, headers: dict[str, Any], body: Any) -> None:
            if isinstance(body, str):
                body = body.encode()
            body = body or b""
            self.send_response(status)
            headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
            headers.setdefault("Content-Type", "application/json")
            for name, value in headers.items():
                for item in value if isinstance(value, list) else [value]:
                    self.send_header(name, str(item))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

    return Handler


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(app: Chalice, verifier: TokenVerifier, host: str, port: int) -> GatewayServer:
    server = GatewayServer((host, port), make_handler(Gateway(app, verifier)))
    threading.Thread(target=server.serve_forever, name="gateway", daemon=True).start()
    return server
