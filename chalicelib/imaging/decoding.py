"""Decode the first frame once, at the smallest scale that serves every output, and bring
it to the working form: RGB, RGBA or L, oriented, reduced, without metadata."""

import io
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageFile, features

from chalicelib.imaging import jpeg_decoder, png_decoder, webp_decoder
from chalicelib.imaging.facts import Probe
from chalicelib.imaging.geometry import Size, dct_size, reduce_factors
from chalicelib.imaging.reading import open_image

_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class Working:
    """The decoded source every output is made from."""

    image: Image.Image  # RGB, RGBA or L; oriented; no metadata
    icc_profile: bytes | None  # to embed in outputs, already matching image's colour space


def decode(data: bytes, probe: Probe, needed: Size) -> Working:
    """Open once, decode the first frame at the smallest scale that still covers `needed`."""
    stored_needed = needed[::-1] if probe.orientation >= 5 else needed
    image = _load(open_image(data, probe.format), data, probe.format, stored_needed)
    image, icc_profile = _to_working_colour(image)
    image = _reduce(image, stored_needed)
    image = _drop_opaque_alpha(image)
    image = _orient(image, probe.orientation)
    image.info.clear()  # EXIF, XMP, GPS and comments must never reach a variant
    return Working(image, icc_profile)


# A faster decoder for a format: given the bytes, the image Pillow opened from them (header
# read, nothing decoded) and the stored size the outputs need, it returns the first frame's
# pixels as Pillow's load() would give them, in any mode Pillow's decoder would give, at
# any size that still covers the need (the same aspect ratio, never smaller than `needed`
# unless the source is), or None to let Pillow decode: it is not installed here, the file
# uses a feature it does not read, or it found the data damaged (Pillow then decides, so a
# file is never refused for a faster decoder's stricter reading).
Accelerated = Callable[[bytes, ImageFile.ImageFile, Size], Image.Image | None]
_ACCELERATED: dict[str, Accelerated] = {
    "jpeg": jpeg_decoder.decode,
    "png": png_decoder.decode,
    "webp": webp_decoder.decode,
}


def _load(image: Image.Image, data: bytes, fmt: str, needed: Size) -> Image.Image:
    """The first frame's pixels, through the format's faster decoder where there is one."""
    assert isinstance(image, ImageFile.ImageFile)  # opened from bytes, so a file image
    accelerated = _ACCELERATED.get(fmt)
    decoded = accelerated(data, image, needed) if accelerated is not None else None
    if decoded is not None:
        decoded.info.update(image.info)  # the colour profile, read from the header
        return decoded
    if fmt == "jpeg":
        draft(image, needed)
    image.load()
    return image


# Pillow's draft() asks libjpeg-turbo for the powers of two only (see geometry.DCT_EIGHTHS).
_THREE_EIGHTHS = features.check_feature("libjpeg_turbo") is True


def draft(image: Image.Image, needed: Size) -> None:
    """Make a JPEG decode at the smallest DCT scale whose result still covers `needed`.

    3/8 sits between Pillow's 1/4 and 1/2 and is what a 20-24 MP photo needs for a 1600 px
    preview: about 45 % fewer pixels than 1/2 to decode and to resize. Pillow has no public
    way to ask for it, so the decoder's scale and the image's size are set here as draft()
    sets them, with the size computed as libjpeg-turbo computes its output size.
    """
    eighths, scaled = dct_size(image.size, needed)
    if eighths == 8:
        return  # only the full size covers it
    assert isinstance(image, ImageFile.ImageFile)  # opened from bytes, so a file image
    if eighths != 3 or not _THREE_EIGHTHS or len(image.tile) != 1 or image.decoderconfig:
        image.draft(None, needed)
        return
    tile = image.tile[0]
    image.tile = [ImageFile._Tile(tile.codec_name, (0, 0, *scaled), tile.offset, tile.args)]
    image._size = scaled
    image.decoderconfig = (3, 0)  # 1/3 asks libjpeg-turbo for 3/8


def _to_working_colour(image: Image.Image) -> tuple[Image.Image, bytes | None]:
    """Bring any mode to RGB, RGBA or L, keeping the colours and an ICC profile that fits."""
    icc_profile = image.info.get("icc_profile") or None
    if image.mode == "CMYK":
        # A CMYK profile cannot ride along with RGB pixels, so it is applied here instead.
        return _cmyk_to_srgb(image, icc_profile), None
    image = _to_rgb_rgba_or_l(image)
    return image, icc_profile if profile_fits(icc_profile, image.mode) else None


def profile_fits(icc_profile: bytes | None, mode: str) -> bool:
    """Whether an ICC profile describes pixels of this mode (its header names the space)."""
    if icc_profile is None:
        return False
    return icc_profile[16:20] == (b"GRAY" if mode == "L" else b"RGB ")


def _to_rgb_rgba_or_l(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit samples: scale to 8 bits; a plain convert would clip nearly all to white.
        image = image.convert("I").point(lambda v: v / 256).convert("L")
    elif image.mode in ("1", "F"):
        image = image.convert("L")
    if image.has_transparency_data:
        return image if image.mode == "RGBA" else image.convert("RGBA")
    if image.mode in ("RGB", "L"):
        return image
    return image.convert("RGB")


def _cmyk_to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    if icc_profile is None or icc_profile[16:20] != b"CMYK":
        return image.convert("RGB")
    # Without littlecms or with a broken profile, the naive conversion still beats failing.
    try:
        from PIL import ImageCms
    except ImportError:
        return image.convert("RGB")
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        converted = ImageCms.profileToProfile(
            image, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
        )
    except (OSError, ValueError, ImageCms.PyCMSError):
        return image.convert("RGB")
    return converted if converted is not None else image.convert("RGB")


def _reduce(image: Image.Image, needed: Size) -> Image.Image:
    """Box-shrink big non-JPEG decodes early so orienting and resizing touch fewer pixels.

    Each axis by its own factor: a long thin image (1 x 20,000,000) needs a 12,500:1
    reduction along one axis and none along the other, and left to the resampler that ratio
    costs gigabytes of full-support coefficients; box-reduced first, it costs nothing.
    """
    factors = reduce_factors(image.size, needed)
    return image if factors == (1, 1) else image.reduce(factors)


def _drop_opaque_alpha(image: Image.Image) -> Image.Image:
    """An alpha channel that is everywhere opaque is not transparency; JPEG can carry it."""
    if image.mode == "RGBA" and image.getchannel("A").getextrema()[0] == 255:
        return image.convert("RGB")
    return image


def _orient(image: Image.Image, orientation: int) -> Image.Image:
    method = _ORIENTATION_TRANSPOSE.get(orientation)
    return image if method is None else image.transpose(method)
