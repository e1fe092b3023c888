"""How much memory decoding an image and making its outputs will take, from its header
alone, so that an image too large for the function is refused before it is decoded.
Pillow-free arithmetic over a Probe."""

from collections.abc import Sequence

from chalicelib.failures import Code, Rejected
from chalicelib.imaging.facts import Probe
from chalicelib.imaging.geometry import (
    DCT_EIGHTHS,
    MAX_VECTORISED_RATIO,
    TURBOJPEG_EIGHTHS,
    Box,
    Geometry,
    Size,
    dct_size,
    geometry,
    needed_source_size,
    reduced_size,
    scaled_decode_size,
    size_and_box,
)
from chalicelib.specs import VariantSpec

# The full-size copies of the source alive at the peak of decoding and bringing it to the
# working colour, by the mode the header announces, as bytes a pixel of each (Pillow keeps
# every 3- and 4-channel mode in 4): the decoded frame, its conversions, and for
# transparency the premultiplied copy that reducing and resampling make. Measured with
# scripts/limits.py (docs/limits.md).
_COPIES = {
    "1": (1, 1),  # → L
    "L": (1,),
    "P": (1, 4, 4),  # → RGB or RGBA (with transparency) → premultiplied
    "PA": (4, 4, 4),
    "LA": (4, 4, 4),
    "La": (4, 4, 4),
    "I;16": (2, 4, 4),  # 16 bits → 32-bit integers → scaled → 8 bits
    "I;16L": (2, 4, 4),
    "I;16B": (2, 4, 4),
    "I;16N": (2, 4, 4),
    "I": (4, 4, 4),
    "F": (4, 4, 4),
    "RGB": (4,),
    "RGBX": (4,),
    "RGBA": (4, 4),
    "RGBa": (4, 4),
    "CMYK": (4, 4),
    "YCbCr": (4, 4),
    "LAB": (4, 4),
}
_UNKNOWN_MODE_COPIES = (4, 4, 4)
# Besides its pixels, each copy holds a pointer to every row: a tall thin image costs far
# more than its pixel count (1 x 50,000,000 in L is 50 MB of pixels and 400 MB of pointers).
_ROW_POINTER_BYTES = 8
# Decoders keep the row being filtered and the one before it, up to 4 bytes a pixel.
_DECODER_ROWS_BYTES_PER_PIXEL = 8
# The decoder's own buffers, per pixel, for formats that decode outside Pillow's image
# memory (libwebp, libavif and libheif decode whole frames into their own buffers first;
# libwebp's animation decoder, which Pillow uses for every WebP, keeps three canvases).
_DECODER_BYTES_PER_PIXEL = {"webp": 12, "avif": 8, "heif": 4}
# TurboJPEG (jpeg_decoder) decodes into an array of 3 bytes a pixel (1 in grey), alive
# while Pillow's copy is made from it.
_TURBOJPEG_BYTES_PER_PIXEL = {"RGB": 3, "L": 1}
# libspng (png_decoder) decodes into an array of the samples (3, 4 or 1 bytes a pixel), which
# Pillow wraps (RGBA, L) or copies into 4 bytes a pixel (RGB), from its own copy of the file,
# counted as the samples' size (a PNG's deflated rows are smaller than its samples; a file
# that is not, padded with chunks, is bounded by the upload limit, far below any budget).
_SPNG_BYTES_PER_PIXEL = {"RGB": 3 + 3, "RGBA": 0 + 4, "L": 0 + 1}
# libwebp's scaled decode (webp_decoder) holds its own output and a few rows of the source.
_SCALED_WEBP_BYTES_PER_SOURCE_COLUMN = 512
# What a worker process holds before it decodes anything (the interpreter, Pillow, boto3).
_BASELINE_BYTES = 120 * 2**20
# The vectorised resampler keeps a coefficient per tap; its support grows with the ratio.
_COEFFICIENT_BYTES = 8
_LANCZOS_SUPPORT = 3


def estimate_memory(probe: Probe, specs: Sequence[VariantSpec]) -> int:
    """Peak bytes that decoding this image and making `specs` from it will take, from the
    header alone: the pixels decoded (at the JPEG's DCT scale, the WebP's scaled size), their
    conversions, the decoder's buffers, and the resampler's coefficients and intermediate
    image.

    A JPEG that TurboJPEG would decode at 5/8-7/8 may still be decoded whole by Pillow
    (TurboJPEG declines damaged data the header does not show), and a PNG libspng would
    decode may still be decoded by Pillow, so each counts the dearer."""
    source = probe.oriented_size
    geometries = [geometry(source, s.width, s.height, s.fit, s.rotate) for s in specs]
    needed = needed_source_size(geometries, source)
    stored_needed = needed[::-1] if probe.orientation >= 5 else needed
    decodes = [(_decoded_size(probe, stored_needed, DCT_EIGHTHS), 0)]
    if probe.format == "jpeg" and probe.mode in _TURBOJPEG_BYTES_PER_PIXEL:
        scales = DCT_EIGHTHS + TURBOJPEG_EIGHTHS
        turbo = _decoded_size(probe, stored_needed, scales)
        if turbo != decodes[0][0]:
            decodes.append((turbo, _TURBOJPEG_BYTES_PER_PIXEL[probe.mode]))
    if probe.format == "png" and probe.mode in _SPNG_BYTES_PER_PIXEL:
        decodes.append((decodes[0][0], _SPNG_BYTES_PER_PIXEL[probe.mode]))
    peak = max(_peak(probe, geometries, needed, size, extra) for size, extra in decodes)
    return _BASELINE_BYTES + peak


