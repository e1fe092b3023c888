"""libspng's decode (chalicelib.imaging.png_decoder): exactly Pillow's pixels for the PNGs it
takes, so the very same variants; Pillow for everything it declines or refuses."""

import io
import struct
import zlib

import pytest
from PIL import Image, ImageChops

from chalicelib import settings
from chalicelib.failures import Code, Rejected
from chalicelib.imaging import cost, make_upload, make_variants, png_decoder, probe, shaping
from chalicelib.specs import DEFAULT_VARIANTS
from tests.support.corpus import photos
from tests.support.pictures import png_chunk, record_faster_decoder

pytest.importorskip("pyspng")


def picture(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """Noise over gradients: every filter type libpng's encoder picks shows in the pixels."""
    gradient = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size),
            Image.linear_gradient("L").rotate(90).resize(size),
            Image.radial_gradient("L").resize(size),
        ),
    )
    image = Image.blend(gradient, Image.effect_noise(size, 50).convert("RGB"), 0.3)
    if mode in ("RGBA", "LA", "PA"):
        image.putalpha(Image.linear_gradient("L").rotate(45).resize(size))
    if mode == "PA":
        return image.quantize(64)  # a palette with alpha (a tRNS chunk)
    return image.convert(mode)


def png(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return buffer.getvalue()


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def pillows(data: bytes) -> Image.Image:
    image = opened(data)
    image.load()
    return image


def probed(data: bytes):
    return probe(data, allowed_formats=settings.ALL_INPUT_FORMATS, max_pixels=10**9)


def identical(a: Image.Image, b: Image.Image) -> bool:
    return a.mode == b.mode and a.size == b.size and ImageChops.difference(a, b).getbbox() is None


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
@pytest.mark.parametrize("options", [{}, {"interlace": 1}, {"compress_level": 0}, {"optimize": 1}])
def test_it_gives_exactly_pillows_pixels(mode, options):
    data = png(picture((301, 203), mode), **options)

    decoded = png_decoder.decode(data, opened(data), (100, 100))

    assert decoded is not None
    assert identical(decoded, pillows(data))


@pytest.mark.parametrize(
    ("what", "data"),
    [
        ("palette", png(picture((64, 48)).quantize(32))),
        ("palette with alpha", png(picture((64, 48), "PA"))),
        ("colour key", png(picture((64, 48)), transparency=(0, 0, 0))),
        ("grey key", png(picture((64, 48), "L"), transparency=0)),
        ("grey with alpha", png(picture((64, 48), "LA"))),
        ("16-bit grey", png(picture((64, 48), "L").convert("I;16"))),
        ("1-bit", png(picture((64, 48), "1"))),
        ("narrow rows", png(picture((png_decoder.MIN_WIDTH - 1, 300)))),
    ],
)
def test_what_it_would_read_differently_is_left_to_pillow(what, data):
    assert png_decoder.decode(data, opened(data), (10, 10)) is None, what
    made = make_variants(data, probed(data), DEFAULT_VARIANTS)
    assert [v.name for v in made] == [s.name for s in DEFAULT_VARIANTS]


def sixteen_bit_rgb(size: tuple[int, int]) -> bytes:
    """A 16-bit truecolor PNG, written by hand: Pillow reads it as 8-bit RGB ("RGB;16B")."""
    chunk = png_chunk
    width, height = size
    rows = b"".join(
        b"\0" + bytes(range(256))[: width * 6].ljust(width * 6, b"\x80") for _ in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_sixteen_bit_colour_is_left_to_pillow():
    data = sixteen_bit_rgb((40, 30))
    assert opened(data).mode == "RGB"  # the same mode as 8-bit: the raw mode tells them apart

    assert png_decoder.decode(data, opened(data), (10, 10)) is None


def test_an_animated_png_is_left_to_pillow():
    frames = [picture((64, 48), "RGBA").rotate(angle) for angle in (0, 90, 180)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "PNG", save_all=True, append_images=frames[1:], default_image=True)
    data = buffer.getvalue()

    assert png_decoder.decode(data, opened(data), (10, 10)) is None
    assert len(make_variants(data, probed(data), DEFAULT_VARIANTS)) == len(DEFAULT_VARIANTS)


def cut_short(data: bytes, share: float) -> bytes:
    return data[: int(len(data) * share)]


@pytest.mark.parametrize("share", [0.3, 0.9])
def test_a_truncated_png_is_declined_and_pillow_rejects_it_as_corrupt(share, monkeypatch):
    cut = cut_short(png(picture((800, 600), "RGBA"), compress_level=1), share)
    taken = record_faster_decoder(monkeypatch, "png")

    with pytest.raises(Rejected) as caught:
        make_variants(cut, probed(cut), DEFAULT_VARIANTS)

    assert taken == [False]  # declined
    assert caught.value.code is Code.CORRUPT


def test_a_wrong_idat_checksum_is_read_as_pillow_reads_it():
    """Neither checks IDAT's CRC (Pillow does check the chunks before it, at open)."""
    data = bytearray(png(picture((120, 80))))
    start = data.find(b"IDAT")
    (length,) = struct.unpack(">I", data[start - 4 : start])
    data[start + 4 + length] ^= 0xFF
    damaged = bytes(data)

    decoded = png_decoder.decode(damaged, opened(damaged), (10, 10))

    assert decoded is not None
    assert identical(decoded, pillows(damaged))


def test_the_corpus_png_makes_the_same_variants_as_through_pillow(monkeypatch):
    """The 15 MP RGBA photo: the same pixels decoded, so byte for byte the same variants,
    and what is learnt of the picture is the same too."""
    data = (photos() / "png-rgba-15mp-patak.png").read_bytes()
    taken = record_faster_decoder(monkeypatch, "png")
    fast = make_upload(data, probed(data), DEFAULT_VARIANTS)
    monkeypatch.setattr(png_decoder, "pyspng", None)
    slow = make_upload(data, probed(data), DEFAULT_VARIANTS)

    assert taken == [True, False]
    assert [v.data for v in fast.variants] == [v.data for v in slow.variants]
    assert fast.knowledge == slow.knowledge


def test_the_estimate_counts_libspngs_arrays_beside_pillows_copy(monkeypatch):
    data = png(picture((2000, 1500)))
    with_libspng = cost.estimate_memory(probed(data), DEFAULT_VARIANTS)
    monkeypatch.setattr(cost, "_SPNG_BYTES_PER_PIXEL", {})

    assert with_libspng >= cost.estimate_memory(probed(data), DEFAULT_VARIANTS) + 2000 * 1500 * 6


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_the_memory_estimate_covers_a_libspng_decode_measured_in_a_fresh_process(tmp_path, mode):
    """RGB is where libspng's decode is dearest: its 3-byte array beside Pillow's 4-byte
    copy, and its own copy of the file."""
    from tests.unit.test_memory_bound import limits

    path = tmp_path / f"picture-{mode}.png"
    path.write_bytes(png(picture((3000, 2000), mode), compress_level=1))

    measured = limits.measure(path)

    assert measured["verdict"] == "ready", measured
    assert measured["estimateMb"] >= measured["peakMb"], measured


def test_its_rgba_is_premultiplied_in_place_with_no_second_full_size_copy():
    if shaping.cykooz_resizer is None:
        pytest.skip("cykooz.resizer has no wheel for this platform")
    source = picture((320, 240), "RGBA")
    data = png(source)
    decoded = png_decoder.decode(data, opened(data), (320, 240))
    assert decoded is not None

    made = shaping.premultiply_in_place(decoded)

    assert made is decoded  # libspng's array is the image's own: written, not copied
    assert identical(made, source.convert("RGBa"))
