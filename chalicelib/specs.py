"""Plain descriptions of what to make from an image: variants and renders.

Kept apart from imaging's steps so that settings (read by every Lambda) can describe variants
without importing Pillow, which the API function must not pay for at cold start.
"""

from dataclasses import dataclass
from enum import StrEnum


class Fit(StrEnum):
    CONTAIN = "contain"  # scale down to fit inside the box, keep aspect ratio
    COVER = "cover"  # scale to cover the box, centre-crop to exactly the box
    FILL = "fill"  # stretch to exactly the box


@dataclass(frozen=True)
class VariantSpec:
    """One variant made for every upload, e.g. thumbnail: contain in 256x256."""

    name: str
    width: int
    height: int
    fit: Fit = Fit.CONTAIN
    rotate: int = 0  # degrees clockwise: 0, 90, 180 or 270


@dataclass(frozen=True)
class RenderSpec:
    """One on-the-fly render, already validated and normalised."""

    width: int | None
    height: int | None
    fit: Fit
    rotate: int
    format: str  # jpeg, png, webp or avif (never "auto": resolved before this point)
    quality: int
    # Where a cover crop centres, as fractions of the width and height: the image's focus
    # (gravity=focus, the default) or the centre (gravity=centre).
    focus: tuple[float, float] = (0.5, 0.5)


DEFAULT_VARIANTS = (
    VariantSpec("thumbnail", 256, 256, Fit.CONTAIN),
    VariantSpec("preview", 1600, 1600, Fit.CONTAIN),
    VariantSpec("hd-rotated", 1280, 720, Fit.COVER, rotate=180),
)
