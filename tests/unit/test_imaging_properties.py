"""Whatever bytes arrive, imaging either succeeds or says why in a known code: never crashes."""

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from chalicelib.imaging import IMAGE_VERDICTS, Encoded, Rejected, make_variants, probe
from chalicelib.specs import Fit, VariantSpec

EVERY_FORMAT = frozenset({"jpeg", "png", "gif", "webp", "tiff", "bmp", "avif", "heif"})
# The default variants' shapes at a size that keeps a few hundred examples quick.
TINY_VARIANTS = (
    VariantSpec("thumbnail", 16, 16, Fit.CONTAIN),
    VariantSpec("preview", 40, 40, Fit.CONTAIN),
    VariantSpec("hd-rotated", 32, 18, Fit.COVER, rotate=180),
)
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def small_image_bytes(pillow_format: str) -> bytes:
    image = Image.linear_gradient("L").resize((48, 32)).convert("RGB")
    image.paste((200, 30, 30), (0, 0, 12, 8))
    buffer = io.BytesIO()
    image.save(buffer, pillow_format)
    return buffer.getvalue()


VALID_IMAGES = {fmt: small_image_bytes(fmt) for fmt in ("JPEG", "PNG", "GIF", "WEBP")}


def outcome(data: bytes) -> list[Encoded] | Rejected:
    try:
        found = probe(data, allowed_formats=EVERY_FORMAT, max_pixels=10_000_000)
        return make_variants(data, found, TINY_VARIANTS)
    except Rejected as rejected:
        return rejected


def probe_then_make_variants(data: bytes) -> None:
    """Either makes every variant or raises an Rejected that a person can be shown."""
    result = outcome(data)
    if isinstance(result, Rejected):
        assert result.code in IMAGE_VERDICTS
        assert result.message.strip()
    else:
        assert [v.name for v in result] == [spec.name for spec in TINY_VARIANTS]
        assert all(v.data for v in result)


@st.composite
def damaged_images(draw: st.DrawFn) -> bytes:
    original = bytearray(VALID_IMAGES[draw(st.sampled_from(sorted(VALID_IMAGES)))])
    if draw(st.booleans()):
        original = original[: draw(st.integers(0, len(original)))]
    flips = draw(st.lists(st.integers(0, max(0, len(original) * 8 - 1)), max_size=8))
    for bit in flips:
        if original:
            original[bit // 8] ^= 1 << (bit % 8)
    return bytes(original)


@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_are_rejected_or_accepted_never_crash(data):
    probe_then_make_variants(data)


@FUZZ
@given(damaged_images())
def test_truncated_or_bit_flipped_images_are_rejected_or_accepted_never_crash(data):
    probe_then_make_variants(data)


@pytest.mark.parametrize("pillow_format", sorted(VALID_IMAGES))
def test_the_undamaged_seeds_make_every_variant(pillow_format):
    data = VALID_IMAGES[pillow_format]

    found = probe(data, allowed_formats=EVERY_FORMAT, max_pixels=10_000_000)

    assert len(make_variants(data, found, TINY_VARIANTS)) == len(TINY_VARIANTS)


@FUZZ
@given(st.sampled_from(sorted(VALID_IMAGES)), st.binary(min_size=1, max_size=64))
def test_a_valid_header_followed_by_garbage_never_crashes(pillow_format, garbage):
    seed = VALID_IMAGES[pillow_format]

    probe_then_make_variants(seed[:32] + garbage)
