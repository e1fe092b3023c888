"""Validate an upload from its header, without decoding its pixels: format, size, frames,
transparency, orientation, and (with a budget) the memory making its variants would need."""

from collections.abc import Sequence

from PIL import Image

from chalicelib.failures import Code, Rejected
from chalicelib.imaging import cost, formats
from chalicelib.imaging.facts import Probe
from chalicelib.imaging.reading import guarded, open_image
from chalicelib.imaging.sniffing import known_elsewhere, sniff
from chalicelib.specs import VariantSpec

_EXIF_ORIENTATION_TAG = 0x0112


def probe(
    data: bytes,
    *,
    allowed_formats: frozenset[str],
    max_pixels: int,
    memory_budget: int | None = None,
    specs: Sequence[VariantSpec] = (),
) -> Probe:
    """Validate from the header without decoding pixel data. With a `memory_budget` (bytes),
    also refuse an image whose variants (`specs`) would need more memory than that to make
    (see cost.estimate_memory).

    Never raises anything but Rejected: empty, not_an_image, unsupported_format,
    too_many_pixels, too_large_to_process or corrupt.
    """
    fmt = _allowed_format(data, allowed_formats)
    with guarded(fmt):
        image = open_image(data, fmt)
        width, height = image.size
        _check_pixels(width, height, max_pixels)
        if fmt == "ico":
            _check_icon_frames(data, image, max_pixels)
        probed = Probe(
            format=fmt,
            mime=formats.named(fmt).media_type,
            width=width,
            height=height,
            frames=max(1, getattr(image, "n_frames", 1)),
            has_alpha=image.has_transparency_data,
            orientation=_orientation(image),
            mode=image.mode,
        )
    if memory_budget is not None and specs:
        cost.check_memory(probed, specs, memory_budget)
    return probed


def _allowed_format(data: bytes, allowed_formats: frozenset[str]) -> str:
    if not data:
        raise Rejected(Code.EMPTY, "The file is empty.")
    fmt = sniff(data)
    label = formats.named(fmt).label if fmt else known_elsewhere(data)
    if label is None:
        raise Rejected(Code.NOT_AN_IMAGE, "The file is not an image in any format we know.")
    if fmt not in allowed_formats:
        known = sorted(allowed_formats & formats.ALL_INPUTS)
        allowed = ", ".join(formats.named(f).label for f in known)
        raise Rejected(
            Code.UNSUPPORTED_FORMAT, f"{label} images are not accepted here (accepted: {allowed})."
        )
    return fmt


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise Rejected(Code.CORRUPT, "The image header gives it no width or height.")
    if width * height > max_pixels:
        raise Rejected(
            Code.TOO_MANY_PIXELS,
            f"The image is {width}x{height} pixels, more than the {max_pixels:,} allowed.",
        )


def _check_icon_frames(data: bytes, image: Image.Image, max_pixels: int) -> None:
    """Each icon in an ICO carries its own PNG or bitmap header, and Pillow decodes the size
    that header claims, not the directory's: a 1 kB icon could otherwise claim gigapixels."""
    for entry in image.ico.entry:  # type: ignore[attr-defined]  # IcoImageFile's own
        embedded = data[entry.offset : entry.offset + 32]
        if embedded.startswith(b"\x89PNG\r\n\x1a\n"):
            size = (int.from_bytes(embedded[16:20], "big"), int.from_bytes(embedded[20:24], "big"))
        else:  # a bitmap whose height counts its AND mask too
            size = (
                int.from_bytes(embedded[4:8], "little", signed=True),
                abs(int.from_bytes(embedded[8:12], "little", signed=True)) // 2,
            )
        if size != (entry.width, entry.height):
            raise Rejected(
                Code.CORRUPT, "The icon file's pictures are not the sizes its directory says."
            )
        _check_pixels(*size, max_pixels)


def _orientation(image: Image.Image) -> int:
    # The base getexif reads only what the header gave; PNG's own override decodes the
    # whole image to look for an eXIf chunk after the pixels, which a probe must not do.
    # A damaged EXIF block is common in real photos and says nothing about the pixels,
    # so it means "no orientation" rather than a rejection.
    try:
        value = Image.Image.getexif(image).get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1
