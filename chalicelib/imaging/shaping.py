"""Make every output from the working image: side by side on the cores, small ones from much
larger ones, each resampled with Lanczos straight from the box it comes from, then turned."""

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from PIL import Image

from chalicelib.imaging.facts import Encoded
from chalicelib.imaging.geometry import (
    MAX_VECTORISED_RATIO,
    REDUCING_GAP,
    Box,
    Geometry,
    Size,
    ratio,
    size_and_box,
)

try:
    # fast_image_resize's Lanczos3: the same convolution as Pillow's, vectorised (AVX2,
    # SSE4.1, NEON), about six times faster. Its wheels cover x86_64 Linux but not arm64
    # Linux, where Pillow's resampler does the same work.
    import cykooz_resizer
except ImportError:
    cykooz_resizer = None

# Specs count degrees clockwise; Pillow's ROTATE_n turns counter-clockwise.
_CLOCKWISE_TRANSPOSE = {
    90: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


# A small output is made from an earlier output rather than from the decoded source when
# that one is at least this many times as wide and as high: resampling it then costs a
# fraction of resampling the source. Outputs of similar sizes are each made from the source,
# side by side on the cores, which is also closer to one full-size Lanczos than resampling
# twice.
_CHAIN_RATIO = 2.0


# One worker a core, started on the first image that makes several outputs and kept for the
# process (a warm Lambda keeps them too): starting threads for every image delayed the
# second output by up to 3.5 ms. Work runs in the order it is submitted, so a step that
# waits on one submitted before it never waits on one still queued (see shape).
_workers: ThreadPoolExecutor | None = None
_workers_started = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _workers
    with _workers_started:
        if _workers is None:
            _workers = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="shaping")
        return _workers


@dataclass(frozen=True)
class Step:
    """One output to make, and what it is made from."""

    index: int  # of the output, in the caller's order
    base: int | None  # the index of the output it is made from; None for the source


def _area(size: Size) -> int:
    return size[0] * size[1]


def _fits_in(size: tuple[float, float], bounds: Size) -> bool:
    return size[0] <= bounds[0] and size[1] <= bounds[1]


def plan(geometries: Sequence[Geometry], source: Size) -> list[Step]:
    """Largest first, so that an output's base is always planned before it."""
    steps: list[Step] = []
    # Uncropped outputs show the whole picture, so others may start from them (a stretched
    # one too: the resampler scales each axis on its own), unless they were enlarged: an
    # upscale holds no more detail than the source and costs more to resample.
    wholes: list[int] = []
    for index in sorted(
        range(len(geometries)), key=lambda i: _area(geometries[i].scaled), reverse=True
    ):
        wanted = geometries[index].scaled
        at_least = (_CHAIN_RATIO * wanted[0], _CHAIN_RATIO * wanted[1])
        larger = [whole for whole in wholes if _fits_in(at_least, geometries[whole].scaled)]
        base = min(larger, key=lambda whole: _area(geometries[whole].scaled), default=None)
        steps.append(Step(index, base))
        if geometries[index].crop is None and _fits_in(wanted, source):
            wholes.append(index)
    return steps


def premultiplied(image: Image.Image) -> Image.Image:
    """RGBA as premultiplied RGBa (a new image), any other mode as it is. Resizing RGBA
    premultiplies and un-premultiplies the whole input on every call; doing it once for all
    outputs saves two passes over the source per output."""
    return image.convert("RGBa") if image.mode == "RGBA" else image


def premultiply_in_place(image: Image.Image) -> Image.Image:
    """premultiplied() for a decode nobody else holds. Where cykooz.resizer can, the image's
    own pixels are premultiplied by its vectorised multiply (Pillow's pixels exactly: the
    same rounding of colour x alpha / 255, tested on every pair of values) and the same image
    is returned, so no second full-size image is made (59 MB for a 15 MP PNG, and 108 ms of
    Pillow's convert). A read-only image (it wraps memory it may share) is copied first, as
    Pillow would before any write. Elsewhere, a copy, and the caller drops the RGBA."""
    if image.mode == "RGBA" and cykooz_resizer is not None:
        try:
            cykooz_resizer.AlphaMulDiv().multiply_alpha_pil_inplace(image)
            return image
        except (RuntimeError, ValueError):
            pass  # only a faster way to the same pixels: Pillow does what it refuses
    return premultiplied(image)


