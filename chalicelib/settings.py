"""The one settings object: read from the environment once, validated, frozen.

Every name, limit and variant spec the service uses comes from here. A bad value fails at
start with a message naming the variable, never later inside a request.
"""

import ipaddress
import json
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from chalicelib.imaging.formats import ALL_INPUTS
from chalicelib.specs import DEFAULT_VARIANTS, Fit, VariantSpec

MB = 1024 * 1024
ALL_INPUT_FORMATS = ALL_INPUTS


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    bucket: str
    table: str
    region: str
    user_pool_id: str
    user_pool_arn: str
    app_client_id: str
    stage: str = "local"  # the metrics' Stage dimension
    max_upload_bytes: int = 25 * MB
    max_direct_upload_bytes: int = 4 * MB
    max_pixels: int = 50_000_000
    allowed_formats: frozenset[str] = ALL_INPUT_FORMATS
    variants: tuple[VariantSpec, ...] = DEFAULT_VARIANTS
    upload_url_expiry_seconds: int = 900
    download_url_expiry_seconds: int = 300
    # Links are signed for a window of time (chalicelib/delivery.py): all answers within one
    # window hand out the same link, so browsers and a CDN reuse what they hold.
    link_window_seconds: int = 3600
    # The CDN stage option: CloudFront in front of the bucket (infra/template.yaml). Empty:
    # links are presigned S3 GETs.
    cdn_url: str = ""
    cdn_distribution_id: str = ""
    cdn_keys_parameter: str = ""
    max_render_side: int = 4096
    render_sizes: frozenset[tuple[int, int]] = frozenset()
    cors_origins: tuple[str, ...] = ()
    access_check_url: str = ""
    access_check_timeout_seconds: float = 2.0
    # The memory of the functions that process uploads (handle_upload, and the cleanup that
    # re-drives them): an upload is accepted only if it can be processed in half of it.
    processing_memory_mb: int = 2048
    # How long a claim on an upload holds: a run not finished by then is taken to have died
    # (killed for memory or time) and the next try takes over. No longer than handle_upload's
    # timeout (120 s); the slowest accepted file takes 2 s (docs/limits.md).
    processing_lease_seconds: int = 30
    cleanup_rate_minutes: int = 2
    cleanup_grace_seconds: int = 300
    cleanup_stuck_seconds: int = 300
    # Lambda tries an S3 event 3 times; the cleanup re-drives at least twice after that.
    cleanup_max_attempts: int = 5
    cleanup_orphan_age_seconds: int = 86_400
    cleanup_tombstone_retention_days: int = 30
    cleanup_batch: int = 100
    cleanup_budget_seconds: int = 60
    # Events when processing ends (chalicelib.events): the queue that carries them to
    # deliver_events, and the EventBridge bus they are put on. No queue: no events.
    events_queue: str = ""
    events_queue_url: str = ""  # where events are sent; the stack's output, so no lookup
    event_bus: str = ""
    # Webhooks are https; WEBHOOK_HTTP_LOOPBACK=allow also admits http to a loopback address
    # (a receiver on this machine: the local stack sets it, no deployed stage does).
    webhook_http_loopback: bool = False
    webhook_timeout_seconds: float = 5.0
    webhook_retry_seconds: int = 30  # the first retry's delay; each next one doubles
    webhook_max_attempts: int = 8


def _require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} must be set")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _formats(env: Mapping[str, str], name: str, default: frozenset[str], known: frozenset[str]):
    raw = env.get(name, "").strip()
    if not raw:
        return default
    chosen = frozenset(part.strip().lower() for part in raw.split(",") if part.strip())
    unknown = chosen - known
    if not chosen or unknown:
        raise SettingsError(f"{name} has unknown formats {sorted(unknown)}; known: {sorted(known)}")
    return chosen


