"""Honest verdicts for real formats: icons and clipboard bitmaps are images people have and
are accepted; formats the service does not take are named, with what it does take."""

import io
import struct

import pytest
from PIL import Image

from chalicelib import imaging, settings
from chalicelib.specs import DEFAULT_VARIANTS

ACCEPTED = settings.ALL_INPUT_FORMATS


def probe(data: bytes) -> imaging.Probe:
    return imaging.probe(data, allowed_formats=ACCEPTED, max_pixels=50_000_000)


def rejection(data: bytes) -> imaging.Rejected:
    with pytest.raises(imaging.Rejected) as caught:
        probe(data)
    return caught.value


def saved(fmt: str, image: Image.Image | None = None, **options) -> bytes:
    out = io.BytesIO()
    (image or Image.new("RGB", (64, 48), (200, 60, 30))).save(out, fmt, **options)
    return out.getvalue()


def favicon() -> bytes:
    return saved("ICO", Image.new("RGBA", (64, 64), (20, 90, 200, 180)), sizes=[(64, 64), (16, 16)])


def clipboard_bitmap() -> bytes:
    return saved("BMP")[14:]  # CF_DIB: a BMP without its 14-byte file header


@pytest.mark.parametrize(
    ("data", "fmt", "size"),
    [(favicon(), "ico", (64, 64)), (clipboard_bitmap(), "dib", (64, 48))],
    ids=["favicon", "clipboard-bitmap"],
)
def test_icons_and_clipboard_bitmaps_are_accepted_and_made_into_variants(data, fmt, size):
    probed = probe(data)
    assert (probed.format, (probed.width, probed.height)) == (fmt, size)
    variants = imaging.make_variants(data, probed, DEFAULT_VARIANTS)
    assert [v.name for v in variants] == [spec.name for spec in DEFAULT_VARIANTS]
    hd = variants[-1]
    assert (hd.width, hd.height) == (1280, 720)


def test_an_icon_whose_picture_claims_more_pixels_than_its_directory_is_refused_from_headers():
    data = bytearray(favicon())
    offset = struct.unpack_from("<I", data, 6 + 12)[0]  # the first entry's picture
    assert data[offset : offset + 8] == b"\x89PNG\r\n\x1a\n"
    struct.pack_into(">II", data, offset + 16, 100_000, 100_000)  # its IHDR says 100,000²
    assert rejection(bytes(data)).code == "corrupt"


def psd() -> bytes:
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 48, 64, 8, 3)
    return header + b"\0" * 64


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (psd(), "Photoshop (PSD)"),
        (saved("JPEG2000"), "JPEG 2000"),
        (saved("TGA"), "TGA"),
        (saved("DDS"), "DirectDraw Surface (DDS)"),
        (saved("PPM"), "Netpbm"),
        (saved("QOI"), "QOI"),
        (saved("SGI"), "SGI"),
        (saved("PCX"), "PCX"),
        (saved("ICNS"), "Apple icon (ICNS)"),
        (saved("EPS"), "PostScript (EPS)"),
        (b"\x00\x00\x00\x0cJXL \r\n\x87\n" + b"\0" * 40, "JPEG XL"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
    ],
    ids=["psd", "jpeg2000", "tga", "dds", "ppm", "qoi", "sgi", "pcx", "icns", "eps", "jxl", "svg"],
)
def test_a_format_the_service_does_not_take_is_named_with_what_it_takes(data, named):
    rejected = rejection(data)
    assert rejected.code == "unsupported_format"
    assert named in rejected.message
    assert "accepted: AVIF, BMP" in rejected.message


@pytest.mark.parametrize(
    "data",
    [b"hello, world\n" * 20, b"<html><body>not a picture</body></html>", bytes(range(256)) * 4],
    ids=["text", "html", "bytes"],
)
def test_what_is_no_image_at_all_is_still_not_an_image(data):
    assert rejection(data).code == "not_an_image"


def test_icon_formats_can_be_declared_when_uploading():
    from chalicelib import validation

    assert {"image/x-icon", "image/vnd.microsoft.icon"} <= validation.IMAGE_TYPES
