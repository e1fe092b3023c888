"""On-the-fly renders: `GET /images/{id}/render?w=&h=&fit=&rotate=&format=&q=&gravity=`.

fit=cover crops around the image's focus (gravity=focus, the default) or its centre
(gravity=centre); the focus is part of a cover render's cache key.

A render is made once, stored under renders/{imageId}/{cacheKey}.{ext}, and from then on
served by S3 itself through a 307 to a presigned GET. `redirect_for` runs these steps:

    parse → validate → negotiate → plan → cache key → look up
          → (on a miss) choose source → read → render → store
          → link (chalicelib.delivery)

Everything up to the look-up is pure and cheap: a cache hit or a refused parameter never
imports Pillow, which only the render step loads.
"""

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib import blobs, delivery, settings
from chalicelib.errors import Conflict, Invalid, Unprocessable
from chalicelib.images import Content, Image
from chalicelib.imaging import formats
from chalicelib.imaging.geometry import CENTRE, ROTATIONS, contained_size, covering_size
from chalicelib.logs import log_event, metric
from chalicelib.specs import Fit, RenderSpec, VariantSpec

if TYPE_CHECKING:
    from chalicelib.imaging.facts import Encoded

PARAMETERS = ("w", "h", "fit", "rotate", "format", "q", "gravity")
# Where fit=cover crops: around the image's focus (its record's, learnt at upload or set by
# its owner), or the centre.
GRAVITIES = ("focus", "centre")
AUTO = "auto"
_FORMAT_SPELLINGS = {**{name: name for name in (*formats.OUTPUTS, AUTO)}, "jpg": "jpeg"}
# What each lossy encoder needs for a result people accept as "the photo"; AVIF and WebP
# reach JPEG's look at lower numbers. PNG is lossless and has no quality.
DEFAULT_QUALITY = {"jpeg": 82, "webp": 80, "avif": 60}
LOSSLESS_QUALITY = 100
# Among formats the client likes equally, the smallest files first.
PREFERENCE = ("avif", "webp", "jpeg")
# Bump when a change of the render code changes its output, so old renders are not served.
RENDERER_VERSION = 2
# What one render may cost. A render is made inside an API request, which API Gateway stops
# waiting for at 29 s, and one that is never finished is never stored, so every retry pays
# again. Encoding cost grows with output pixels, and AVIF costs several times what the
# others do per pixel (more still near q=100, where it is all but lossless), so AVIF has a
# smaller box and a lower top quality. No render has more pixels than its original: upscaling
# adds cost and no detail. scripts/render_cost.py measures the worst cases (README).
MAX_OUTPUT_PIXELS = {
    "jpeg": 4096 * 4096,
    "png": 4096 * 4096,
    "webp": 4096 * 4096,
    "avif": 2048 * 2048,
}
MAX_QUALITY = {"jpeg": 100, "webp": 100, "avif": 90}
_LONGEST_NUMBER = 9  # more digits than any valid value; refuses huge strings before int()


@dataclass(frozen=True)
class Params:
    """A render as asked for: parsed and checked, not yet resolved against an image."""

    width: int | None
    height: int | None
    fit: Fit
    rotate: int
    format: str  # jpeg, png, webp, avif or auto
    quality: int | None  # None: the format's default
    gravity: str = "focus"  # focus or centre


# --- the steps ------------------------------------------------------------------------


def redirect_for(image: Image, params: Mapping[str, str], accept: str | None) -> str:
    """A link to the render `params` describe, made and stored first if needed."""
    key, fmt = stored(image, params, accept)
    return delivery.made_link(key, fmt, image.filename)


def stored(image: Image, params: Mapping[str, str], accept: str | None) -> tuple[str, str]:
    """(key, format) of the render `params` describe, made and stored first if needed."""
    config = settings.get()
    asked = validate(parse(params), config)
    fmt = negotiate(asked.format, accept)
    content = ready_content(image)
    spec = plan(
        asked, fmt, (content.width, content.height), config.max_pixels, focus_of(asked, content)
    )
    key = blobs.render_key(
        image.id, cache_key(spec, content.sha256), formats.named(spec.format).extension
    )
    if blobs.exists(key):
        metric({"RendersCached": 1})
    else:
        make(image.id, key, spec, content, config)
        metric({"RendersMade": 1})
    return key, spec.format