def _peak(
    probe: Probe, geometries: Sequence[Geometry], needed: Size, decoded: Size, extra: int
) -> int:
    """Decoding at `decoded` (with `extra` bytes a pixel of the decoder's own), then
    resampling every output from it."""
    (width, height), pixels = decoded, decoded[0] * decoded[1]
    copies = _COPIES.get(probe.mode, _UNKNOWN_MODE_COPIES)
    frame = pixels * copies[0] + height * _ROW_POINTER_BYTES
    # The decoder's buffers are gone by the time the frame is converted.
    decoder_bytes = _decoder_bytes(probe, pixels) + pixels * extra
    decoding = max(
        frame + decoder_bytes + width * _DECODER_ROWS_BYTES_PER_PIXEL,
        sum(pixels * size + height * _ROW_POINTER_BYTES for size in copies),
    )
    sideways = probe.orientation >= 5
    reduced = reduced_size(decoded, needed[::-1] if sideways else needed)
    reduced = reduced[::-1] if sideways else reduced
    resampling = max(_resampler_bytes(*size_and_box(reduced, g)) for g in geometries)
    return int(decoding + resampling)


def _decoded_size(probe: Probe, stored_needed: Size, scales: Sequence[int]) -> Size:
    stored = (probe.width, probe.height)
    if probe.format == "jpeg":
        return dct_size(stored, stored_needed, scales)[1]
    if _scaled_webp(probe):
        return scaled_decode_size(stored, stored_needed)
    return stored


def _scaled_webp(probe: Probe) -> bool:
    """Whether libwebp's scaled decode will decode this image (webp_decoder), rather than
    Pillow's animation decoder at full size."""
    if probe.format != "webp" or probe.frames != 1:
        return False
    from chalicelib.imaging import webp_decoder  # binds libwebp: only when a WebP is costed

    return webp_decoder.available()


def _decoder_bytes(probe: Probe, pixels: int) -> int:
    """The decoder's own buffers beside the frame it fills."""
    if _scaled_webp(probe):
        # Its output buffer (up to 4 bytes a pixel of the scaled picture, which Pillow's
        # image wraps or copies), and the rows of the source it keeps while it scales:
        # macroblock rows for two threads and the rescaler's accumulators.
        return pixels * 4 + probe.width * _SCALED_WEBP_BYTES_PER_SOURCE_COLUMN
    return pixels * _DECODER_BYTES_PER_PIXEL.get(probe.format, 0)


def _resampler_bytes(target: Size, box: Box) -> int:
    """One output's resampling: a coefficient for each tap of each output row and column
    (at most MAX_VECTORISED_RATIO times the support: beyond it the box is reduced first),
    the horizontal pass's intermediate image, the output and its copies, 4 bytes a pixel."""
    source = (box[2] - box[0], box[3] - box[1])
    pairs = zip(source, target, strict=True)
    ratios = [min(MAX_VECTORISED_RATIO, max(1.0, s / t)) for s, t in pairs]
    taps = [2 * _LANCZOS_SUPPORT * ratio + 1 for ratio in ratios]
    coefficients = sum(t * n for t, n in zip(target, taps, strict=True)) * _COEFFICIENT_BYTES
    rows = min(source[1], target[1] * ratios[1]) + 2 * taps[1]
    return int(coefficients + 4 * (target[0] * rows + 3 * target[0] * target[1]))


def check_memory(probe: Probe, specs: Sequence[VariantSpec], budget: int) -> None:
    """Refuse (too_large_to_process) an image whose `specs` would need more than `budget`."""
    needed = estimate_memory(probe, specs)
    if needed > budget:
        raise Rejected(
            Code.TOO_LARGE_TO_PROCESS,
            f"The image ({probe.width}x{probe.height} pixels, {probe.mode}) would need about "
            f"{_mb(needed)} of memory to process, more than the {_mb(budget)} available.",
        )


def _mb(count: int) -> str:
    return f"{count / 2**20:,.0f} MB"
