"""What an upload's picture is like, learnt from the decode its variants are made from.

    glance (the decode box-reduced to GLANCE_SIDE) → placeholder and colours
                                                   → fingerprint → focus

Each is one step over the same glance; nothing is decoded a second time, and the glance
costs well under a millisecond whatever the size of the decode (see glance). The
placeholder's transform and the focus's saliency map are NumPy array arithmetic (the
same numbers as the per-pixel Python they replaced, compared on 316 glances; 2-6 ms
for all four steps where Python's loops took 6-10 ms). NumPy is imported where first
needed (here, or by a decoder), not with imaging: the API's cold start never pays its
70-80 ms.
"""

from PIL import Image

from chalicelib.imaging import fingerprint, focus, placeholder
from chalicelib.imaging.facts import Knowledge

GLANCE_SIDE = 64
# Each glance pixel averages SAMPLES x SAMPLES pixels picked from the decode (nearest
# neighbour): nearly the box average of its whole block, at a cost that does not grow with
# the picture. Averaging every pixel of a 15 MP RGBA decode took 0.4-1 s on this machine.
SAMPLES = 8


def glance(image: Image.Image) -> Image.Image:
    """The picture at most GLANCE_SIDE pixels a side."""
    scale = min(1.0, GLANCE_SIDE / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    sampled = (min(image.width, size[0] * SAMPLES), min(image.height, size[1] * SAMPLES))
    if sampled != image.size:
        image = image.resize(sampled, Image.Resampling.NEAREST)
    return image.resize(size, Image.Resampling.BOX) if size != image.size else image.copy()


def learn(seen: Image.Image) -> Knowledge:
    colours = placeholder.describe(seen)
    return Knowledge(
        placeholder=colours.placeholder,
        average=colours.average,
        dominant=colours.dominant,
        fingerprint=fingerprint.dhash(seen),
        focus=focus.focal_point(seen),
    )
