"""A 64-bit perceptual hash of an image (dHash) and the bands it is indexed by.

dHash compares each pixel of a 9x8 grey thumbnail with its right neighbour: it survives
re-encoding, resizing and metadata changes (the picture is the same) and moves a few bits
for other pictures of the same scene taken a moment apart or from another place. Written
here rather than taken from `imagehash` (whose dHash is the same dozen lines): that package
needs numpy, scipy and PyWavelets, about 100 MB the upload function would carry for it.

Pillow-free but for dhash itself: the band arithmetic is used by the duplicate index.

Near-duplicates are found without a scan by multi-index hashing: the hash is cut into
BANDS equal bands, and two hashes within MAX_DISTANCE bits (MAX_DISTANCE < BANDS) agree
exactly on at least one band (pigeonhole), so one query per band finds every candidate.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

BITS = 64
# Six bands of 11 and 10 bits: any two hashes within 5 bits share one. Bands this wide keep
# the chance that an unrelated image shares one small (about 6 in 2048 an image), so a
# query examines a handful of items even for a large library.
BAND_WIDTHS = (11, 11, 11, 11, 10, 10)
BANDS = len(BAND_WIDTHS)
# Measured on the labelled set (scripts/duplicates.py, docs/knowledge.md): re-encoded,
# resized, converted and stripped copies of a photo lie within 5 bits of it; other photos,
# even of the same scene, 14 or more.
MAX_DISTANCE = BANDS - 1

_WIDTH, _HEIGHT = 9, 8


def dhash(glance: "Image.Image") -> int:
    """The 64-bit difference hash of an image of any mode (transparency over white)."""
    from PIL import Image  # the index's arithmetic below is used without Pillow

    if glance.mode in ("RGBA", "LA", "PA", "P"):
        flat = Image.new("RGB", glance.size, "white")
        flat.paste(glance.convert("RGBA"), mask=glance.convert("RGBA").getchannel("A"))
        glance = flat
    grey = glance.convert("L").resize((_WIDTH, _HEIGHT), Image.Resampling.BOX)
    pixels = grey.tobytes()
    value = 0
    for row in range(_HEIGHT):
        for column in range(_WIDTH - 1):
            left = pixels[row * _WIDTH + column]
            value = (value << 1) | (left > pixels[row * _WIDTH + column + 1])
    return value


def to_hex(value: int) -> str:
    return f"{value:016x}"


def from_hex(text: str) -> int:
    return int(text, 16)


def distance(a: int, b: int) -> int:
    """Hamming distance: how many of the 64 bits differ."""
    return (a ^ b).bit_count()


def bands(value: int) -> list[str]:
    """The hash cut into BANDS keys, most significant bits first, each naming its band."""
    keys = []
    shift = BITS
    for index, width in enumerate(BAND_WIDTHS):
        shift -= width
        keys.append(f"{index}:{(value >> shift) & ((1 << width) - 1):04x}")
    return keys
