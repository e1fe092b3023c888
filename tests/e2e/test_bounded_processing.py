"""Over HTTP: files that are legal but costly are processed within the memory bound or refused
with a code a person understands, and real formats get honest verdicts."""

import io

import pytest
from PIL import Image

from tests.support.localstack import upload, wait_until_done

pytestmark = pytest.mark.e2e


def png(mode: str, size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 120, 40, 255)[: len(mode)]).save(out, "PNG")
    return out.getvalue()


def verdict(stack, data: bytes, filename: str, content_type: str) -> dict:
    image = upload(stack, "demo", data, filename=filename, content_type=content_type)
    return wait_until_done(stack, "demo", image["id"], timeout=60)


def test_a_png_of_one_by_twenty_million_pixels_becomes_ready_with_every_variant(stack):
    # 75 kB under the pixel limit; it used to need 2.2 GB (an OOM kill on a 2048 MB Lambda).
    record = verdict(stack, png("RGB", (1, 20_000_000)), "line.png", "image/png")
    assert record["status"] == "ready", record.get("failure")
    assert sorted(record["variants"]) == ["hd-rotated", "preview", "thumbnail"]
    assert (record["variants"]["preview"]["width"], record["variants"]["preview"]["height"]) == (
        1,
        1600,
    )


def test_a_tall_thin_transparent_png_over_the_memory_bound_fails_with_a_plain_reason(stack):
    record = verdict(stack, png("RGBA", (1, 50_000_000)), "tall.png", "image/png")
    assert record["status"] == "failed"
    assert record["failure"]["code"] == "too_large_to_process"
    assert "memory" in record["failure"]["message"]
    assert "1x50000000" in record["failure"]["message"]


def test_a_favicon_and_a_clipboard_bitmap_become_ready(stack):
    icon, bitmap = io.BytesIO(), io.BytesIO()
    Image.new("RGBA", (48, 48), (10, 120, 200, 200)).save(icon, "ICO", sizes=[(48, 48)])
    Image.new("RGB", (300, 200), (90, 40, 10)).save(bitmap, "BMP")
    for data, name, content_type in (
        (icon.getvalue(), "favicon.ico", "image/x-icon"),
        (bitmap.getvalue()[14:], "clip.dib", "image/bmp"),
    ):
        record = verdict(stack, data, name, content_type)
        assert record["status"] == "ready", (name, record.get("failure"))


def test_a_photoshop_file_is_an_unsupported_format_naming_what_is_accepted(stack):
    psd = b"8BPS\x00\x01" + b"\0" * 6 + b"\x00\x03" + b"\0" * 200
    record = verdict(stack, psd, "layers.psd", "image/png")
    assert record["status"] == "failed"
    assert record["failure"]["code"] == "unsupported_format"
    assert "Photoshop (PSD)" in record["failure"]["message"]
    assert "accepted:" in record["failure"]["message"]