def _variants(env: Mapping[str, str]) -> tuple[VariantSpec, ...]:
    raw = env.get("VARIANTS", "").strip()
    if not raw:
        return DEFAULT_VARIANTS
    try:
        specs = tuple(
            VariantSpec(
                name=str(item["name"]),
                width=int(item["width"]),
                height=int(item["height"]),
                fit=Fit(item.get("fit", "contain")),
                rotate=int(item.get("rotate", 0)),
            )
            for item in json.loads(raw)
        )
    except (ValueError, TypeError, KeyError) as error:
        raise SettingsError(f"VARIANTS must be a JSON list of variant specs: {error}") from None
    names = [spec.name for spec in specs]
    if not specs or len(set(names)) != len(names) or "original" in names:
        raise SettingsError("VARIANTS needs unique names, none of them 'original'")
    for spec in specs:
        if not (spec.name.replace("-", "").isalnum() and spec.name.islower()):
            raise SettingsError(
                f"VARIANTS name {spec.name!r} must be lower-case letters, digits, -"
            )
        if spec.rotate not in (0, 90, 180, 270) or min(spec.width, spec.height) < 1:
            raise SettingsError(f"VARIANTS {spec.name!r} needs positive sizes, rotate 0/90/180/270")
    return specs


def _sizes(env: Mapping[str, str]) -> frozenset[tuple[int, int]]:
    raw = env.get("RENDER_SIZES", "").strip()
    if not raw:
        return frozenset()
    sizes = set()
    for part in raw.split(","):
        width, _, height = part.strip().partition("x")
        try:
            sizes.add((int(width) if width else 0, int(height) if height else 0))
        except ValueError:
            message = f"RENDER_SIZES entries look like 640x480, 640x or x480: {part!r}"
            raise SettingsError(message) from None
    return frozenset(sizes)


def _access_check_url(env: Mapping[str, str]) -> str:
    """https, or plain http to this very machine (a development upstream): the caller's token
    travels with every check, so it must never cross a network unencrypted."""
    url = env.get("ACCESS_CHECK_URL", "").strip()
    if not url:
        return url
    parts = urllib.parse.urlsplit(url)
    if "{collectionId}" not in url or not parts.hostname:
        raise SettingsError("ACCESS_CHECK_URL must be an https URL containing {collectionId}")
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return url
    if parts.scheme != "https":
        raise SettingsError(
            "ACCESS_CHECK_URL must be https (plain http only to a loopback address)"
        )
    return url


# SigV4 presigned URLs live at most seven days; a link lives for its window and then the
# download expiry, so one handed out at the end of a window still works that long.
_PRESIGN_LIMIT_SECONDS = 7 * 24 * 3600


def _link_window(env: Mapping[str, str]) -> int:
    window = _int(env, "LINK_WINDOW_SECONDS", 3600, minimum=60)
    longest = _PRESIGN_LIMIT_SECONDS - _int(env, "DOWNLOAD_URL_EXPIRY_SECONDS", 300)
    if window > longest:
        raise SettingsError(f"LINK_WINDOW_SECONDS may be at most {longest}, got {window}")
    return window


def _cdn_url(env: Mapping[str, str]) -> str:
    """https (plain http only to this very machine, for a CDN run here), no trailing /."""
    url = env.get("CDN_URL", "").strip().rstrip("/")
    if not url:
        return url
    parts = urllib.parse.urlsplit(url)
    local = parts.scheme == "http" and bool(parts.hostname) and is_loopback(parts.hostname or "")
    if not (parts.scheme == "https" or local) or parts.path or parts.query:
        raise SettingsError("CDN_URL must be https://host (plain http only to a loopback address)")
    if not env.get("CDN_KEYS_PARAMETER", "").strip():
        raise SettingsError("CDN_URL needs CDN_KEYS_PARAMETER (the signing keys' SSM parameter)")
    return url


def is_loopback(host: str) -> bool:
    # An address, not a name: a name is only as loopback as the resolver says.
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _loopback_webhooks(env: Mapping[str, str]) -> bool:
    raw = env.get("WEBHOOK_HTTP_LOOPBACK", "").strip()
    if raw not in ("", "allow", "deny"):
        raise SettingsError(f"WEBHOOK_HTTP_LOOPBACK must be allow or deny, got {raw!r}")
    return raw == "allow"