def varies_on(params: Mapping[str, str]) -> str | None:
    """The request header a render's answer depends on: Accept, only when the format is
    negotiated. A named format is the same answer for every client, and a cache keyed by
    Accept for it would hold one copy per browser's header."""
    asked = (params.get("format") or AUTO).strip().lower()
    return "Accept" if asked == AUTO else None


def parse(params: Mapping[str, str]) -> Params:
    """Query strings → typed values. Refuses unknown names and malformed values by name."""
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise Invalid(
            f"unknown parameter {_shown(unknown[0])}; render takes {', '.join(PARAMETERS)}"
        )
    return Params(
        width=_number(params, "w"),
        height=_number(params, "h"),
        fit=_choice(params, "fit", {fit.value: fit for fit in Fit}, Fit.CONTAIN),
        rotate=_choice(params, "rotate", {str(r): r for r in ROTATIONS}, 0),
        format=_choice(params, "format", _FORMAT_SPELLINGS, AUTO),
        quality=_number(params, "q"),
        gravity=_choice(params, "gravity", {g: g for g in GRAVITIES}, "focus"),
    )


def validate(asked: Params, config: settings.Settings) -> Params:
    """Ranges, the sides each fit needs, and the deployment's allow-list of sizes."""
    for name, value in (("w", asked.width), ("h", asked.height)):
        if value is not None and not 1 <= value <= config.max_render_side:
            raise Invalid(f"{name} must be from 1 to {config.max_render_side}, not {value}")
    if asked.quality is not None and not 1 <= asked.quality <= 100:
        raise Invalid(f"q must be from 1 to 100, not {asked.quality}")
    if asked.width is None and asked.height is None:
        raise Invalid("w or h is required (or both)")
    if asked.fit is not Fit.CONTAIN and (asked.width is None or asked.height is None):
        raise Invalid(f"fit={asked.fit} needs both w and h")
    size = (asked.width or 0, asked.height or 0)
    if config.render_sizes and size not in config.render_sizes:
        offered = ", ".join(_size_label(s) for s in sorted(config.render_sizes))
        raise Invalid(f"w and h: {_size_label(size)} is not an offered size ({offered})")
    return asked


def negotiate(fmt: str, accept: str | None) -> str:
    """The output format: as asked, or for `auto` the best the Accept header allows.

    AVIF and WebP count only when named outright: `*/*` and `image/*` are what every client
    sends, including those that cannot decode them. JPEG is the fallback even when the
    header refuses it, because every client can show it.
    """
    if fmt != AUTO:
        return fmt
    ranges = accept_ranges(accept or "*/*")
    scores = {
        "avif": _quality_of(ranges, "image/avif", wildcards=False),
        "webp": _quality_of(ranges, "image/webp", wildcards=False),
        "jpeg": _quality_of(ranges, "image/jpeg", wildcards=True),
    }
    best = max(PREFERENCE, key=lambda name: (scores[name], -PREFERENCE.index(name)))
    return best if scores[best] > 0 else "jpeg"


def ready_content(image: Image) -> Content:
    if image.content is None:
        raise Conflict(f"the image has no content to render yet (status {image.status})")
    return image.content


def focus_of(asked: Params, content: Content) -> tuple[float, float]:
    """Where a cover render centres: the content's focus unless gravity=centre (or the
    record predates focus points)."""
    if asked.gravity == "centre" or content.knowledge is None:
        return CENTRE
    return content.knowledge.focus.point()


