"""Encode one output: the format's options, a colour profile that fits, nothing else."""

import os
import tempfile
from typing import BinaryIO

from PIL import Image

from chalicelib.imaging import formats
from chalicelib.imaging.decoding import profile_fits
from chalicelib.imaging.facts import Encoded

_JPEG_QUALITY = 85
_WEBP_QUALITY = 85
_WEBP_METHOD = 4  # 6 is the slowest and smallest; 4 is the usual speed/size balance
# Transparent variants (WebP) are made on every upload: at method 2 their encode takes half
# the CPU of method 4 for 1.3-4 % more bytes and 0.06-0.17 dB less PSNR (the 15 MP RGBA
# PNG's 1600x900 preview: 103 against 211 ms; docs/benchmarks.md). Renders keep method 4:
# on opaque photos method 2 costs 5-8 % more bytes and up to 0.6 dB.
VARIANT_WEBP_METHOD = 2
# libavif's 0 (slowest, smallest) to 10; Pillow's 6 took 6 s of CPU for one 4096x4096 render.
_AVIF_SPEED = 8
PNG_QUALITY = 100  # PNG takes no quality; encode wants one


def encode(
    image: Image.Image,
    name: str,
    fmt: str,
    quality: int,
    icc_profile: bytes | None,
    webp_method: int = _WEBP_METHOD,
) -> Encoded:
    if fmt not in formats.OUTPUTS:
        raise ValueError(f"cannot encode to {fmt!r}")
    output = formats.named(fmt)
    options: dict[str, object] = {}
    if fmt == "jpeg":
        image = _flatten_on_white(image)
        options = {"quality": quality, "optimize": False, "progressive": False}
    elif fmt == "webp":
        options = {"quality": quality, "method": webp_method}
    elif fmt == "avif":
        options = {"quality": quality, "speed": _AVIF_SPEED}
    if fmt in ("webp", "avif") and image.mode == "L":
        # These encoders store colour only; converting here keeps the profile check honest.
        image = image.convert("RGB")
    if profile_fits(icc_profile, image.mode):
        options["icc_profile"] = icc_profile
    with _encoding_file() as file:
        image.save(file, output.pillow_name, **options)
        file.seek(0)
        data = file.read()
    return Encoded(
        name=name,
        data=data,
        width=image.width,
        height=image.height,
        format=fmt,
        content_type=output.media_type,
        extension=output.extension,
    )


def _encoding_file() -> BinaryIO:
    """Where an output is encoded: a file with a descriptor, because Pillow's JPEG encoder
    releases the GIL while it writes into one (into a BytesIO it holds it throughout), so
    JPEG outputs made side by side are also encoded side by side. (PNG goes through a
    wrapper without a descriptor, WebP and AVIF encode in memory: no gain, no harm.) A
    memfd keeps the file in memory."""
    try:
        return open(os.memfd_create("encoded"), "w+b")
    except (AttributeError, OSError):  # not Linux, or memfd refused
        return tempfile.TemporaryFile()


def _flatten_on_white(image: Image.Image) -> Image.Image:
    if image.mode != "RGBA":
        return image
    background = Image.new("RGB", image.size, "white")
    background.paste(image, mask=image.getchannel("A"))
    return background


def variant_format(image: Image.Image) -> str:
    # Opaque variants are JPEG: fastest to encode and decodable everywhere. Transparent ones
    # are WebP rather than PNG: lossy WebP keeps the alpha channel at a fraction of PNG's
    # size for photographic content, encodes faster than PNG at these sizes, and every
    # current browser displays it.
    return "webp" if image.mode == "RGBA" else "jpeg"


VARIANT_QUALITY = {"jpeg": _JPEG_QUALITY, "webp": _WEBP_QUALITY}
