"""The local CDN: what CloudFront does in front of the bucket, for the CDN stage option.

`provision` makes the template's CloudFront resources in moto (public keys, the key group,
the origin access control, the distribution, the bucket policy) and keeps the private keys
where the app reads them (an SSM SecureString, as scripts/cdn_keys.py does in the cloud).
`serve` answers GET /{key} as the distribution does: a signed URL (canned or custom policy,
RSA-SHA1, Key-Pair-Id one of the distribution's trusted key group, not expired, its Resource
matching the URL) is served from the local S3 with the object's own headers; anything else
is 403 AccessDenied. The app signs with the same code whichever CDN checks it.

Where CloudFront does more: it caches at the edge (this serves every request from S3, so a
revocation is visible at once here, and in the cloud once the invalidation has run) and it
takes minutes to deploy a change of the key group (here, the next request sees it).
"""

import base64
import fnmatch
import json
import logging
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from devserver import template as cfn

log = logging.getLogger("devserver.cdn")
SLOTS = {"CdnPublicKeyA": "a", "CdnPublicKeyB": "b"}
PASSED_ON = ("Content-Type", "Cache-Control", "ETag", "Last-Modified", "Content-Length")


def keys_parameter(stage: str) -> str:
    """The SSM parameter of a stage's signing keys (scripts/cdn_keys.py names it so too)."""
    return f"/image-service/{stage}/cdn-signing-keys"


@dataclass(frozen=True)
class Provisioned:
    distribution_id: str
    keys_parameter: str
    key_ids: dict[str, str]  # slot (a, b) -> CloudFront public key id


def new_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    """PKCS#1, the form chalicelib/cdn.py loads."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    """SubjectPublicKeyInfo, the form CloudFront takes."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def provision(
    endpoint: str | None,
    region: str,
    stage: str,
    bucket: str,
    keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey] | None = None,
) -> Provisioned:
    """The template's CDN resources in moto, with two signing keys (A active): fresh ones,
    or `keys` (tests reuse theirs: making a key takes a while)."""
    template = cfn.load()
    pair = keys or (new_private_key(), new_private_key())
    private = dict(zip(SLOTS.values(), pair, strict=True))
    parameters = {
        **cfn.parameter_defaults(template),
        "Stage": stage,
        **{name: public_pem(private[slot]) for name, slot in SLOTS.items()},
    }
    holds = cfn.conditions(template, parameters)
    cloudfront = boto3.client("cloudfront", endpoint_url=endpoint, region_name=region)
    resources: dict[str, Any] = {
        "Bucket": bucket,
        "Bucket.Arn": f"arn:aws:s3:::{bucket}",
        "Bucket.RegionalDomainName": f"{bucket}.s3.{region}.amazonaws.com",
        "AWS::AccountId": "123456789012",
    }
    key_ids: dict[str, str] = {}
    for logical, spec in cfn.resources_of(template, "AWS::CloudFront::PublicKey", holds):
        config = cfn.resolve(spec["Properties"], parameters, resources, holds)["PublicKeyConfig"]
        made = cloudfront.create_public_key(PublicKeyConfig=config)["PublicKey"]
        resources[logical] = made["Id"]
        key_ids[logical[-1].lower()] = made["Id"]
    group_id, group = cfn.resource(template, "AWS::CloudFront::KeyGroup", holds)
    config = cfn.resolve(group, parameters, resources, holds)["KeyGroupConfig"]
    resources[group_id] = cloudfront.create_key_group(KeyGroupConfig=config)["KeyGroup"]["Id"]
    oac_id, oac = cfn.resource(template, "AWS::CloudFront::OriginAccessControl", holds)
    config = cfn.resolve(oac, parameters, resources, holds)["OriginAccessControlConfig"]
    made = cloudfront.create_origin_access_control(OriginAccessControlConfig=config)
    resources[f"{oac_id}.Id"] = made["OriginAccessControl"]["Id"]
    dist_id, dist = cfn.resource(template, "AWS::CloudFront::Distribution", holds)
    config = cfn.resolve(dist, parameters, resources, holds)["DistributionConfig"]
    distribution = cloudfront.create_distribution(
        DistributionConfig=distribution_config(config, caller_reference=f"image-service-{stage}")
    )["Distribution"]
    resources[dist_id] = distribution["Id"]
    _, policy = cfn.resource(template, "AWS::S3::BucketPolicy", holds)
    document = cfn.resolve(policy, parameters, resources, holds)["PolicyDocument"]
    # Only the distribution's grant: moto holds every request as plain HTTP, so the TLS-only
    # statement would deny them all (tests/deploy/test_parity.py, CLOUD_ONLY).
    document["Statement"] = [
        statement
        for statement in document["Statement"]
        if statement.get("Sid") != "DenyInsecureTransport"
    ]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(document))
    name = keys_parameter(stage)
    signing = {
        "active": "a",
        "keys": {s: {"id": key_ids[s], "pem": private_pem(k)} for s, k in private.items()},
    }
    boto3.client("ssm", endpoint_url=endpoint, region_name=region).put_parameter(
        Name=name, Type="SecureString", Value=json.dumps(signing), Overwrite=True
    )
    return Provisioned(distribution["Id"], name, key_ids)