def plan(
    asked: Params,
    fmt: str,
    original: tuple[int, int],
    max_pixels: int,
    focus: tuple[float, float] = CENTRE,
) -> RenderSpec:
    """The exact output, with sizes resolved against the original's (oriented) size.

    A contain is resolved here into the exact size it gives from the original, then made as
    a plain resize to that size. So its size never depends on which stored copy it is made
    from, and requests that give the same picture share one cache key (w=800 and
    w=800&h=4000 on a landscape photo, or any box larger than the photo).
    """
    quality = LOSSLESS_QUALITY if fmt == "png" else (asked.quality or DEFAULT_QUALITY[fmt])
    if fmt != "png" and quality > MAX_QUALITY[fmt]:
        raise Invalid(f"q for {fmt} must be from 1 to {MAX_QUALITY[fmt]}, not {quality}")
    if asked.fit is Fit.CONTAIN:
        width, height = contained_size(original, asked.width, asked.height)
        contained = RenderSpec(width, height, Fit.FILL, asked.rotate, fmt, quality)
        _check_cost(contained, original)
        return contained
    assert asked.width is not None and asked.height is not None  # validate() saw to it
    if asked.fit is Fit.COVER:
        _check_cover_fits_in_memory(original, (asked.width, asked.height), max_pixels)
    # Only a cover crops, so only a cover's picture (and cache key) depends on the focus.
    spec = RenderSpec(
        asked.width,
        asked.height,
        asked.fit,
        asked.rotate,
        fmt,
        quality,
        focus if asked.fit is Fit.COVER else CENTRE,
    )
    _check_cost(spec, original)
    return spec


def _check_cost(spec: RenderSpec, original: tuple[int, int]) -> None:
    """Refuse what no render should cost: see MAX_OUTPUT_PIXELS."""
    assert spec.width is not None and spec.height is not None
    pixels = spec.width * spec.height
    if pixels > original[0] * original[1]:
        raise Unprocessable(
            f"{spec.width}x{spec.height} has more pixels than this {original[0]}x{original[1]}"
            " image; renders never upscale it: use fit=contain or a smaller box"
        )
    if pixels > MAX_OUTPUT_PIXELS[spec.format]:
        raise Unprocessable(
            f"a {spec.format} render may have at most {MAX_OUTPUT_PIXELS[spec.format]:,} pixels,"
            f" not {pixels:,} ({spec.width}x{spec.height}); ask for a smaller box or another format"
        )


