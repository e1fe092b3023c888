"""libwebp's scaled decode (imaging.webp_decoder): Pillow's pixels at full size, variants as
close to a full-size Lanczos as the other formats', Pillow for everything it declines."""

import io

import pytest
from PIL import Image, ImageChops, ImageOps, ImageStat

from chalicelib import settings
from chalicelib.failures import Code, Rejected
from chalicelib.imaging import cost, decoding, make_variants, probe, webp_decoder
from chalicelib.imaging.geometry import scaled_decode_size
from chalicelib.specs import DEFAULT_VARIANTS

pytestmark = pytest.mark.skipif(
    not webp_decoder.available(), reason="no libwebp beside Pillow in this installation"
)


def picture(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """Smooth gradients with a sharp-edged block, so crops and scaling show in the pixels."""
    red = Image.linear_gradient("L").resize(size)
    green = Image.linear_gradient("L").rotate(90).resize(size)
    blue = Image.radial_gradient("L").resize(size)
    image = Image.merge("RGB", (red, green, blue))
    image.paste((255, 255, 0), (0, 0, max(1, size[0] // 5), max(1, size[1] // 5)))
    if mode == "RGBA":
        image.putalpha(Image.linear_gradient("L").rotate(45).resize(size))
    return image


def webp(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", **options)
    return buffer.getvalue()


def probed(data: bytes):
    return probe(data, allowed_formats=settings.ALL_INPUT_FORMATS, max_pixels=10**9)


def opened(data: bytes):
    return Image.open(io.BytesIO(data))


def pillows(data: bytes) -> Image.Image:
    image = opened(data)
    image.load()
    return image


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / len(a.getbands())


@pytest.mark.parametrize(
    ("size", "mode", "options"),
    [
        ((640, 480), "RGB", {"quality": 80}),
        ((333, 77), "RGB", {"quality": 90}),
        ((1, 300), "RGB", {"quality": 80}),
        ((301, 203), "RGBA", {"quality": 80}),
        ((301, 203), "RGBA", {"lossless": True}),
        ((257, 129), "RGB", {"lossless": True}),
    ],
    ids=["lossy", "odd", "one-wide", "lossy-alpha", "lossless-alpha", "lossless"],
)
def test_at_full_size_it_gives_exactly_pillows_pixels(size, mode, options):
    data = webp(picture(size, mode), **options)

    decoded = webp_decoder.decode(data, opened(data), size)

    assert decoded is not None
    reference = pillows(data)
    assert (decoded.mode, decoded.size) == (reference.mode, reference.size)
    assert ImageChops.difference(decoded, reference).getbbox() is None


def test_a_large_source_is_decoded_at_twice_the_need_not_at_full_size():
    data = webp(picture((4000, 3000)), quality=90)

    decoded = webp_decoder.decode(data, opened(data), (1600, 1200))

    assert decoded is not None
    assert decoded.size == scaled_decode_size((4000, 3000), (1600, 1200)) == (3200, 2400)


def test_variants_from_a_scaled_decode_stay_close_to_a_full_size_lanczos():
    original = picture((4271, 2403))
    data = webp(original, quality=95)
    full = pillows(data)

    variants = {v.name: v for v in make_variants(data, probed(data), DEFAULT_VARIANTS)}

    preview = pillows(variants["preview"].data).convert("RGB")
    assert preview.size == (1600, 900)
    assert mean_difference(preview, full.resize(preview.size, Image.Resampling.LANCZOS)) < 2
    hd = pillows(variants["hd-rotated"].data).convert("RGB")
    cover = ImageOps.fit(full, (1280, 720), Image.Resampling.LANCZOS)
    assert mean_difference(hd, cover.transpose(Image.Transpose.ROTATE_180)) < 2


def test_a_transparent_source_keeps_its_alpha_through_the_scaled_decode():
    data = webp(picture((3000, 2000), "RGBA"), quality=90)

    decoded = webp_decoder.decode(data, opened(data), (800, 600))

    assert decoded is not None and decoded.mode == "RGBA"
    reference = pillows(data).resize(decoded.size, Image.Resampling.BOX)
    # Compared premultiplied: where a pixel is wholly transparent its colour is no colour.
    assert mean_difference(decoded.convert("RGBa"), reference.convert("RGBa")) < 2


def test_an_animation_is_left_to_pillow_which_takes_its_first_frame():
    frames = [Image.new("RGB", (64, 48), colour) for colour in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    data = buffer.getvalue()

    assert webp_decoder.decode(data, opened(data), (64, 48)) is None
    (thumbnail,) = make_variants(data, probed(data), DEFAULT_VARIANTS[:1])
    assert pillows(thumbnail.data).convert("RGB").getpixel((5, 5))[0] > 200  # red


def cut_short(data: bytes) -> bytes:
    """A simple lossy WebP whose VP8 frame lost its last third, its chunk sizes made to
    match, so that Pillow opens it and only decoding finds the damage."""
    assert data[12:16] == b"VP8 "
    frame = data[20 : 20 + int.from_bytes(data[16:20], "little")]
    kept = frame[: len(frame) * 2 // 3 & ~1]
    chunk = b"VP8 " + len(kept).to_bytes(4, "little") + kept
    return b"RIFF" + (4 + len(chunk)).to_bytes(4, "little") + b"WEBP" + chunk


def test_a_damaged_frame_is_left_to_pillow_which_refuses_it_as_corrupt():
    truncated = cut_short(webp(picture((800, 600)), quality=90))

    assert webp_decoder.decode(truncated, opened(truncated), (400, 300)) is None
    with pytest.raises(Rejected) as caught:
        make_variants(truncated, probed(truncated), DEFAULT_VARIANTS)
    assert caught.value.code is Code.CORRUPT


def test_without_the_library_pillow_decodes_and_the_estimate_covers_its_canvases(monkeypatch):
    data = webp(picture((2000, 1500)), quality=90)
    scaled_estimate = cost.estimate_memory(probed(data), DEFAULT_VARIANTS)

    monkeypatch.setattr(webp_decoder, "_LIBWEBP", None)

    assert webp_decoder.decode(data, opened(data), (1600, 1200)) is None
    assert cost.estimate_memory(probed(data), DEFAULT_VARIANTS) > scaled_estimate
    variants = make_variants(data, probed(data), DEFAULT_VARIANTS)
    assert [v.name for v in variants] == [s.name for s in DEFAULT_VARIANTS]


def test_the_upload_pipeline_decodes_a_webp_at_the_scaled_size(monkeypatch):
    sizes = []
    reduce = decoding._reduce

    def recording(image, needed):
        sizes.append(image.size)
        return reduce(image, needed)

    monkeypatch.setattr(decoding, "_reduce", recording)
    data = webp(picture((5000, 3000)), quality=90)

    make_variants(data, probed(data), DEFAULT_VARIANTS)

    assert sizes == [(3200, 1920)]  # twice the 1600 x 960 preview, not 5000 x 3000