def distribution_config(config: dict[str, Any], *, caller_reference: str) -> dict[str, Any]:
    """CloudFormation's DistributionConfig as the CloudFront API spells it: every list is
    {Quantity, Items}, CachedMethods sits inside AllowedMethods, a key group list is enabled."""

    def spelled(value: Any, name: str = "") -> Any:
        if isinstance(value, dict):
            converted = {key: spelled(item, key) for key, item in value.items()}
            if "AllowedMethods" in converted and "CachedMethods" in converted:
                converted["AllowedMethods"]["CachedMethods"] = converted.pop("CachedMethods")
            return converted
        if isinstance(value, list):
            listed: dict[str, Any] = {"Quantity": len(value), "Items": [spelled(v) for v in value]}
            return {"Enabled": True, **listed} if name == "TrustedKeyGroups" else listed
        return value

    return {"CallerReference": caller_reference, **spelled(config)}


# --- the edge ---------------------------------------------------------------------------


class Refused(Exception):
    """A request CloudFront answers 403 AccessDenied (the reason goes to the log only)."""


def _cloudfront_b64decode(text: str) -> bytes:
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


class Edge:
    """Checks signed URLs as the distribution does, against moto's CloudFront."""

    def __init__(self, base_url: str, distribution_id: str, endpoint: str | None, region: str):
        self.base_url = base_url.rstrip("/")
        self.distribution_id = distribution_id
        self._cloudfront = boto3.client("cloudfront", endpoint_url=endpoint, region_name=region)

    def trusted_keys(self) -> dict[str, str]:
        """Key-Pair-Id -> public key PEM, of the key groups the distribution trusts now."""
        config = self._cloudfront.get_distribution_config(Id=self.distribution_id)
        groups = config["DistributionConfig"]["DefaultCacheBehavior"]["TrustedKeyGroups"]
        keys: dict[str, str] = {}
        for group_id in groups.get("Items", []):
            group = self._cloudfront.get_key_group(Id=group_id)["KeyGroup"]["KeyGroupConfig"]
            for key_id in group["Items"]:
                public = self._cloudfront.get_public_key(Id=key_id)["PublicKey"]
                keys[key_id] = public["PublicKeyConfig"]["EncodedKey"]
        return keys

    def check(self, path_and_query: str, now: float | None = None) -> str:
        """The object key a signed request may read, or Refused."""
        return check(path_and_query, self.base_url, self.trusted_keys(), now)


