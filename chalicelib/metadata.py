"""The original as everyone but its owner gets it: the same picture without where it was taken
and other personal metadata (EXIF, GPS included, XMP, IPTC, maker notes, comments, text).

JPEG, PNG and WebP are filtered losslessly, segment by segment or chunk by chunk: the image
data is copied byte for byte, never decoded or re-encoded. What is kept is what showing the
picture needs: the colour profile, JFIF density, Adobe's colour transform (CMYK needs it),
PNG's colour and transparency chunks, WebP's animation. The EXIF orientation is kept too
(written anew as the only tag), or the picture would turn on its side. Anything after the
image's end (a JPEG's MPF pictures, which carry their own EXIF) is dropped. BMP carries no
metadata. Every other format is re-encoded by imaging as a PNG of the same pixels.

Pure: bytes in, bytes out; only the fallback imports Pillow (through imaging).
"""

import struct
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.imaging import Probe

_ORIENTATION_TAG = 0x0112


class Damaged(ValueError):
    """The structure could not be walked; the pipeline makes a re-encoded copy instead."""


def orientation_exif(orientation: int) -> bytes:
    """A TIFF header and one IFD holding only the orientation: the EXIF a shared copy keeps."""
    return b"MM\x00*" + struct.pack(">IHHHIHHI", 8, 1, _ORIENTATION_TAG, 3, 1, orientation, 0, 0)


# --- JPEG -----------------------------------------------------------------------------

_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
_APP0, _APP1, _APP2, _APP14, _COM = 0xE0, 0xE1, 0xE2, 0xEE, 0xFE
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RSTn carry no length


def _kept_jpeg_segment(marker: int, body: bytes) -> bool:
    if marker == _APP0:
        return body.startswith(b"JFIF\x00")  # not JFXX: its thumbnail is another picture
    if marker == _APP2:
        return body.startswith(b"ICC_PROFILE\x00")  # not MPF or FlashPix
    if marker == _APP14:
        return body.startswith(b"Adobe")
    return not (0xE0 <= marker <= 0xEF or marker == _COM)


def jpeg(data: bytes, orientation: int) -> bytes:
    """The JPEG with only the segments that display needs; its scans copied unchanged."""
    if data[:2] != b"\xff\xd8":
        raise Damaged("no JPEG start marker")
    out = [b"\xff\xd8"]
    exif = b"Exif\x00\x00" + orientation_exif(orientation) if orientation != 1 else b""
    position = 2
    while True:
        marker, position = _next_marker(data, position)
        if marker == _EOI:
            out.append(b"\xff\xd9")
            return b"".join(out)
        if marker in _STANDALONE:
            out.append(bytes((0xFF, marker)))
            continue
        if position + 2 > len(data):
            raise Damaged("a segment runs past the end")
        length = struct.unpack(">H", data[position : position + 2])[0]
        end = position + length
        if length < 2 or end > len(data):
            raise Damaged("a segment runs past the end")
        body = data[position + 2 : end]
        if exif and marker not in (_APP0,):
            # The new EXIF goes right after JFIF (or SOI), where readers expect APP1.
            out.append(b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif)
            exif = b""
        if _kept_jpeg_segment(marker, body):
            out.append(data[position - 2 : end])
        position = end
        if marker == _SOS:
            scan_end = _end_of_scan(data, position)
            out.append(data[position:scan_end])
            position = scan_end


def _next_marker(data: bytes, position: int) -> tuple[int, int]:
    """The marker at `position` (fill bytes skipped) and where its segment starts."""
    if position >= len(data) or data[position] != 0xFF:
        raise Damaged("expected a marker")
    while position < len(data) and data[position] == 0xFF:
        position += 1
    if position >= len(data):
        raise Damaged("the data ends inside a marker")
    return data[position], position + 1


def _end_of_scan(data: bytes, position: int) -> int:
    """Where the entropy-coded data after SOS ends: at the first marker that is neither a
    stuffed 0xFF00 nor a restart marker."""
    while True:
        position = data.find(b"\xff", position)
        if position < 0 or position + 1 >= len(data):
            raise Damaged("a scan runs past the end")
        following = data[position + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            position += 1 if following == 0xFF else 2
            continue
        return position


# --- PNG ------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_KEPT = frozenset(
    {
        b"IHDR",
        b"PLTE",
        b"IDAT",
        b"IEND",
        b"tRNS",
        b"cHRM",
        b"gAMA",
        b"iCCP",
        b"sBIT",
        b"sRGB",
        b"cICP",
        b"mDCv",
        b"cLLi",
        b"bKGD",
        b"hIST",
        b"pHYs",
        b"acTL",
        b"fcTL",
        b"fdAT",
    }
)


def png(data: bytes, orientation: int) -> bytes:
    """The PNG with its display chunks only (no text, XMP, eXIf or time) in their order."""
    if not data.startswith(_PNG_SIGNATURE):
        raise Damaged("no PNG signature")
    out = [_PNG_SIGNATURE]
    position = len(_PNG_SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        end = position + 12 + length
        if end > len(data):
            raise Damaged("a chunk runs past the end")
        if kind == b"IDAT" and orientation != 1:
            out.append(_png_chunk(b"eXIf", orientation_exif(orientation)))
            orientation = 1
        if kind in _PNG_KEPT:
            out.append(data[position:end])
        position = end
        if kind == b"IEND":
            return b"".join(out)
    raise Damaged("no IEND chunk")


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body)
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


# --- WebP -----------------------------------------------------------------------------

_WEBP_KEPT = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"})
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def webp(data: bytes, orientation: int) -> bytes:
    """The WebP without its EXIF and XMP chunks, the VP8X flags and RIFF size to match."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise Damaged("no RIFF WEBP header")
    chunks = []
    position = 12
    end_of_riff = min(len(data), 8 + struct.unpack("<I", data[4:8])[0])
    while position + 8 <= end_of_riff:
        kind, length = struct.unpack("<4sI", data[position : position + 8])
        end = position + 8 + length + (length & 1)
        if position + 8 + length > len(data):
            raise Damaged("a chunk runs past the end")
        if kind in _WEBP_KEPT:
            chunks.append(bytearray(data[position:end]))
        position = end
    if not chunks:
        raise Damaged("no image chunk")
    if chunks[0][:4] == b"VP8X":
        flags = chunks[0][8] & ~(_VP8X_EXIF | _VP8X_XMP)
        if orientation != 1:
            exif = orientation_exif(orientation)
            chunks.append(bytearray(b"EXIF" + struct.pack("<I", len(exif)) + exif))
            flags |= _VP8X_EXIF
        chunks[0][8] = flags
    body = b"WEBP" + b"".join(bytes(chunk) for chunk in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


# --- all formats ----------------------------------------------------------------------

FILTERS: dict[str, Callable[[bytes, int], bytes]] = {
    "jpeg": jpeg,
    "png": png,
    "webp": webp,
    "bmp": lambda data, _orientation: data,  # BMP has no metadata to rewrite
}


def shared_copy(data: bytes, probe: "Probe") -> tuple[bytes, str]:
    """The original as everyone but its owner gets it: (bytes, format)."""
    strip = FILTERS.get(probe.format)
    if strip is not None:
        try:
            return strip(data, probe.orientation), probe.format
        except (Damaged, struct.error, IndexError):
            pass  # a structure this walk cannot follow still decodes: re-encode it
    from chalicelib import imaging  # Pillow, for the formats no filter handles

    encoded = imaging.without_metadata(data, probe)
    return encoded.data, encoded.format
