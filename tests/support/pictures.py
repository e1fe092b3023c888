"""Small pictures made in the test, for cases the real corpus does not cover."""

import io
import struct
import zlib

from PIL import Image


def jpeg(size: tuple[int, int] = (640, 480), colour=(0, 90, 160), **options) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and its CRC."""
    crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return struct.pack(">I", len(data)) + kind + data + crc


def png_claiming(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR that claim a size the pixel data does not have."""
    chunk = png_chunk
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def cover_at(image: Image.Image, box: tuple[int, int], focus: dict) -> Image.Image:
    """A reference cover crop of `box` with the record's focus as near its centre as the
    picture allows (a cover render's default gravity; centred when the focus is the centre),
    made with plain Pillow to compare the service's variants and renders against."""
    scale = max(box[0] / image.width, box[1] / image.height)
    scaled = (max(box[0], round(image.width * scale)), max(box[1], round(image.height * scale)))
    left = max(0, min(scaled[0] - box[0], int(focus["x"] * scaled[0] - box[0] / 2)))
    top = max(0, min(scaled[1] - box[1], int(focus["y"] * scaled[1] - box[1] / 2)))
    resized = image.resize(scaled, Image.Resampling.LANCZOS)
    return resized.crop((left, top, left + box[0], top + box[1]))


def record_faster_decoder(monkeypatch, fmt: str) -> list[bool]:
    """Wrap decoding's faster decoder for `fmt`; the list says, call by call, whether it
    gave the pixels (True) or declined and left them to Pillow (False)."""
    from chalicelib.imaging import decoding

    taken: list[bool] = []
    accelerated = decoding._ACCELERATED[fmt]

    def recorded(*args):
        result = accelerated(*args)
        taken.append(result is not None)
        return result

    monkeypatch.setitem(decoding._ACCELERATED, fmt, recorded)
    return taken