def check(
    path_and_query: str, base_url: str, trusted: dict[str, str], now: float | None = None
) -> str:
    """CloudFront's check of a signed URL: the object key it may read, or Refused."""
    parts = urllib.parse.urlsplit(path_and_query)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    signing = {
        name: value
        for name, value in query
        if name in ("Expires", "Policy", "Signature", "Key-Pair-Id")
    }
    rest = [(name, value) for name, value in query if name not in signing]
    resource = base_url + parts.path + ("?" + urllib.parse.urlencode(rest) if rest else "")
    key_id = signing.get("Key-Pair-Id")
    if not key_id or "Signature" not in signing:
        raise Refused("missing Key-Pair-Id or Signature")
    if key_id not in trusted:
        raise Refused(f"key {key_id} is not in the trusted key group")
    if "Policy" in signing:
        policy = _cloudfront_b64decode(signing["Policy"])
    elif "Expires" in signing:
        canned = {
            "Statement": [
                {
                    "Resource": resource,
                    "Condition": {"DateLessThan": {"AWS:EpochTime": int(signing["Expires"])}},
                }
            ]
        }
        policy = json.dumps(canned, separators=(",", ":")).encode()
    else:
        raise Refused("neither Expires nor Policy")
    public = serialization.load_pem_public_key(trusted[key_id].encode())
    assert isinstance(public, rsa.RSAPublicKey)
    try:
        signature = _cloudfront_b64decode(signing["Signature"])
        public.verify(signature, policy, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    except (InvalidSignature, ValueError) as error:
        raise Refused(f"signature does not verify: {error}") from None
    try:
        statement = json.loads(policy)["Statement"][0]
        pattern = statement["Resource"]
        limit = int(statement["Condition"]["DateLessThan"]["AWS:EpochTime"])
    except (ValueError, KeyError, IndexError, TypeError):
        raise Refused("malformed policy") from None
    if not fnmatch.fnmatchcase(resource, pattern):
        raise Refused(f"policy resource {pattern} does not cover {resource}")
    if (time.time() if now is None else now) >= limit:
        raise Refused("expired")
    return urllib.parse.unquote(parts.path.lstrip("/"))


def _handler(edge: Edge, s3: Any, bucket: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "CloudFront (image-service devserver)"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

        def do_GET(self) -> None:
            try:
                key = edge.check(self.path)
            except Refused as refused:
                log.info("cdn refused %s: %s", self.path.split("?")[0], refused)
                return self._denied()
            options = {}
            if self.headers.get("If-None-Match"):
                options["IfNoneMatch"] = self.headers["If-None-Match"]
            try:
                found = s3.get_object(Bucket=bucket, Key=key, **options)
            except ClientError as error:
                status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status == 304:
                    return self._reply(304, error.response["ResponseMetadata"]["HTTPHeaders"], b"")
                # With origin access control CloudFront may only GetObject: S3 answers a
                # missing key with 403, not 404.
                return self._denied()
            body = found["Body"].read()
            self._reply(200, found["ResponseMetadata"]["HTTPHeaders"], body)

        def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            sent = {name.lower(): value for name, value in headers.items()}
            for name in PASSED_ON:
                if name.lower() in sent and name != "Content-Length":
                    self.send_header(name, sent[name.lower()])
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _denied(self) -> None:
            body = (
                b'<?xml version="1.0" encoding="UTF-8"?>\n'
                b"<Error><Code>AccessDenied</Code><Message>Access denied</Message></Error>"
            )
            self.send_response(403)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class CdnServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def listen(host: str) -> CdnServer:
    """The CDN's socket, bound now (so the app can be told its URL), answering once served."""
    return CdnServer((host, 0), BaseHTTPRequestHandler, bind_and_activate=True)


def serve(server: CdnServer, edge: Edge, s3: Any, bucket: str) -> None:
    server.RequestHandlerClass = _handler(edge, s3, bucket)
    threading.Thread(target=server.serve_forever, name="cdn", daemon=True).start()
