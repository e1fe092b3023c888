"""Where the subject of a picture is: a focal point from a saliency map of the glance.

Saliency here is centre-surround contrast in an opponent colour space (each pixel against
its blurred surround, luminance and both chroma channels: what stands out from what is
around it), weighted by local sharpness (a subject in focus against a blurred background)
and faded towards the borders (where photographers rarely put a subject, and where a
blurred surround is least trustworthy). The focal point is the peak of that map once
smoothed: a small subject wins over a large area of mild texture.

A face detector would do better on portraits, but none fits the upload function: OpenCV's
and MediaPipe's wheels are 40-100 MB with numpy, over Lambda's 250 MB unzipped budget with
Pillow and boto3, and most of a second of cold start (measured: docs/knowledge.md).
"""

from typing import TYPE_CHECKING

from PIL import Image, ImageChops, ImageFilter

from chalicelib.imaging.geometry import CENTRE

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

_FINE_SIGMA = 1.0  # pixels of the glance: the detail a subject has
_SURROUND_SIGMA = 8.0  # what the subject is set against
_PEAK_SIGMA = 2.0  # the smoothing that makes a region, not a pixel, the peak
_SHARPNESS_SIGMA = 2.0
_BORDER = 0.25  # the fraction of each side over which saliency fades to zero at the edge
_CHROMA_WEIGHT = 4  # colour contrast counts more than brightness contrast
_LAPLACIAN = ImageFilter.Kernel((3, 3), [0, -1, 0, -1, 4, -1, 0, -1, 0], 1, 128)


def focal_point(glance: Image.Image) -> tuple[float, float]:
    """The subject's centre, as fractions of the width and height (0..1, from the top left)."""
    import numpy as np  # on the first upload, not with imaging (see knowing)

    rgb = glance.convert("RGB")
    width, height = rgb.size
    if width < 3 or height < 3:
        return CENTRE
    saliency = _saliency(rgb)
    peak = float(saliency.max())
    if peak == 0.0:
        return CENTRE  # a flat picture has no subject
    scaled = (255 * np.sqrt(saliency / peak)).astype(np.uint8)  # truncated, as int() does
    smoothed = Image.frombytes("L", rgb.size, scaled.tobytes())
    values = np.frombuffer(
        smoothed.filter(ImageFilter.GaussianBlur(_PEAK_SIGMA)).tobytes(), np.uint8
    )
    best = int(np.argmax(values))  # the first of equal peaks
    return round((best % width + 0.5) / width, 3), round((best // width + 0.5) / height, 3)


def _saliency(rgb: Image.Image) -> "NDArray[np.float64]":
    """Per pixel, row after row."""
    import numpy as np

    width, height = rgb.size
    opponent = Image.merge("RGB", rgb.convert("YCbCr").split())
    contrast = ImageChops.difference(
        opponent.filter(ImageFilter.GaussianBlur(_FINE_SIGMA)),
        opponent.filter(ImageFilter.GaussianBlur(_SURROUND_SIGMA)),
    )
    luma, blue, red = (_samples(channel) for channel in contrast.split())
    grey = rgb.convert("L")
    sharpness = _samples(
        ImageChops.difference(grey.filter(_LAPLACIAN), Image.new("L", rgb.size, 128)).filter(
            ImageFilter.GaussianBlur(_SHARPNESS_SIGMA)
        )
    )
    strength = (luma * luma + _CHROMA_WEIGHT * (blue * blue + red * red)) * (1 + sharpness)
    fade = np.array([_fade((x + 0.5) / width) for x in range(width)])
    fade_rows = np.array([_fade((y + 0.5) / height) for y in range(height)])
    return (strength.reshape(height, width) * np.minimum.outer(fade_rows, fade)).ravel()


def _samples(channel: Image.Image) -> "NDArray[np.int64]":
    import numpy as np

    return np.frombuffer(channel.tobytes(), np.uint8).astype(np.int64)


def _fade(position: float) -> float:
    return min(1.0, position / _BORDER, (1.0 - position) / _BORDER)