def shape(
    source: Image.Image,
    geometries: Sequence[Geometry],
    finish: Callable[[int, Image.Image], Encoded],
    placed: Callable[[int], Geometry] | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> list[Encoded]:
    """Make every output, side by side on the cores, and `finish` (encode) each as soon as
    it exists. Returns what `finish` returned, in the order of `geometries`.

    `placed(index)`, where given, is a cropped output's final geometry: the size
    `geometries` planned with, its crop placed where it may not be known yet when shaping
    starts (on a focus `meanwhile` is still learning). It is asked for only when that
    output is made, and never for an uncropped one, which therefore never waits.
    `meanwhile` runs on a worker once the first (largest) output is under way, so that
    output never waits for it; outputs placed by what it finds wait in placed().

    Crops never exist as separate steps: a cover's crop is passed to the resampler as a
    box, so only the pixels that survive are resampled.
    """
    source = premultiplied(source)  # a no-op when the caller did it already
    premultiplied_source = source.mode == "RGBa"
    steps = plan(geometries, source.size)
    side_by_side = len(steps) > 1
    made: dict[int, Future[Image.Image]] = {step.index: Future() for step in steps}
    finishing: set[int] = set()  # the ids of the images handed to finish (all held in made)
    finishing_lock = threading.Lock()

    def first_to_finish(image: Image.Image) -> bool:
        """Whether no other output has taken this very image to finish."""
        with finishing_lock:
            taken = id(image) in finishing
            finishing.add(id(image))
            return not taken

    # meanwhile waits for the first (largest) output to be under way: started at the same
    # moment, its Python took the GIL first and kept that output from starting for as long
    # as it ran (4 ms of 30 after a 20 MP decode). Once that output runs, it holds the GIL
    # until its resampler (or encoder) releases it.
    first_started = threading.Event()

    def make(step: Step) -> Encoded:
        if step is steps[0]:
            first_started.set()
        geometry = geometries[step.index]
        try:
            if placed is not None and geometry.crop is not None:
                geometry = placed(step.index)
            base = source if step.base is None else made[step.base].result()
            image = resample(base, *size_and_box(base.size, geometry))
            if not first_to_finish(image):
                # Nothing to resample, and another output finishes this very image. Pillow's
                # save() writes settings onto the image it encodes, so the second one gets
                # a copy. (The first does not: reading pixels while they are encoded is
                # safe, and copying a 1600 x 1000 decode cost 5 ms.)
                image = base.copy()
        except BaseException as exc:
            made[step.index].set_exception(exc)  # an output waiting on this one fails too
            raise
        made[step.index].set_result(image)
        return finish(step.index, _turn(image, geometry, premultiplied_source))

    if not side_by_side:
        if meanwhile is not None:
            meanwhile()  # first: the one output may be placed by what it finds
        return [make(step) for step in steps]  # one, or none
    # Every step waits only on a step submitted before it, which has started by then.
    pool = _pool()
    results = {steps[0].index: pool.submit(make, steps[0])}
    side: list[Future[object]] = []
    if meanwhile is not None:
        learn = meanwhile

        def after_the_first() -> object:
            first_started.wait()
            return learn()

        side.append(pool.submit(after_the_first))
    results |= {step.index: pool.submit(make, step) for step in steps[1:]}
    everything: list[Future[Any]] = [*results.values(), *side]
    wait(everything)  # on failure too: nothing is still being made on return
    for done in side:
        done.result()
    return [results[index].result() for index in range(len(steps))]


def resample(image: Image.Image, size: Size, box: Box) -> Image.Image:
    """Lanczos throughout: cheaper filters (Hamming, bicubic) drift by 6 to 12 grey levels
    from a full-size Lanczos on fine regular textures, where Lanczos keeps within 5."""
    if size == image.size and box == (0, 0, image.width, image.height):
        return image
    if cykooz_resizer is not None and ratio(size, box) <= MAX_VECTORISED_RATIO:
        return resample_vectorised(image, size, box)
    return _resample_with_pillow(image, size, box)


def resample_vectorised(image: Image.Image, size: Size, box: Box) -> Image.Image:
    """The whole box at full Lanczos support: no box-reduce shortcut is needed.

    The modes shaping works in (RGB, L, premultiplied RGBa) are resampled channel by
    channel as they are, as Pillow does.
    """
    output = Image.new(image.mode, size, None)  # every pixel is written: no fill needed
    options = cykooz_resizer.ResizeOptions(
        resize_alg=cykooz_resizer.ResizeAlg.convolution(cykooz_resizer.FilterType.lanczos3),
        crop_box=cykooz_resizer.CropBox(box[0], box[1], box[2] - box[0], box[3] - box[1]),
    )
    try:
        cykooz_resizer.Resizer().resize_pil(image, output, options)
    except (RuntimeError, ValueError):
        # It is only a faster way to the same pixels: whatever it refuses (it checks boxes
        # and modes more strictly than Pillow), Pillow resamples, rather than a good image
        # being turned away as damaged.
        return _resample_with_pillow(image, size, box)
    return output


def _resample_with_pillow(image: Image.Image, size: Size, box: Box) -> Image.Image:
    """Pillow's Lanczos with its box-reduce first pass for large ratios (nearly Lanczos
    quality at a fraction of the cost of full support)."""
    return image.resize(size, Image.Resampling.LANCZOS, box, REDUCING_GAP)


def _turn(image: Image.Image, geometry: Geometry, premultiplied: bool) -> Image.Image:
    if premultiplied:
        image = image.convert("RGBA")
    method = _CLOCKWISE_TRANSPOSE.get(geometry.rotate)
    return image if method is None else image.transpose(method)
