"""The shared original: personal metadata removed, the picture itself untouched."""

import io

import pytest
from PIL import Image, PngImagePlugin

from chalicelib import imaging, metadata, settings

GPS_IFD = 0x8825


def _exif_with_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x0131] = "CameraApp 1.0"
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2] = "N", (48.0, 8.0, 30.0)
    return exif


def _picture() -> Image.Image:
    picture = Image.new("RGB", (48, 32), (200, 30, 30))
    picture.paste((20, 40, 220), (8, 8, 30, 24))
    return picture


def _shared(data: bytes) -> tuple[bytes, str]:
    probe = imaging.probe(data, allowed_formats=settings.ALL_INPUT_FORMATS, max_pixels=10**8)
    return metadata.shared_copy(data, probe)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_gps_and_xmp_are_removed_and_the_picture_is_copied_unchanged(fmt):
    original = io.BytesIO()
    _picture().save(original, fmt, exif=_exif_with_gps(), xmp=b"<x:xmpmeta>Freiburg</x:xmpmeta>")
    data = original.getvalue()

    shared, shared_format = _shared(data)

    assert shared_format == fmt.lower()
    assert b"Freiburg" not in shared and b"CameraApp" not in shared
    assert Image.open(io.BytesIO(shared)).getexif().get_ifd(GPS_IFD) == {}
    assert Image.open(io.BytesIO(shared)).tobytes() == Image.open(io.BytesIO(data)).tobytes()


def test_png_text_chunks_are_removed():
    text = PngImagePlugin.PngInfo()
    text.add_text("Location", "52.52 N 13.40 E")
    text.add_itxt("Comment", "at my parents' house")
    original = io.BytesIO()
    _picture().save(original, "PNG", pnginfo=text)

    shared, _ = _shared(original.getvalue())

    assert b"52.52" not in shared and b"parents" not in shared
    assert Image.open(io.BytesIO(shared)).text == {}


def test_a_jpeg_keeps_its_orientation_and_loses_what_follows_its_end():
    original = io.BytesIO()
    _picture().save(original, "JPEG", exif=_exif_with_gps(orientation=8), comment=b"home")
    data = original.getvalue() + b"\xff\xd8 an MPF picture with its own GPS \xff\xd9"

    shared, _ = _shared(data)

    assert shared.endswith(b"\xff\xd9") and b"MPF" not in shared and b"home" not in shared
    assert dict(Image.open(io.BytesIO(shared)).getexif()) == {0x0112: 8}


def test_a_format_without_a_lossless_filter_becomes_a_png_of_the_same_pixels():
    original = io.BytesIO()
    _picture().save(original, "TIFF", exif=_exif_with_gps())

    shared, shared_format = _shared(original.getvalue())

    assert shared_format == "png"
    assert Image.open(io.BytesIO(shared)).getexif().get_ifd(GPS_IFD) == {}
    assert Image.open(io.BytesIO(shared)).convert("RGB").tobytes() == _picture().tobytes()


def test_a_jpeg_whose_segments_cannot_be_walked_is_reported_damaged():
    original = io.BytesIO()
    _picture().save(original, "JPEG", exif=_exif_with_gps())
    with pytest.raises(metadata.Damaged):
        metadata.jpeg(original.getvalue()[:40], 1)
