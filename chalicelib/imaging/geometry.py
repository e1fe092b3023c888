"""Sizes and boxes: what a fit makes of a source, what a decode must reach, where a crop
comes from. Pure arithmetic (no Pillow), shared by imaging's steps, its memory estimate
and the render planning the API does at cold start."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.specs import Fit

Size = tuple[int, int]
Box = tuple[float, float, float, float]  # left, top, right, bottom

ROTATIONS = (0, 90, 180, 270)
Point = tuple[float, float]  # fractions of the width and height, from the top left
CENTRE: Point = (0.5, 0.5)
# Larger sources are first shrunk with a cheap box reduce to within this factor of the
# target, then finished with Lanczos: nearly Lanczos quality at a fraction of the cost.
REDUCING_GAP = 2.0
# Full Lanczos support costs a coefficient per source pixel a tap spans, so the vectorised
# resampler's memory grows with the reduction: 1 x 20,000,000 down to 1 x 1600 (12,500:1)
# needs 2.4 GB of them. Beyond this ratio Pillow's resampler, which box-reduces first, does
# the work in the memory of the source (there, the box-reduce's blur is below a pixel).
MAX_VECTORISED_RATIO = 32.0
# libjpeg-turbo decodes at k/8 of full size by shrinking its IDCT, which costs less than
# decoding whole and resizing. Asked for 1/n it picks k = ceil(8/n), so 1/8, 2/8, 3/8 and
# 4/8 can be had.
DCT_EIGHTHS = (1, 2, 3, 4)
# TurboJPEG's API asks for any k/8: jpeg_decoder takes these, where Pillow decodes whole.
TURBOJPEG_EIGHTHS = (5, 6, 7)


@dataclass(frozen=True)
class Geometry:
    """How to turn the oriented source into one output, in source-independent terms."""

    scaled: Size  # resize the oriented source to this
    crop: tuple[int, int, int, int] | None  # then cut this box out of it
    rotate: int  # then turn this many degrees clockwise


def geometry(
    source: Size,
    width: int | None,
    height: int | None,
    fit: Fit,
    rotate: int,
    focus: Point = CENTRE,
) -> Geometry:
    """What `fit` makes of the oriented `source` in the box; a cover crop is centred on
    `focus` as far as the picture allows (the centre by default)."""
    if rotate not in ROTATIONS:
        raise ValueError(f"rotate must be 0, 90, 180 or 270, not {rotate}")
    if fit is Fit.CONTAIN:
        return Geometry(contained_size(source, width, height), None, rotate)
    box_w, box_h = complete_box(source, width, height)
    if fit is Fit.FILL:
        return Geometry((box_w, box_h), None, rotate)
    # Cover upscales a small source: the box is a promise of an exact size.
    scale = _cover_scale(source, (box_w, box_h))
    scaled = (max(box_w, round(source[0] * scale)), max(box_h, round(source[1] * scale)))
    left = cover_offset(scaled[0], box_w, focus[0])
    top = cover_offset(scaled[1], box_h, focus[1])
    return Geometry(scaled, (left, top, left + box_w, top + box_h), rotate)


def cover_offset(scaled: int, box: int, focus: float) -> int:
    """Where a cover crop of `box` pixels starts in a side scaled to `scaled` pixels, so that
    the relative position `focus` is as near the crop's centre as the side allows (the
    centre gives (scaled - box) // 2)."""
    wanted = math.floor(focus * scaled - box / 2)
    return max(0, min(scaled - box, wanted))


def complete_box(source: Size, width: int | None, height: int | None) -> Size:
    """A missing side follows the source's aspect ratio; no sides at all means the source."""
    src_w, src_h = source
    if width is None and height is None:
        return source
    if width is None:
        assert height is not None
        return max(1, round(src_w * height / src_h)), height
    if height is None:
        return width, max(1, round(src_h * width / src_w))
    return width, height


def contained_size(original: Size, width: int | None, height: int | None) -> Size:
    """What contain makes of the original: inside the box, same aspect, never upscaled (a
    small source stays its own size).

    A missing side places no limit, so w=257 is 257 wide whatever the rounding of the height.
    """
    src_w, src_h = original
    scale = min(
        1.0,
        width / src_w if width is not None else math.inf,
        height / src_h if height is not None else math.inf,
    )
    return (
        max(1, min(width or src_w, round(src_w * scale))),
        max(1, min(height or src_h, round(src_h * scale))),
    )


def covering_size(original: Size, box: Size) -> Size:
    """The smallest size of the whole original, same aspect, that covers `box` (rounded up,
    so that it never falls a pixel short of what a cover needs)."""
    scale = _cover_scale(original, box)
    return max(box[0], math.ceil(original[0] * scale)), max(box[1], math.ceil(original[1] * scale))


def _cover_scale(original: Size, box: Size) -> float:
    return max(box[0] / original[0], box[1] / original[1])


def needed_source_size(geometries: Sequence[Geometry], source: Size) -> Size:
    """The smallest oriented size the decode must reach to serve every output without loss."""
    return (
        min(source[0], max(g.scaled[0] for g in geometries)),
        min(source[1], max(g.scaled[1] for g in geometries)),
    )


def size_and_box(base: Size, geometry: Geometry) -> tuple[Size, Box]:
    """How big the output is, and where in `base` it comes from."""
    if geometry.crop is None:
        return geometry.scaled, (0.0, 0.0, float(base[0]), float(base[1]))
    (width, height), (left, top, right, bottom) = geometry.scaled, geometry.crop
    # Multiplying before dividing puts a crop's edge exactly on the base's edge; a scale
    # factor's rounding could push it a hair past it, which the vectorised resampler refuses.
    box = (
        left * base[0] / width,
        top * base[1] / height,
        right * base[0] / width,
        bottom * base[1] / height,
    )
    return (right - left, bottom - top), box


def ratio(size: Size, box: Box) -> float:
    """The largest reduction, over both axes, from `box` to `size`."""
    return max((box[2] - box[0]) / size[0], (box[3] - box[1]) / size[1])


def scaled_decode_size(source: Size, needed: Size) -> Size:
    """The size a decoder that scales to any size (libwebp's) is asked for: REDUCING_GAP
    times the need in the source's aspect ratio, as the box-reduce before Lanczos keeps, and
    never more than the source."""
    scale = max(REDUCING_GAP * n / s for n, s in zip(needed, source, strict=True))
    if scale >= 1.0:
        return source
    return (
        min(source[0], max(1, math.ceil(source[0] * scale))),
        min(source[1], max(1, math.ceil(source[1] * scale))),
    )


def reduce_factors(size: Size, needed: Size) -> Size:
    """The box-reduce each axis takes before resampling (see decoding.reduce)."""
    return (
        max(1, int(size[0] / (needed[0] * REDUCING_GAP))),
        max(1, int(size[1] / (needed[1] * REDUCING_GAP))),
    )


def reduced_size(size: Size, needed: Size) -> Size:
    factors = reduce_factors(size, needed)
    return -(-size[0] // factors[0]), -(-size[1] // factors[1])


def dct_size(size: Size, needed: Size, scales: Sequence[int] = DCT_EIGHTHS) -> tuple[int, Size]:
    """The smallest JPEG DCT scale (eighths, of `scales`) whose decode still covers `needed`,
    and the size libjpeg-turbo gives at it; (8, size) when only the full size covers it."""
    for eighths in scales:
        scaled = (-(-size[0] * eighths // 8), -(-size[1] * eighths // 8))
        if scaled[0] >= needed[0] and scaled[1] >= needed[1]:
            return eighths, scaled
    return 8, size
