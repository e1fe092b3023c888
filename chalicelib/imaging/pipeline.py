"""The three things imaging makes, each the same ordered steps over the probed bytes:

    decode (at the scale the outputs need) → shape (resize, crop, rotate) → encode

Every step runs inside reading.guarded, so whatever Pillow raises on damaged pixel data
becomes a Rejected with a code.
"""

from collections.abc import Sequence

from PIL import Image

from chalicelib.imaging import decoding, encoding, formats, shaping
from chalicelib.imaging.facts import Encoded, Probe
from chalicelib.imaging.geometry import geometry, needed_source_size
from chalicelib.imaging.reading import guarded
from chalicelib.specs import RenderSpec, VariantSpec


def make_variants(data: bytes, probe: Probe, specs: Sequence[VariantSpec]) -> list[Encoded]:
    """Decode once at the scale the largest variant needs and make every variant from it.

    Outputs are in the order of `specs`. Raises Rejected('corrupt') when the pixel
    data turns out to be damaged.
    """
    if not specs:
        return []
    source_size = probe.oriented_size
    geometries = [
        geometry(source_size, spec.width, spec.height, spec.fit, spec.rotate) for spec in specs
    ]
    with guarded(probe.format):
        working = decoding.decode(data, probe, needed_source_size(geometries, source_size))
        fmt = encoding.variant_format(working.image)
        quality = encoding.VARIANT_QUALITY[fmt]
        icc_profile, source = working.icc_profile, shaping.premultiplied(working.image)
        del working  # a decoded RGBA is freed here, not held beside its premultiplied copy

        def encode(index: int, image: Image.Image) -> Encoded:
            return encoding.encode(
                image, specs[index].name, fmt, quality, icc_profile, encoding.VARIANT_WEBP_METHOD
            )

        return shaping.shape(source, geometries, encode)


def render(data: bytes, probe: Probe, spec: RenderSpec) -> Encoded:
    """Make one on-the-fly render.

    A missing width or height follows the source's aspect ratio. The box applies before
    rotation, so a 90° or 270° render of a 400x300 box comes out 300x400.
    """
    if spec.format not in formats.OUTPUTS:
        raise ValueError(f"cannot render to {spec.format!r}")
    source_size = probe.oriented_size
    shape = geometry(source_size, spec.width, spec.height, spec.fit, spec.rotate)
    with guarded(probe.format):
        working = decoding.decode(data, probe, needed_source_size([shape], source_size))
        icc_profile, source = working.icc_profile, shaping.premultiplied(working.image)
        del working  # as for variants

        def encode(_: int, image: Image.Image) -> Encoded:
            return encoding.encode(image, "render", spec.format, spec.quality, icc_profile)

        (rendered,) = shaping.shape(source, [shape], encode)
        return rendered


def without_metadata(data: bytes, probe: Probe) -> Encoded:
    """The first frame's pixels, oriented, as a PNG with nothing but its colour profile: the
    shared original of a format whose metadata cannot be removed without re-encoding."""
    with guarded(probe.format):
        working = decoding.decode(data, probe, probe.oriented_size)
        return encoding.encode(
            working.image, "original", "png", encoding.PNG_QUALITY, working.icc_profile
        )
