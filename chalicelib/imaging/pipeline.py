"""The things imaging makes, each the same ordered steps over the probed bytes:

    decode (at the scale the outputs need) → shape (resize, crop, rotate) → encode

and for an upload, between decode and shape, what the picture is like (knowing: glance →
placeholder and colours → fingerprint → focus), so that its cover crops use its focus.

Every step runs inside reading.guarded, so whatever Pillow raises on damaged pixel data
becomes a Rejected with a code.
"""

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from PIL import Image

from chalicelib.imaging import decoding, encoding, formats, knowing, shaping
from chalicelib.imaging.facts import Encoded, Knowledge, Probe
from chalicelib.imaging.geometry import CENTRE, Geometry, Point, geometry, needed_source_size
from chalicelib.imaging.reading import guarded
from chalicelib.specs import RenderSpec, VariantSpec


@dataclass(frozen=True)
class Made:
    """What an upload's processing makes: its variants and what it learnt of the picture."""

    variants: list[Encoded]
    knowledge: Knowledge


def make_upload(data: bytes, probe: Probe, specs: Sequence[VariantSpec]) -> Made:
    """Decode once, learn what the picture is like from that decode, and make every variant
    from it, cover crops centred on the focus it found."""
    variants, knowledge = _make(data, probe, specs, None)
    assert knowledge is not None
    return Made(variants, knowledge)


def make_variants(
    data: bytes, probe: Probe, specs: Sequence[VariantSpec], focus: Point = CENTRE
) -> list[Encoded]:
    """Decode once at the scale the largest variant needs and make every variant from it,
    cover crops centred on `focus`.

    Outputs are in the order of `specs`. Raises Rejected('corrupt') when the pixel
    data turns out to be damaged.
    """
    return _make(data, probe, specs, focus)[0] if specs else []


def _make(
    data: bytes, probe: Probe, specs: Sequence[VariantSpec], focus: Point | None
) -> tuple[list[Encoded], Knowledge | None]:
    """With no `focus`, the picture's own is learnt (and everything else knowing learns),
    alongside the outputs that do not depend on it: only a cover crop waits for the focus."""
    source_size = probe.oriented_size

    def shaped(index: int, at: Point = CENTRE) -> Geometry:
        spec = specs[index]
        return geometry(source_size, spec.width, spec.height, spec.fit, spec.rotate, at)

    with guarded(probe.format):
        planned = [shaped(index) for index in range(len(specs))]
        glanced = (
            min(source_size[0], knowing.GLANCE_SIDE),
            min(source_size[1], knowing.GLANCE_SIDE),
        )
        needed = needed_source_size(planned, source_size) if specs else glanced
        working = decoding.decode(data, probe, needed)
        seen = knowing.glance(working.image) if focus is None else None
        knowledge: Future[Knowledge] = Future()

        def learn() -> None:
            """What the picture is like; its cover crops wait for the focus found here."""
            assert seen is not None
            try:
                knowledge.set_result(knowing.learn(seen))
            except BaseException as exc:
                knowledge.set_exception(exc)  # an output waiting on the focus fails too
                raise

        def placed(index: int) -> Geometry:
            return shaped(index, knowledge.result().focus if focus is None else focus)

        fmt = encoding.variant_format(working.image)
        quality = encoding.VARIANT_QUALITY[fmt]
        icc_profile, source = working.icc_profile, shaping.premultiply_in_place(working.image)
        del working  # premultiplied in place: no RGBA is held beside its premultiplied copy

        def encode(index: int, image: Image.Image) -> Encoded:
            return encoding.encode(
                image, specs[index].name, fmt, quality, icc_profile, encoding.VARIANT_WEBP_METHOD
            )

        meanwhile = learn if seen is not None else None
        variants = shaping.shape(source, planned, encode, placed, meanwhile)
        return variants, knowledge.result() if focus is None else None


def render(data: bytes, probe: Probe, spec: RenderSpec) -> Encoded:
    """Make one on-the-fly render.

    A missing width or height follows the source's aspect ratio. The box applies before
    rotation, so a 90° or 270° render of a 400x300 box comes out 300x400.
    """
    if spec.format not in formats.OUTPUTS:
        raise ValueError(f"cannot render to {spec.format!r}")
    source_size = probe.oriented_size
    shape = geometry(source_size, spec.width, spec.height, spec.fit, spec.rotate, spec.focus)
    with guarded(probe.format):
        working = decoding.decode(data, probe, needed_source_size([shape], source_size))
        icc_profile, source = working.icc_profile, shaping.premultiply_in_place(working.image)
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
