"""PNG through libspng (pyspng), for decoding.decode.

PNG has no reduced decode: every pipeline inflates and unfilters every row. What differs is
how fast. Pillow's decoder, fed the IDAT data a chunk at a time through Python, takes about
0.85 s of CPU for the 15 MP RGBA PNG of `make bench`; libspng, given the whole file, takes
about 0.48 s for the same pixels (libvips and so sharp decode PNG with it too). pyspng wraps
it, a 390 kB extension with wheels for CPython 3.12 on manylinux x86_64 and aarch64, and
NumPy (already bundled for TurboJPEG).

Only the PNGs whose pixels both decoders give alike are taken: 8 bits a sample, in RGB,
RGBA or L, with no tRNS chunk (pyspng applies none, so a palette's or a colour key's
transparency would be lost) and no animation (pyspng decodes the default image, which an
APNG may keep out of its frames). Everything else (palettes, 1-16 bit greys, grey with
alpha, which this libspng refuses to decode as 8-bit, 16-bit colour, colour keys, APNGs,
rows narrower than MIN_WIDTH) stays with Pillow, as does any file libspng refuses: Pillow
then decides, so no file is refused for this decoder's reading of it.

pyspng reads chunks without checking their CRCs; Pillow checks them on the chunks it reads
(not on IDAT's). A PNG whose CRCs are wrong but whose pixels decode is therefore made into
variants, as it would be by libvips.
"""

import importlib
from types import ModuleType

from PIL import Image, ImageFile

from chalicelib.imaging.geometry import Size

# Imported on the first PNG that needs it (with NumPy), as jpeg_decoder imports simplejpeg.
_UNLOADED = ModuleType("unloaded")
pyspng: ModuleType | None = _UNLOADED

# The modes (and the raw modes Pillow reads them as, which name the bit depth) taken here.
MODES = ("RGB", "RGBA", "L")
# Narrower rows are left to Pillow: libspng's cost per row then outweighs its speed per pixel
# (an L PNG 1 x 50,000,000: 3.1 s of CPU against Pillow's 2.3 s, and 12 MB more).
MIN_WIDTH = 64


def _libspng() -> ModuleType | None:
    global pyspng
    if pyspng is _UNLOADED:
        try:
            pyspng = importlib.import_module("pyspng")
        except ImportError:
            pyspng = None
    return pyspng


def takes(image: ImageFile.ImageFile) -> bool:
    """Whether libspng gives this PNG exactly the pixels Pillow would (see the module)."""
    if image.format != "PNG" or image.mode not in MODES or len(image.tile) != 1:
        return False
    if image.width < MIN_WIDTH:
        return False
    tile = image.tile[0]
    return (
        tile.codec_name == "zip"
        and tile.args == image.mode  # 8 bits a sample ("RGB;16B" is 16-bit colour)
        and "transparency" not in image.info
        and getattr(image, "custom_mimetype", None) != "image/apng"
    )


def decode(data: bytes, image: ImageFile.ImageFile, needed: Size) -> Image.Image | None:
    """The whole first frame (a PNG has no smaller decode), or None to let Pillow decode."""
    del needed  # every row is inflated whatever the outputs need
    if not takes(image):
        return None
    libspng = _libspng()
    if libspng is None:
        return None
    try:
        pixels = libspng.load(data, format=image.mode)
    except RuntimeError:  # damaged or truncated data, or limits libspng enforces
        return None
    height, width = pixels.shape[:2]
    if (width, height) != image.size:
        return None
    # RGBA and L are wrapped as they are; RGB is copied into 4 bytes a pixel.
    decoded = Image.frombuffer(image.mode, (width, height), pixels, "raw", image.mode, 0, 1)
    # Pillow marks wrapped memory read-only, to copy it before a write in case it is shared;
    # this array is the image's alone, so it may be written in place (premultiplied).
    decoded.readonly = 0
    return decoded