def from_environment(env: Mapping[str, str]) -> Settings:
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    pool_id = _require(env, "USER_POOL_ID")
    return Settings(
        bucket=_require(env, "BUCKET_NAME"),
        table=_require(env, "TABLE_NAME"),
        region=region,
        user_pool_id=pool_id,
        user_pool_arn=env.get("USER_POOL_ARN")
        or f"arn:aws:cognito-idp:{region}:000000000000:userpool/{pool_id}",
        app_client_id=_require(env, "APP_CLIENT_ID"),
        stage=env.get("STAGE", "local"),
        max_upload_bytes=_int(env, "MAX_UPLOAD_BYTES", 25 * MB),
        max_direct_upload_bytes=_int(env, "MAX_DIRECT_UPLOAD_BYTES", 4 * MB),
        max_pixels=_int(env, "MAX_PIXELS", 50_000_000),
        allowed_formats=_formats(env, "ALLOWED_FORMATS", ALL_INPUT_FORMATS, ALL_INPUT_FORMATS),
        variants=_variants(env),
        upload_url_expiry_seconds=min(_int(env, "UPLOAD_URL_EXPIRY_SECONDS", 900), 900),
        download_url_expiry_seconds=_int(env, "DOWNLOAD_URL_EXPIRY_SECONDS", 300),
        link_window_seconds=_link_window(env),
        cdn_url=_cdn_url(env),
        cdn_distribution_id=env.get("CDN_DISTRIBUTION_ID", "").strip(),
        cdn_keys_parameter=env.get("CDN_KEYS_PARAMETER", "").strip(),
        max_render_side=_int(env, "MAX_RENDER_SIDE", 4096),
        render_sizes=_sizes(env),
        cors_origins=tuple(o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip()),
        access_check_url=_access_check_url(env),
        access_check_timeout_seconds=_int(env, "ACCESS_CHECK_TIMEOUT_MS", 2000) / 1000,
        processing_memory_mb=_int(env, "PROCESSING_MEMORY_MB", 2048, minimum=128),
        processing_lease_seconds=_int(env, "PROCESSING_LEASE_SECONDS", 30),
        cleanup_rate_minutes=_int(env, "CLEANUP_RATE_MINUTES", 2),
        cleanup_grace_seconds=_int(env, "CLEANUP_GRACE_SECONDS", 300, minimum=0),
        cleanup_stuck_seconds=_int(env, "CLEANUP_STUCK_SECONDS", 300, minimum=0),
        cleanup_max_attempts=_int(env, "CLEANUP_MAX_ATTEMPTS", 5),
        cleanup_orphan_age_seconds=_int(env, "CLEANUP_ORPHAN_AGE_SECONDS", 86_400, minimum=0),
        cleanup_tombstone_retention_days=_int(env, "TOMBSTONE_RETENTION_DAYS", 30, minimum=0),
        cleanup_batch=_int(env, "CLEANUP_BATCH", 100),
        cleanup_budget_seconds=_int(env, "CLEANUP_BUDGET_SECONDS", 60),
        # The template names the queue image-service-<stage>-events: on_sqs_message needs a
        # name when app.py is imported, also where the stage sets no EVENTS_QUEUE.
        events_queue=env.get("EVENTS_QUEUE", "").strip()
        or f"image-service-{env.get('STAGE', 'local')}-events",
        events_queue_url=env.get("EVENTS_QUEUE_URL", "").strip(),
        event_bus=env.get("EVENT_BUS_NAME", "").strip(),
        webhook_http_loopback=_loopback_webhooks(env),
        webhook_timeout_seconds=_int(env, "WEBHOOK_TIMEOUT_MS", 5000) / 1000,
        webhook_retry_seconds=_int(env, "WEBHOOK_RETRY_SECONDS", 30),
        webhook_max_attempts=_int(env, "WEBHOOK_MAX_ATTEMPTS", 8),
    )


@cache
def get() -> Settings:
    """The settings of this process, read on first use."""
    return from_environment(os.environ)
