"""What a page shows before an image arrives: a ThumbHash placeholder and two colours.

Made from the glance (a few dozen pixels a side, already in memory), never from a second
decode. ThumbHash rather than BlurHash: it keeps the aspect ratio and the alpha channel in
about 25 bytes, and the page decodes it with the format's own script (static/thumbhash.js).

The encoder is written here, after the format's published description (Evan Wallace's
ThumbHash): PyPI's pure-Python `thumbhash` 0.1.2 fails on every image with transparency
(and its decoder is wrong), `thumbhash-python` pins Pillow below 11 and pulls in a command
line toolkit, and `thumbhash-rs` has no Linux arm64 wheel. The unit tests check this
encoder byte for byte against `thumbhash` 0.1.2 on opaque photos.
"""

import base64
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

# ThumbHash keeps 7 luminance coefficients a side at most: 32 pixels carry all it encodes.
_HASH_SIDE = 32
_PALETTE = 8  # colours the dominant one is chosen among


@dataclass(frozen=True)
class Colours:
    placeholder: str  # ThumbHash, standard base64
    average: str  # "#rrggbb"
    dominant: str  # "#rrggbb"


def describe(glance: Image.Image) -> Colours:
    """The placeholder and the average and dominant colours of an RGB, RGBA or L image."""
    rgba = glance.convert("RGBA")
    return Colours(_thumbhash(rgba), _hex(_average(rgba)), _hex(_dominant(rgba)))


def _thumbhash(rgba: Image.Image) -> str:
    small = rgba.copy()
    small.thumbnail((_HASH_SIDE, _HASH_SIDE), Image.Resampling.BOX)
    return base64.b64encode(encode_thumbhash(small)).decode("ascii")


def _round(value: float) -> int:
    """Half up, as the format's reference (JavaScript's Math.round) rounds."""
    return math.floor(value + 0.5)


def encode_thumbhash(rgba: Image.Image) -> bytes:
    """The ThumbHash of an RGBA image of at most 100x100 pixels."""
    import numpy as np  # on the first upload, not with imaging (see knowing)

    width, height = rgba.size
    samples = np.frombuffer(rgba.tobytes(), np.uint8).reshape(height, width, 4) / 255
    alpha = samples[..., 3]
    total_alpha = float(alpha.sum())
    if total_alpha > 0:
        average = (samples[..., :3] * alpha[..., None]).sum(axis=(0, 1)) / total_alpha
    else:
        average = np.zeros(3)
    has_alpha = total_alpha < width * height
    limit = 5 if has_alpha else 7
    longest = max(width, height)
    lx = max(1, _round(limit * width / longest))
    ly = max(1, _round(limit * height / longest))
    # Transparent pixels take the average colour, so they do not darken the picture.
    visible = average * (1 - alpha[..., None]) + alpha[..., None] * samples[..., :3]
    r, g, b = visible[..., 0], visible[..., 1], visible[..., 2]
    l_dc, l_ac, l_scale = _encode_channel((r + g + b) / 3, max(lx, 3), max(ly, 3))
    p_dc, p_ac, p_scale = _encode_channel((r + g) / 2 - b, 3, 3)
    q_dc, q_ac, q_scale = _encode_channel(r - g, 3, 3)
    landscape = width > height
    header24 = (
        _round(63 * l_dc)
        | _round(31.5 + 31.5 * p_dc) << 6
        | _round(31.5 + 31.5 * q_dc) << 12
        | _round(31 * l_scale) << 18
        | int(has_alpha) << 23
    )
    header16 = (
        (ly if landscape else lx)
        | _round(63 * p_scale) << 3
        | _round(63 * q_scale) << 9
        | int(landscape) << 15
    )
    hashed = [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    acs = [l_ac, p_ac, q_ac]
    if has_alpha:
        a_dc, a_ac, a_scale = _encode_channel(alpha, 5, 5)
        hashed.append(_round(15 * a_dc) | _round(15 * a_scale) << 4)
        acs.append(a_ac)
    nibbles = [_round(15 * value) for ac in acs for value in ac]
    nibbles += [0] * (len(nibbles) % 2)
    hashed += [low | high << 4 for low, high in zip(nibbles[::2], nibbles[1::2], strict=True)]
    return bytes(hashed)


def _encode_channel(
    channel: "NDArray[np.float64]", nx: int, ny: int
) -> tuple[float, list[float], float]:
    """The channel's (height x width) low-frequency cosine coefficients (a triangle of
    them), the DC first; the AC ones scaled into 0..1 by their largest magnitude, which is
    returned too."""
    import numpy as np

    height, width = channel.shape
    horizontal = np.cos(np.outer(np.pi / width * np.arange(nx), np.arange(width) + 0.5))
    vertical = np.cos(np.outer(np.pi / height * np.arange(ny), np.arange(height) + 0.5))
    # Separable: every row against each horizontal frequency, then each vertical one.
    coefficients = vertical @ (channel @ horizontal.T) / (width * height)  # [cy, cx]
    dc, ac, scale = 0.0, [], 0.0
    for cy in range(ny):
        cx = 0
        while cx * ny < nx * (ny - cy):
            f = float(coefficients[cy, cx])
            if cx or cy:
                ac.append(f)
                scale = max(scale, abs(f))
            else:
                dc = f
            cx += 1
    if scale > 0:
        ac = [0.5 + 0.5 / scale * f for f in ac]
    return dc, ac, scale


def _average(rgba: Image.Image) -> tuple[int, int, int]:
    """The mean colour of the visible pixels (weighted by their opacity)."""
    alpha = rgba.getchannel("A")
    weight = sum(i * n for i, n in enumerate(alpha.histogram()))
    if weight == 0:
        return (0, 0, 0)
    premultiplied = rgba.convert("RGBa")
    sums = [
        sum(i * n for i, n in enumerate(premultiplied.getchannel(c).histogram())) for c in "RGB"
    ]
    return tuple(min(255, round(s * 255 / weight)) for s in sums)  # type: ignore[return-value]


def _dominant(rgba: Image.Image) -> tuple[int, int, int]:
    """The colour of the largest cluster of visible pixels (median cut into a small palette)."""
    quantized = rgba.convert("RGB").quantize(_PALETTE, method=Image.Quantize.MEDIANCUT)
    visible = rgba.getchannel("A").point(lambda a: 255 if a >= 128 else 0)
    counts = quantized.histogram(mask=visible)[:_PALETTE]
    if not any(counts):
        return _average(rgba)
    best = max(range(_PALETTE), key=counts.__getitem__)
    palette = quantized.getpalette() or []
    return tuple(palette[best * 3 : best * 3 + 3])  # type: ignore[return-value]


def _hex(colour: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)
