"""CloudFront signed URLs, the CDN stage option: the app signs, CloudFront verifies each view
at the edge (the distribution trusts one key group), and the API is not on an image's path.

The private keys live in one SSM SecureString parameter (CDN_KEYS_PARAMETER), as JSON:

    {"active": "a", "keys": {"a": {"id": "K2EXAMPLE", "pem": "-----BEGIN RSA PRIVATE…"}, …}}

by the template's key slot (a, b), each with the id CloudFront gave its public key (a
signed URL names it as Key-Pair-Id).
Links are signed with the active key; the edge accepts every key of the key group, which
holds two (infra/template.yaml: CdnPublicKeyA, CdnPublicKeyB), so a rotation never breaks
a link: add the new public key, make it active here, and drop the old one from the key
group when its links may stop (scripts/cdn_keys.py does each step; docs/deploy.md).
"""

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from chalicelib import aws, settings

# How often the keys are read again: a new active key reaches every warm function within it.
KEYS_TTL_SECONDS = 300


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private_pem: str


_keys_lock = threading.Lock()
_keys: tuple[float, SigningKey, frozenset[str]] | None = None


def _current() -> tuple[SigningKey, frozenset[str]]:
    """(the active key, the ids of every key held), read again every KEYS_TTL_SECONDS."""
    global _keys
    with _keys_lock:
        if _keys is None or time.monotonic() - _keys[0] > KEYS_TTL_SECONDS:
            _keys = (time.monotonic(), *_read_keys())
        return _keys[1], _keys[2]


def active_key() -> SigningKey:
    return _current()[0]


def held_key_ids() -> frozenset[str]:
    """The ids (Key-Pair-Id) of the keys held: a retired key's id is not among them."""
    return _current()[1]


def _read_keys() -> tuple[SigningKey, frozenset[str]]:
    import json

    name = settings.get().cdn_keys_parameter
    value = aws.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    stored = json.loads(value)
    active = stored["keys"][stored["active"]]
    held = frozenset(key["id"] for key in stored["keys"].values())
    return SigningKey(active["id"], active["pem"]), held


def forget_keys() -> None:
    """Read the keys again at the next signing (tests, and a rotation in this process)."""
    global _keys
    with _keys_lock:
        _keys = None


def url(key: str) -> str:
    """Where the CDN serves the object `key` (CloudFront's path is the object's key)."""
    return f"{settings.get().cdn_url}/{key}"


def signed_url(key: str, expires: int) -> str:
    """A canned-policy signed URL of exactly this object, valid until `expires` (epoch s)."""
    signer = _signer(active_key())
    return signer.generate_presigned_url(url(key), date_less_than=_moment(expires))


def signed_url_under(key: str, prefix: str, expires: int) -> str:
    """A signed URL of `key` whose custom policy admits every object under `prefix`: the links
    to one image's variants share one signature, which is cached, so a listing signs once per
    image and window (an RSA signature costs tens of milliseconds in pure Python)."""
    query = _policy_query(prefix, expires, active_key())
    return f"{url(key)}?{query}"


@lru_cache(maxsize=4096)
def _policy_query(prefix: str, expires: int, signing: SigningKey) -> str:
    signer = _signer(signing)
    policy = signer.build_policy(url(prefix) + "*", _moment(expires))
    signed = signer.generate_presigned_url(url(prefix), policy=policy)
    return signed.split("?", 1)[1]


@lru_cache(maxsize=4)
def _signer(signing: SigningKey) -> Any:
    import rsa  # pure Python (no native build for Lambda); only the CDN option loads it
    from botocore.signers import CloudFrontSigner

    private = rsa.PrivateKey.load_pkcs1(signing.private_pem.encode())
    # CloudFront's signatures are RSA with SHA-1 (its documented, only choice for RSA keys).
    return CloudFrontSigner(signing.key_id, lambda message: rsa.sign(message, private, "SHA-1"))


def _moment(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def invalidate(paths: list[str]) -> None:
    """Ask the edge to drop its copies of `paths` (/links/img_…/*): what was deleted at the
    origin stops being served once CloudFront has run the invalidation (typically within a
    minute or two), not only when its cache entry expires."""
    config = settings.get()
    aws.client("cloudfront").create_invalidation(
        DistributionId=config.cdn_distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": len(paths), "Items": paths},
            "CallerReference": f"{time.time_ns()}-{paths[0]}",
        },
    )
