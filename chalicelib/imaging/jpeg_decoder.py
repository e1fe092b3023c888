"""Decode a JPEG at 5/8, 6/8 or 7/8 of its size through TurboJPEG, where Pillow, which can
ask libjpeg-turbo for 1/n only, would decode it whole (decoding's Accelerated decoder).

A 2560 x 1600 camera photo needs 5/8 for a 1600 px preview: decoded there, it has 61 % fewer
pixels to decode and nothing left to resize. At 1/8 to 4/8 and at 8/8 Pillow's own decode
(with decoding.draft) stays: TurboJPEG is the same libjpeg-turbo and measured no faster
there. geometry.dct_size decides the scale, for this decoder and for cost alike.
"""

import importlib
from types import ModuleType

from PIL import Image, ImageFile

from chalicelib.imaging.geometry import DCT_EIGHTHS, TURBOJPEG_EIGHTHS, Size, dct_size

# simplejpeg: the TurboJPEG API of the libjpeg-turbo it bundles, decoding into NumPy.
# Imported on the first JPEG that needs it, not with imaging: NumPy's import costs a cold
# start about 90 ms (measured from vendor/ in `python3.12 -I -S`), and most JPEGs never do.
_UNLOADED = ModuleType("unloaded")
simplejpeg: ModuleType | None = _UNLOADED


def _turbojpeg() -> ModuleType | None:
    global simplejpeg
    if simplejpeg is _UNLOADED:
        try:
            simplejpeg = importlib.import_module("simplejpeg")
        except ImportError:
            simplejpeg = None
    return simplejpeg


# Pillow's JPEG modes and what TurboJPEG is asked for to give the same samples. CMYK and
# YCCK stay with Pillow, which inverts Adobe's CMYK and applies its ICC profile.
_COLORSPACES = {"RGB": "RGB", "L": "GRAY"}


def decode(data: bytes, image: ImageFile.ImageFile, needed: Size) -> Image.Image | None:
    """The pixels at the 5/8-7/8 scale that covers `needed`, or None to let Pillow decode."""
    colorspace = _COLORSPACES.get(image.mode)
    if colorspace is None:
        return None
    eighths, scaled = dct_size(image.size, needed, DCT_EIGHTHS + TURBOJPEG_EIGHTHS)
    turbojpeg = _turbojpeg() if eighths in TURBOJPEG_EIGHTHS else None
    if turbojpeg is None:
        return None
    try:
        # strict: a warning (a truncated or damaged stream) raises instead of handing back
        # a half-grey picture; Pillow then decides. The accurate IDCT and fancy upsampling
        # are Pillow's defaults too.
        pixels = turbojpeg.decode_jpeg(
            data, colorspace, min_width=scaled[0], min_height=scaled[1], strict=True
        )
    except ValueError:
        return None
    height, width = pixels.shape[:2]
    # Pillow keeps RGB in 4 bytes a pixel: this copies, and the 3-byte array is then freed.
    return Image.frombuffer(image.mode, (width, height), pixels, "raw", image.mode, 0, 1)
