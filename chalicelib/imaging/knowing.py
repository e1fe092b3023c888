"""What an upload's picture is like, learnt from the decode its variants are made from.

    glance (the decode box-reduced to GLANCE_SIDE) → placeholder and colours
                                                   → fingerprint → focus

Each is one step over the same glance; nothing is decoded a second time, and the glance
costs a box reduce of the decode (a few ms for a 20 MP photo's 3/8-scale decode).
"""

from PIL import Image

from chalicelib.imaging import fingerprint, focus, placeholder
from chalicelib.imaging.facts import Knowledge

GLANCE_SIDE = 64


def glance(image: Image.Image) -> Image.Image:
    """The picture at most GLANCE_SIDE pixels a side: a box reduce by a whole factor (cheap,
    no resampling filter), then a box resize of the few pixels left to the exact size."""
    factor = max(1, max(image.size) // (2 * GLANCE_SIDE))
    small = image.reduce(factor) if factor > 1 else image
    scale = min(1.0, GLANCE_SIDE / max(small.size))
    size = (max(1, round(small.width * scale)), max(1, round(small.height * scale)))
    return small.resize(size, Image.Resampling.BOX) if size != small.size else small.copy()


def learn(seen: Image.Image) -> Knowledge:
    colours = placeholder.describe(seen)
    return Knowledge(
        placeholder=colours.placeholder,
        average=colours.average,
        dominant=colours.dominant,
        fingerprint=fingerprint.dhash(seen),
        focus=focus.focal_point(seen),
    )
