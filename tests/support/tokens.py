"""Forged tokens for the gateway's refusal tests: signed with moto's own Cognito key (so only
the claim under test is wrong), unsigned, or tampered."""

import base64
import gzip
import json
import time
from pathlib import Path

import jwt
import moto


def moto_signing_key() -> dict:
    path = Path(moto.__file__).parent / "cognitoidp" / "resources" / "jwks-private.json.gz"
    return json.loads(gzip.decompress(path.read_bytes()))


def forge(claims: dict, *, kid: str = "dummy") -> str:
    key = jwt.PyJWK.from_dict(moto_signing_key()).key
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def expired(token: str) -> str:
    claims = claims_of(token)
    claims["iat"] = int(time.time()) - 7200
    claims["exp"] = int(time.time()) - 3600
    return forge(claims)


def unsigned(token: str) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    payload = token.split(".")[1]
    return f"{header}.{payload}."


def tampered_signature(token: str) -> str:
    head, payload, signature = token.split(".")
    flipped = "A" if signature[10] != "A" else "B"
    return f"{head}.{payload}.{signature[:10]}{flipped}{signature[11:]}"


def tampered_payload(token: str) -> str:
    head, _, signature = token.split(".")
    claims = claims_of(token)
    claims["cognito:groups"] = ["admins"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"