def cache_key(spec: RenderSpec, source_sha256: str) -> str:
    """The same 32 hex digits for every request that yields the same bytes from this source."""
    canonical = json.dumps(
        {
            "renderer": RENDERER_VERSION,
            "source": source_sha256,
            "width": spec.width,
            "height": spec.height,
            "fit": str(spec.fit),
            "rotate": spec.rotate,
            "format": spec.format,
            "quality": spec.quality,
            **({"focus": list(spec.focus)} if spec.focus != CENTRE else {}),
        },
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def make(
    image_id: str, key: str, spec: RenderSpec, content: Content, config: settings.Settings
) -> None:
    """choose source → read → render → store."""
    started = time.monotonic()
    source = choose_source(spec, content, config.variants)
    data = blobs.read(source, config.max_upload_bytes)
    if data is None:
        raise Conflict("the image's content changed while rendering; try again")
    encoded = render(data, spec, config)
    blobs.write(key, encoded.data, encoded.content_type)
    log_event(
        "render_made",
        imageId=image_id,
        key=key,
        source=source,
        bytes=len(encoded.data),
        durationMs=round((time.monotonic() - started) * 1000),
    )


def choose_source(spec: RenderSpec, content: Content, variants: tuple[VariantSpec, ...]) -> str:
    """The smallest stored copy with enough pixels for the render, else the original.

    Only variants that are the original scaled down whole (contain, not rotated) qualify;
    a cropped or rotated one would show a different picture. A variant as large as the
    original is just a lossy copy of it, so the original wins that tie.
    """
    original = (content.width, content.height)
    needed = needed_size(spec, original)
    plain = {v.name for v in variants if v.fit is Fit.CONTAIN and v.rotate == 0}
    candidates = [
        variant
        for name, variant in content.variants.items()
        if name in plain
        and _same_aspect((variant.width, variant.height), original)
        and variant.width * variant.height < original[0] * original[1]
        and variant.width >= needed[0]
        and variant.height >= needed[1]
    ]
    if not candidates:
        return content.key
    return min(candidates, key=lambda v: v.width * v.height).key


def render(data: bytes, spec: RenderSpec, config: settings.Settings) -> "Encoded":
    from chalicelib import imaging  # Pillow: paid for only when a render is really made

    # The source is one the service stored itself, so any format it may hold is fine.
    probe = imaging.probe(
        data, allowed_formats=settings.ALL_INPUT_FORMATS, max_pixels=config.max_pixels
    )
    return imaging.render(data, probe, spec)


# --- sizes ----------------------------------------------------------------------------


def needed_size(spec: RenderSpec, original: tuple[int, int]) -> tuple[int, int]:
    """How many source pixels each axis needs; more than the original has cannot help."""
    assert spec.width is not None and spec.height is not None  # plan() resolved them
    box = (spec.width, spec.height)
    scaled = covering_size(original, box) if spec.fit is Fit.COVER else box
    return min(scaled[0], original[0]), min(scaled[1], original[1])


def _check_cover_fits_in_memory(
    original: tuple[int, int], box: tuple[int, int], max_pixels: int
) -> None:
    # Cover scales the whole picture before cropping: a long thin image covering a square
    # box would need billions of pixels.
    scaled = covering_size(original, box)
    if scaled[0] * scaled[1] > max_pixels:
        raise Unprocessable(
            f"fit=cover of {box[0]}x{box[1]} would scale this {original[0]}x{original[1]} image"
            f" to {scaled[0]}x{scaled[1]} pixels, more than {max_pixels:,}; use fit=contain"
            " or fit=fill, or a box closer to the image's shape"
        )


def _same_aspect(size: tuple[int, int], original: tuple[int, int]) -> bool:
    """Equal aspect ratios, up to the rounding of a scaled side to whole pixels."""
    return abs(size[0] * original[1] - size[1] * original[0]) <= max(original)


# --- Accept ---------------------------------------------------------------------------


def accept_ranges(header: str) -> list[tuple[str, float]]:
    """The media ranges of an Accept header with their q-values (1 when not given).

    A range with a malformed q-value counts as not acceptable rather than guessed at.
    """
    ranges = []
    for part in header.split(","):
        media, *attributes = (piece.strip() for piece in part.split(";"))
        if "/" not in media:
            continue
        quality = 1.0
        for attribute in attributes:
            name, _, value = attribute.partition("=")
            if name.strip().lower() == "q":
                quality = _q_value(value.strip())
                break
        ranges.append((media.lower(), quality))
    return ranges


def _q_value(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return 0.0
    return value if 0.0 <= value <= 1.0 else 0.0


def _quality_of(ranges: list[tuple[str, float]], media: str, *, wildcards: bool) -> float:
    """The q-value the most specific matching range gives `media` (RFC 9110 §12.5.1)."""
    kind = media.split("/")[0]
    by_specificity = [media, *((f"{kind}/*", "*/*") if wildcards else ())]
    for pattern in by_specificity:
        matching = [q for candidate, q in ranges if candidate == pattern]
        if matching:
            return max(matching)
    return 0.0


# --- small helpers --------------------------------------------------------------------


def _raw(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not value.strip():
        raise Invalid(f"{name} is empty; leave it out or give a value")
    return value.strip()


def _number(params: Mapping[str, str], name: str) -> int | None:
    raw = _raw(params, name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= _LONGEST_NUMBER):
        raise Invalid(f"{name} must be a whole number, not {_shown(raw)}")
    return int(raw)


def _choice[T](params: Mapping[str, str], name: str, spellings: Mapping[str, T], default: T) -> T:
    raw = _raw(params, name)
    if raw is None:
        return default
    try:
        return spellings[raw.lower()]
    except KeyError:
        allowed = ", ".join(dict.fromkeys(str(v) for v in spellings.values()))
        raise Invalid(f"{name} must be one of {allowed}, not {_shown(raw)}") from None


def _shown(value: str) -> str:
    """A caller's text, quoted and cut short, fit to echo in a message."""
    return repr(value if len(value) <= 20 else value[:20] + "…")


def _size_label(size: tuple[int, int]) -> str:
    return f"{size[0] or ''}x{size[1] or ''}"
