"""Pure image work: sniff, validate, orient, decode at the right scale, make variants, encode.

Takes bytes and returns bytes and facts. Knows nothing of AWS, storage or settings: the
caller passes the allowed formats, the pixel limit and the specs. Every verdict about the
bytes themselves (not an image, too big, damaged) is an ImageRejected with a stable code.

Both the upload variants and on-the-fly renders run the same ordered steps:
open → decode at scale → working colour → reduce → orient → geometry (resize, crop,
rotate) → encode.
"""

import io
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageFile, features

from chalicelib.specs import Fit, RenderSpec, VariantSpec

try:
    # fast_image_resize's Lanczos3: the same convolution as Pillow's, vectorised (AVX2,
    # SSE4.1, NEON), about six times faster. Its wheels cover x86_64 Linux but not arm64
    # Linux, where Pillow's resampler does the same work.
    import cykooz_resizer
except ImportError:
    cykooz_resizer = None

# Pillow's default already refuses truncated data; pinned so no other import can turn a
# half-uploaded file into a half-grey variant.
ImageFile.LOAD_TRUNCATED_IMAGES = False

REJECTION_CODES = frozenset(
    {
        "empty",
        "not_an_image",
        "unsupported_format",
        "too_many_pixels",
        "too_large_to_process",
        "corrupt",
    }
)

# Larger sources are first shrunk with a cheap box reduce to within this factor of the
# target, then finished with Lanczos: nearly Lanczos quality at a fraction of the cost.
_REDUCING_GAP = 2.0
_JPEG_QUALITY = 85
_WEBP_QUALITY = 85
_WEBP_METHOD = 4  # 6 is the slowest and smallest; 4 is the usual speed/size balance
# libavif's 0 (slowest, smallest) to 10; Pillow's 6 took 6 s of CPU for one 4096x4096 render.
_AVIF_SPEED = 8

_EXIF_ORIENTATION_TAG = 0x0112
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Specs count degrees clockwise; Pillow's ROTATE_n turns counter-clockwise.
_CLOCKWISE_TRANSPOSE = {
    90: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class _Format:
    pillow_name: str
    mime: str
    label: str  # how a person names it in a message


_FORMATS = {
    "jpeg": _Format("JPEG", "image/jpeg", "JPEG"),
    "png": _Format("PNG", "image/png", "PNG"),
    "gif": _Format("GIF", "image/gif", "GIF"),
    "webp": _Format("WEBP", "image/webp", "WebP"),
    "tiff": _Format("TIFF", "image/tiff", "TIFF"),
    "bmp": _Format("BMP", "image/bmp", "BMP"),
    "avif": _Format("AVIF", "image/avif", "AVIF"),
    "heif": _Format("HEIF", "image/heif", "HEIF/HEIC"),
    "ico": _Format("ICO", "image/x-icon", "ICO (icon)"),
    "dib": _Format("DIB", "image/bmp", "DIB (clipboard bitmap)"),
}


@dataclass(frozen=True)
class _Output:
    pillow_name: str
    content_type: str
    extension: str


_OUTPUTS = {
    "jpeg": _Output("JPEG", "image/jpeg", "jpg"),
    "png": _Output("PNG", "image/png", "png"),
    "webp": _Output("WEBP", "image/webp", "webp"),
    "avif": _Output("AVIF", "image/avif", "avif"),
}


class ImageRejected(Exception):
    """A permanent, user-facing verdict: the bytes are not an acceptable image."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Probe:
    """What the header says about an image, learnt without decoding its pixels."""

    format: str
    mime: str
    width: int  # as stored, before EXIF orientation
    height: int
    frames: int
    has_alpha: bool
    orientation: int  # EXIF orientation 1..8
    mode: str = "RGB"  # Pillow's mode of the decoded first frame, from the header

    @property
    def oriented_size(self) -> tuple[int, int]:
        """The size as a person sees it, after EXIF orientation."""
        if self.orientation >= 5:
            return self.height, self.width
        return self.width, self.height


@dataclass(frozen=True)
class Encoded:
    """One encoded output image, ready to store."""

    name: str
    data: bytes
    width: int
    height: int
    format: str
    content_type: str
    extension: str


# --- sniffing ---------------------------------------------------------------------------

_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
# Sizes of the DIB headers Windows and OS/2 bitmaps use; "BM" alone is too weak a signal.
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})


def sniff(data: bytes) -> str | None:
    """Real format from magic bytes only (never names or declared types).

    Returns jpeg, png, gif, webp, tiff, bmp, avif, heif, ico, dib, or None.
    """
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:2] == b"BM" and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return "bmp"
    if _is_icon_directory(data):
        return "ico"
    if _is_bitmap_info(head):
        return "dib"
    return _sniff_iso_media(head)


def _is_icon_directory(data: bytes) -> bool:
    """An ICO starts with reserved 0, type 1 and a count of 16-byte directory entries, each
    with a reserved zero byte; four bytes alone would match far too much."""
    if data[:4] != b"\x00\x00\x01\x00":
        return False
    count = int.from_bytes(data[4:6], "little")
    entries = [data[6 + 16 * i : 22 + 16 * i] for i in range(count)]
    return 0 < count <= 256 and all(len(e) == 16 and e[3] == 0 for e in entries)


def _is_bitmap_info(head: bytes) -> bool:
    """A clipboard bitmap (CF_DIB) is a BMP without its file header: BITMAPINFOHEADER or a
    later version, one plane, a bit depth Windows writes."""
    if len(head) < 16 or int.from_bytes(head[:4], "little") not in (40, 52, 56, 108, 124):
        return False
    planes = int.from_bytes(head[12:14], "little")
    bits = int.from_bytes(head[14:16], "little")
    return planes == 1 and bits in (1, 4, 8, 16, 24, 32)


# Formats people have that the service does not accept, by their magic bytes, so that their
# verdict names them instead of calling them no image at all. (TGA has no magic: only its
# version 2 footer identifies it.)
_OTHER_FORMATS = (
    (0, b"8BPS", "Photoshop (PSD)"),
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (0, b"\xff\x4f\xff\x51", "JPEG 2000"),
    (0, b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
    (0, b"\xff\x0a", "JPEG XL"),
    (0, b"DDS ", "DirectDraw Surface (DDS)"),
    (0, b"qoif", "QOI"),
    (0, b"icns", "Apple icon (ICNS)"),
    (0, b"\x01\xda", "SGI"),
    (0, b"\x59\xa6\x6a\x95", "Sun raster"),
    (0, b"gimp xcf", "GIMP (XCF)"),
    (0, b"FUJIFILMCCD-RAW", "Fujifilm raw"),
    (0, b"\x76\x2f\x31\x01", "OpenEXR"),
    (0, b"#?RADIANCE", "Radiance HDR"),
    (0, b"SIMPLE  =", "FITS"),
    (0, b"/* XPM */", "XPM"),
    (0, b"%!PS-Adobe", "PostScript (EPS)"),
    (0, b"\xc5\xd0\xd3\xc6", "PostScript (EPS)"),
)
_NETPBM = {b"P1", b"P2", b"P3", b"P4", b"P5", b"P6", b"P7", b"Pf", b"PF"}
_TGA_FOOTER = b"TRUEVISION-XFILE.\x00"
_PCX_CODING = {b"\x01\x01", b"\x01\x02", b"\x01\x04", b"\x01\x08"}  # RLE, bits a pixel


def known_elsewhere(data: bytes) -> str | None:
    """The name of an image format the service does not accept, from its magic bytes."""
    for offset, magic, label in _OTHER_FORMATS:
        if data[offset : offset + len(magic)] == magic:
            return label
    if data[:2] in _NETPBM and data[2:3] in (b" ", b"\t", b"\n", b"\r"):
        return "Netpbm (PBM, PGM, PPM, PAM)"
    if data.endswith(_TGA_FOOTER):
        return "TGA"
    if data.lstrip()[:1] == b"<" and b"<svg" in data[:4096]:
        return "SVG"
    if data[:1] == b"\x0a" and data[1:2] in b"\x00\x02\x03\x04\x05" and data[2:4] in _PCX_CODING:
        return "PCX"
    return None


def _sniff_iso_media(head: bytes) -> str | None:
    """AVIF and HEIF share the ISO media 'ftyp' box; its brands tell them apart."""
    if head[4:8] != b"ftyp":
        return None
    box_size = int.from_bytes(head[:4], "big")
    end = min(max(box_size, 16), len(head))
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, end - 3, 4)}
    # AVIF files usually carry the generic HEIF brand mif1 too, so AVIF is checked first.
    if brands & _AVIF_BRANDS:
        return "avif"
    if brands & _HEIF_BRANDS:
        return "heif"
    return None


# --- probing ----------------------------------------------------------------------------


def probe(
    data: bytes,
    *,
    allowed_formats: frozenset[str],
    max_pixels: int,
    memory_budget: int | None = None,
    specs: Sequence[VariantSpec] = (),
) -> Probe:
    """Validate from the header without decoding pixel data. With a `memory_budget` (bytes),
    also refuse an image whose variants (`specs`) would need more memory than that to make
    (see estimate_memory).

    Never raises anything but ImageRejected: empty, not_an_image, unsupported_format,
    too_many_pixels, too_large_to_process or corrupt.
    """
    fmt = _allowed_format(data, allowed_formats)
    with _reading(fmt):
        image = _open(data, fmt)
        width, height = image.size
        _check_pixels(width, height, max_pixels)
        if fmt == "ico":
            _check_icon_frames(data, image, max_pixels)
        probed = Probe(
            format=fmt,
            mime=_FORMATS[fmt].mime,
            width=width,
            height=height,
            frames=max(1, getattr(image, "n_frames", 1)),
            has_alpha=image.has_transparency_data,
            orientation=_orientation(image),
            mode=image.mode,
        )
    if memory_budget is not None and specs:
        _check_memory(probed, specs, memory_budget)
    return probed


def _allowed_format(data: bytes, allowed_formats: frozenset[str]) -> str:
    if not data:
        raise ImageRejected("empty", "The file is empty.")
    fmt = sniff(data)
    label = _FORMATS[fmt].label if fmt else known_elsewhere(data)
    if label is None:
        raise ImageRejected("not_an_image", "The file is not an image in any format we know.")
    if fmt not in allowed_formats:
        allowed = ", ".join(_FORMATS[f].label for f in sorted(allowed_formats) if f in _FORMATS)
        raise ImageRejected(
            "unsupported_format", f"{label} images are not accepted here (accepted: {allowed})."
        )
    return fmt


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageRejected("corrupt", "The image header gives it no width or height.")
    if width * height > max_pixels:
        raise ImageRejected(
            "too_many_pixels",
            f"The image is {width}x{height} pixels, more than the {max_pixels:,} allowed.",
        )


def _check_icon_frames(data: bytes, image: Image.Image, max_pixels: int) -> None:
    """Each icon in an ICO carries its own PNG or bitmap header, and Pillow decodes the size
    that header claims, not the directory's: a 1 kB icon could otherwise claim gigapixels."""
    for entry in image.ico.entry:
        embedded = data[entry.offset : entry.offset + 32]
        if embedded.startswith(b"\x89PNG\r\n\x1a\n"):
            size = (int.from_bytes(embedded[16:20], "big"), int.from_bytes(embedded[20:24], "big"))
        else:  # a bitmap whose height counts its AND mask too
            size = (
                int.from_bytes(embedded[4:8], "little", signed=True),
                abs(int.from_bytes(embedded[8:12], "little", signed=True)) // 2,
            )
        if size != (entry.width, entry.height):
            raise ImageRejected(
                "corrupt", "The icon file's pictures are not the sizes its directory says."
            )
        _check_pixels(*size, max_pixels)


def _orientation(image: Image.Image) -> int:
    # The base getexif reads only what the header gave; PNG's own override decodes the
    # whole image to look for an eXIf chunk after the pixels, which a probe must not do.
    # A damaged EXIF block is common in real photos and says nothing about the pixels,
    # so it means "no orientation" rather than a rejection.
    try:
        value = Image.Image.getexif(image).get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


@contextmanager
def _reading(fmt: str) -> Iterator[None]:
    """Turn every failure of Pillow on untrusted bytes into a rejection a person understands.

    Pillow's plugins raise far more than OSError on hostile input (SyntaxError, ValueError,
    TypeError, struct.error, EOFError, IndexError, MemoryError...), and decoding is lazy, so
    a damaged file can fail anywhere from open to encode. Specs are checked before this
    guard, so whatever fails inside it is the file's doing.
    """
    label = _FORMATS[fmt].label
    try:
        with warnings.catch_warnings():
            # The caller's max_pixels is the policy; Pillow's softer bomb warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRejected(
            "too_many_pixels", "The image claims more pixels than can be safely decoded."
        ) from exc
    except MemoryError as exc:
        # Not damage: the picture is within the limits but does not fit in this function's
        # memory, and it will not on a retry either.
        raise ImageRejected(
            "too_many_pixels", "The image is too large to process with the memory available."
        ) from exc
    except Exception as exc:
        raise ImageRejected(
            "corrupt", f"The file looks like a {label} image but is damaged or truncated."
        ) from exc


def _open(data: bytes, fmt: str) -> Image.Image:
    """Open lazily (header only), trying only the plugin of the sniffed format."""
    if fmt == "heif":
        _register_heif()
    return Image.open(io.BytesIO(data), formats=[_FORMATS[fmt].pillow_name])


def _register_heif() -> None:
    # Imported only when a HEIF arrives: the plugin is large and most uploads never need it.
    try:
        import pillow_heif
    except ImportError as exc:
        raise ImageRejected(
            "unsupported_format", "HEIF/HEIC images cannot be read by this installation."
        ) from exc
    pillow_heif.register_heif_opener()


# --- cost -------------------------------------------------------------------------------

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
# What a worker process holds before it decodes anything (the interpreter, Pillow, boto3).
_BASELINE_BYTES = 120 * 2**20
# The vectorised resampler keeps a coefficient per tap; its support grows with the ratio.
_COEFFICIENT_BYTES = 8
_LANCZOS_SUPPORT = 3


def estimate_memory(probe: Probe, specs: Sequence[VariantSpec]) -> int:
    """Peak bytes that decoding this image and making `specs` from it will take, from the
    header alone: the pixels decoded (at the JPEG draft scale), their conversions, the
    decoder's buffers, and the resampler's coefficients and intermediate image."""
    source = probe.oriented_size
    geometries = [_geometry(source, s.width, s.height, s.fit, s.rotate) for s in specs]
    needed = _needed_source_size(geometries, source)
    decoded = _decoded_size(probe, needed)
    (width, height), pixels = decoded, decoded[0] * decoded[1]
    copies = _COPIES.get(probe.mode, _UNKNOWN_MODE_COPIES)
    frame = pixels * copies[0] + height * _ROW_POINTER_BYTES
    # The decoder's buffers are gone by the time the frame is converted.
    decoding = max(
        frame
        + pixels * _DECODER_BYTES_PER_PIXEL.get(probe.format, 0)
        + width * _DECODER_ROWS_BYTES_PER_PIXEL,
        sum(pixels * size + height * _ROW_POINTER_BYTES for size in copies),
    )
    sideways = probe.orientation >= 5
    reduced = _reduced_size(decoded, needed[::-1] if sideways else needed)
    reduced = reduced[::-1] if sideways else reduced
    resampling = max(_resampler_bytes(*_size_and_box(reduced, g)) for g in geometries)
    return _BASELINE_BYTES + int(decoding + resampling)


def _decoded_size(probe: Probe, needed: tuple[int, int]) -> tuple[int, int]:
    if probe.format != "jpeg":
        return probe.width, probe.height
    stored_needed = needed[::-1] if probe.orientation >= 5 else needed
    for eighths in _DCT_EIGHTHS:
        scaled = (-(-probe.width * eighths // 8), -(-probe.height * eighths // 8))
        if scaled[0] >= stored_needed[0] and scaled[1] >= stored_needed[1]:
            return scaled
    return probe.width, probe.height


def _resampler_bytes(target: tuple[int, int], box: tuple[float, float, float, float]) -> int:
    """One output's resampling: a coefficient for each tap of each output row and column
    (at most _MAX_VECTORISED_RATIO times the support: beyond it the box is reduced first),
    the horizontal pass's intermediate image, the output and its copies, 4 bytes a pixel."""
    source = (box[2] - box[0], box[3] - box[1])
    pairs = zip(source, target, strict=True)
    ratios = [min(_MAX_VECTORISED_RATIO, max(1.0, s / t)) for s, t in pairs]
    taps = [2 * _LANCZOS_SUPPORT * ratio + 1 for ratio in ratios]
    coefficients = sum(t * n for t, n in zip(target, taps, strict=True)) * _COEFFICIENT_BYTES
    rows = min(source[1], target[1] * ratios[1]) + 2 * taps[1]
    return int(coefficients + 4 * (target[0] * rows + 3 * target[0] * target[1]))


def _check_memory(probe: Probe, specs: Sequence[VariantSpec], budget: int) -> None:
    needed = estimate_memory(probe, specs)
    if needed > budget:
        raise ImageRejected(
            "too_large_to_process",
            f"The image ({probe.width}x{probe.height} pixels, {probe.mode}) would need about "
            f"{_mb(needed)} of memory to process, more than the {_mb(budget)} available.",
        )


def _mb(count: int) -> str:
    return f"{count / 2**20:,.0f} MB"


# --- geometry ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Geometry:
    """How to turn the oriented source into one output, in source-independent terms."""

    scaled: tuple[int, int]  # resize the oriented source to this
    crop: tuple[int, int, int, int] | None  # then cut this box out of it
    rotate: int  # then turn this many degrees clockwise


def _geometry(
    source: tuple[int, int], width: int | None, height: int | None, fit: Fit, rotate: int
) -> _Geometry:
    if rotate not in (0, 90, 180, 270):
        raise ValueError(f"rotate must be 0, 90, 180 or 270, not {rotate}")
    box_w, box_h = _complete_box(source, width, height)
    src_w, src_h = source
    if fit is Fit.FILL:
        return _Geometry((box_w, box_h), None, rotate)
    if fit is Fit.CONTAIN:
        # Never upscale: a small source stays its own size.
        scale = min(box_w / src_w, box_h / src_h, 1.0)
        scaled = (
            max(1, min(box_w, round(src_w * scale))),
            max(1, min(box_h, round(src_h * scale))),
        )
        return _Geometry(scaled, None, rotate)
    # Cover upscales a small source: the box is a promise of an exact size.
    scale = max(box_w / src_w, box_h / src_h)
    scaled = (max(box_w, round(src_w * scale)), max(box_h, round(src_h * scale)))
    left, top = (scaled[0] - box_w) // 2, (scaled[1] - box_h) // 2
    return _Geometry(scaled, (left, top, left + box_w, top + box_h), rotate)


def _complete_box(
    source: tuple[int, int], width: int | None, height: int | None
) -> tuple[int, int]:
    """A missing side follows the source's aspect ratio; no sides at all means the source."""
    src_w, src_h = source
    if width is None and height is None:
        return source
    if width is None:
        return max(1, round(src_w * height / src_h)), height
    if height is None:
        return width, max(1, round(src_h * width / src_w))
    return width, height


def _needed_source_size(
    geometries: Sequence[_Geometry], source: tuple[int, int]
) -> tuple[int, int]:
    """The smallest oriented size the decode must reach to serve every output without loss."""
    return (
        min(source[0], max(g.scaled[0] for g in geometries)),
        min(source[1], max(g.scaled[1] for g in geometries)),
    )


# --- decoding ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Working:
    image: Image.Image  # RGB, RGBA or L; oriented; no metadata
    icc_profile: bytes | None  # to embed in outputs, already matching image's colour space


def _decode(data: bytes, probe: Probe, needed: tuple[int, int]) -> _Working:
    """Open once, decode the first frame at the smallest scale that still covers `needed`."""
    image = _open(data, probe.format)
    stored_needed = needed[::-1] if probe.orientation >= 5 else needed
    if probe.format == "jpeg":
        _draft(image, stored_needed)
    image.load()
    image, icc_profile = _to_working_colour(image)
    image = _reduce(image, stored_needed)
    image = _drop_opaque_alpha(image)
    image = _orient(image, probe.orientation)
    image.info.clear()  # EXIF, XMP, GPS and comments must never reach a variant
    return _Working(image, icc_profile)


# libjpeg-turbo decodes at k/8 of full size by shrinking its IDCT, which costs less than
# decoding whole and resizing. Asked for 1/n it picks k = ceil(8/n), so 1/8, 2/8, 3/8 and
# 4/8 can be had; Pillow's draft() asks for the powers of two only.
_DCT_EIGHTHS = (1, 2, 3, 4)
_THREE_EIGHTHS = features.check_feature("libjpeg_turbo") is True


def _draft(image: Image.Image, needed: tuple[int, int]) -> None:
    """Make a JPEG decode at the smallest DCT scale whose result still covers `needed`.

    3/8 sits between Pillow's 1/4 and 1/2 and is what a 20-24 MP photo needs for a 1600 px
    preview: about 45 % fewer pixels than 1/2 to decode and to resize. Pillow has no public
    way to ask for it, so the decoder's scale and the image's size are set here as draft()
    sets them, with the size computed as libjpeg-turbo computes its output size.
    """
    width, height = image.size
    for eighths in _DCT_EIGHTHS:
        scaled = (-(-width * eighths // 8), -(-height * eighths // 8))
        if scaled[0] >= needed[0] and scaled[1] >= needed[1]:
            break
    else:
        return  # only the full size covers it
    if eighths != 3 or not _THREE_EIGHTHS or len(image.tile) != 1 or image.decoderconfig:
        image.draft(None, needed)
        return
    tile = image.tile[0]
    image.tile = [ImageFile._Tile(tile.codec_name, (0, 0, *scaled), tile.offset, tile.args)]
    image._size = scaled
    image.decoderconfig = (3, 0)  # 1/3 asks libjpeg-turbo for 3/8


def _to_working_colour(image: Image.Image) -> tuple[Image.Image, bytes | None]:
    """Bring any mode to RGB, RGBA or L, keeping the colours and an ICC profile that fits."""
    icc_profile = image.info.get("icc_profile") or None
    if image.mode == "CMYK":
        # A CMYK profile cannot ride along with RGB pixels, so it is applied here instead.
        return _cmyk_to_srgb(image, icc_profile), None
    image = _to_rgb_rgba_or_l(image)
    return image, icc_profile if _profile_fits(icc_profile, image.mode) else None


def _profile_fits(icc_profile: bytes | None, mode: str) -> bool:
    """Whether an ICC profile describes pixels of this mode (its header names the space)."""
    if icc_profile is None:
        return False
    return icc_profile[16:20] == (b"GRAY" if mode == "L" else b"RGB ")


def _to_rgb_rgba_or_l(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit samples: scale to 8 bits; a plain convert would clip nearly all to white.
        image = image.convert("I").point(lambda v: v / 256).convert("L")
    elif image.mode in ("1", "F"):
        image = image.convert("L")
    if image.has_transparency_data:
        return image if image.mode == "RGBA" else image.convert("RGBA")
    if image.mode in ("RGB", "L"):
        return image
    return image.convert("RGB")


def _cmyk_to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    if icc_profile is None or icc_profile[16:20] != b"CMYK":
        return image.convert("RGB")
    # Without littlecms or with a broken profile, the naive conversion still beats failing.
    try:
        from PIL import ImageCms
    except ImportError:
        return image.convert("RGB")
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        converted = ImageCms.profileToProfile(
            image, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
        )
    except (OSError, ValueError, ImageCms.PyCMSError):
        return image.convert("RGB")
    return converted if converted is not None else image.convert("RGB")


def _reduce(image: Image.Image, needed: tuple[int, int]) -> Image.Image:
    """Box-shrink big non-JPEG decodes early so orienting and resizing touch fewer pixels.

    Each axis by its own factor: a long thin image (1 x 20,000,000) needs a 12,500:1
    reduction along one axis and none along the other, and left to the resampler that ratio
    costs gigabytes of full-support coefficients; box-reduced first, it costs nothing.
    """
    factors = _reduce_factors(image.size, needed)
    return image if factors == (1, 1) else image.reduce(factors)


def _reduce_factors(size: tuple[int, int], needed: tuple[int, int]) -> tuple[int, int]:
    return (
        max(1, int(size[0] / (needed[0] * _REDUCING_GAP))),
        max(1, int(size[1] / (needed[1] * _REDUCING_GAP))),
    )


def _reduced_size(size: tuple[int, int], needed: tuple[int, int]) -> tuple[int, int]:
    factors = _reduce_factors(size, needed)
    return -(-size[0] // factors[0]), -(-size[1] // factors[1])


def _drop_opaque_alpha(image: Image.Image) -> Image.Image:
    """An alpha channel that is everywhere opaque is not transparency; JPEG can carry it."""
    if image.mode == "RGBA" and image.getchannel("A").getextrema()[0] == 255:
        return image.convert("RGB")
    return image


def _orient(image: Image.Image, orientation: int) -> Image.Image:
    method = _ORIENTATION_TRANSPOSE.get(orientation)
    return image if method is None else image.transpose(method)


# --- shaping: outputs side by side, small ones from much larger ones --------------------

# A small output is made from an earlier output rather than from the decoded source when
# that one is at least this many times as wide and as high: resampling it then costs a
# fraction of resampling the source. Outputs of similar sizes are each made from the source,
# side by side on the cores, which is also closer to one full-size Lanczos than resampling
# twice.
_CHAIN_RATIO = 2.0


@dataclass(frozen=True)
class _Step:
    index: int  # of the output, in the caller's order
    base: int | None  # the index of the output it is made from; None for the source


def _area(size: tuple[int, int]) -> int:
    return size[0] * size[1]


def _fits_in(size: tuple[float, float], bounds: tuple[int, int]) -> bool:
    return size[0] <= bounds[0] and size[1] <= bounds[1]


def _plan(geometries: Sequence[_Geometry], source: tuple[int, int]) -> list[_Step]:
    """Largest first, so that an output's base is always planned before it."""
    steps: list[_Step] = []
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
        steps.append(_Step(index, base))
        if geometries[index].crop is None and _fits_in(wanted, source):
            wholes.append(index)
    return steps


def _shape(
    source: Image.Image,
    geometries: Sequence[_Geometry],
    finish: Callable[[int, Image.Image], Encoded],
) -> list[Encoded]:
    """Make every output, side by side on the cores, and `finish` (encode) each as soon as
    it exists. Returns what `finish` returned, in the order of `geometries`.

    Crops never exist as separate steps: a cover's crop is passed to the resampler as a
    box, so only the pixels that survive are resampled.
    """
    # Resizing RGBA premultiplies and un-premultiplies the whole input on every call;
    # doing it once for all outputs saves two passes over the source per output.
    premultiplied = source.mode == "RGBA"
    if premultiplied:
        source = source.convert("RGBa")
    plan = _plan(geometries, source.size)
    side_by_side = len(plan) > 1
    made: dict[int, Future[Image.Image]] = {step.index: Future() for step in plan}

    def make(step: _Step) -> Encoded:
        geometry = geometries[step.index]
        try:
            base = source if step.base is None else made[step.base].result()
            image = _resample(base, *_size_and_box(base.size, geometry))
            if image is base and side_by_side:
                # Nothing to resample. Pillow's save() writes settings onto the image it
                # encodes, so an image another output may be encoding at the same moment is
                # copied first.
                image = base.copy()
        except BaseException as exc:
            made[step.index].set_exception(exc)  # an output waiting on this one fails too
            raise
        made[step.index].set_result(image)
        return finish(step.index, _turn(image, geometry, premultiplied))

    if not side_by_side:
        return [make(plan[0])]
    # Every step waits only on a step submitted before it, which has started by then.
    with ThreadPoolExecutor(min(len(plan), os.cpu_count() or 1)) as pool:
        results = {step.index: pool.submit(make, step) for step in plan}
        return [results[index].result() for index in range(len(plan))]


def _size_and_box(
    base: tuple[int, int], geometry: _Geometry
) -> tuple[tuple[int, int], tuple[float, float, float, float]]:
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


def _resample(
    image: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float]
) -> Image.Image:
    """Lanczos throughout: cheaper filters (Hamming, bicubic) drift by 6 to 12 grey levels
    from a full-size Lanczos on fine regular textures, where Lanczos keeps within 5."""
    if size == image.size and box == (0, 0, image.width, image.height):
        return image
    if cykooz_resizer is not None and _ratio(size, box) <= _MAX_VECTORISED_RATIO:
        return _resample_vectorised(image, size, box)
    return _resample_with_pillow(image, size, box)


# Full Lanczos support costs a coefficient per source pixel a tap spans, so the vectorised
# resampler's memory grows with the reduction: 1 x 20,000,000 down to 1 x 1600 (12,500:1)
# needs 2.4 GB of them. Beyond this ratio Pillow's resampler, which box-reduces first, does
# the work in the memory of the source (there, the box-reduce's blur is below a pixel).
_MAX_VECTORISED_RATIO = 32.0


def _ratio(size: tuple[int, int], box: tuple[float, float, float, float]) -> float:
    """The largest reduction, over both axes, from `box` to `size`."""
    return max((box[2] - box[0]) / size[0], (box[3] - box[1]) / size[1])


def _resample_vectorised(
    image: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float]
) -> Image.Image:
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


def _resample_with_pillow(
    image: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float]
) -> Image.Image:
    """Pillow's Lanczos with its box-reduce first pass for large ratios (nearly Lanczos
    quality at a fraction of the cost of full support)."""
    return image.resize(size, Image.Resampling.LANCZOS, box, _REDUCING_GAP)


def _turn(image: Image.Image, geometry: _Geometry, premultiplied: bool) -> Image.Image:
    if premultiplied:
        image = image.convert("RGBA")
    method = _CLOCKWISE_TRANSPOSE.get(geometry.rotate)
    return image if method is None else image.transpose(method)


# --- encoding ---------------------------------------------------------------------------


def _encode(
    image: Image.Image, name: str, fmt: str, quality: int, icc_profile: bytes | None
) -> Encoded:
    output = _OUTPUTS[fmt]
    options: dict[str, object] = {}
    if fmt == "jpeg":
        image = _flatten_on_white(image)
        options = {"quality": quality, "optimize": False, "progressive": False}
    elif fmt == "webp":
        options = {"quality": quality, "method": _WEBP_METHOD}
    elif fmt == "avif":
        options = {"quality": quality, "speed": _AVIF_SPEED}
    if fmt in ("webp", "avif") and image.mode == "L":
        # These encoders store colour only; converting here keeps the profile check honest.
        image = image.convert("RGB")
    if _profile_fits(icc_profile, image.mode):
        options["icc_profile"] = icc_profile
    with _encoding_file() as file:
        image.save(file, output.pillow_name, **options)
        file.seek(0)
        data = file.read()
    return Encoded(
        name=name,
        data=data,
        width=image.width,
        height=image.height,
        format=fmt,
        content_type=output.content_type,
        extension=output.extension,
    )


def _encoding_file() -> BinaryIO:
    """Where an output is encoded: a file with a descriptor, because Pillow's JPEG encoder
    releases the GIL while it writes into one (into a BytesIO it holds it throughout), so
    JPEG outputs made side by side are also encoded side by side. (PNG goes through a
    wrapper without a descriptor, WebP and AVIF encode in memory: no gain, no harm.) A
    memfd keeps the file in memory."""
    try:
        return open(os.memfd_create("encoded"), "w+b")
    except (AttributeError, OSError):  # not Linux, or memfd refused
        return tempfile.TemporaryFile()


def _flatten_on_white(image: Image.Image) -> Image.Image:
    if image.mode != "RGBA":
        return image
    background = Image.new("RGB", image.size, "white")
    background.paste(image, mask=image.getchannel("A"))
    return background


def _variant_format(image: Image.Image) -> str:
    # Opaque variants are JPEG: fastest to encode and decodable everywhere. Transparent ones
    # are WebP rather than PNG: lossy WebP keeps the alpha channel at a fraction of PNG's
    # size for photographic content, encodes faster than PNG at these sizes, and every
    # current browser displays it.
    return "webp" if image.mode == "RGBA" else "jpeg"


_VARIANT_QUALITY = {"jpeg": _JPEG_QUALITY, "webp": _WEBP_QUALITY}


# --- public steps -----------------------------------------------------------------------


def make_variants(data: bytes, probe: Probe, specs: Sequence[VariantSpec]) -> list[Encoded]:
    """Decode once at the scale the largest variant needs and make every variant from it.

    Outputs are in the order of `specs`. Raises ImageRejected('corrupt') when the pixel
    data turns out to be damaged.
    """
    if not specs:
        return []
    source_size = probe.oriented_size
    geometries = [
        _geometry(source_size, spec.width, spec.height, spec.fit, spec.rotate) for spec in specs
    ]
    with _reading(probe.format):
        working = _decode(data, probe, _needed_source_size(geometries, source_size))
        fmt = _variant_format(working.image)
        quality = _VARIANT_QUALITY[fmt]

        def encode(index: int, image: Image.Image) -> Encoded:
            return _encode(image, specs[index].name, fmt, quality, working.icc_profile)

        return _shape(working.image, geometries, encode)


def render(data: bytes, probe: Probe, spec: RenderSpec) -> Encoded:
    """Make one on-the-fly render.

    A missing width or height follows the source's aspect ratio. The box applies before
    rotation, so a 90° or 270° render of a 400x300 box comes out 300x400.
    """
    if spec.format not in _OUTPUTS:
        raise ValueError(f"cannot render to {spec.format!r}")
    source_size = probe.oriented_size
    geometry = _geometry(source_size, spec.width, spec.height, spec.fit, spec.rotate)
    with _reading(probe.format):
        working = _decode(data, probe, _needed_source_size([geometry], source_size))

        def encode(_: int, image: Image.Image) -> Encoded:
            return _encode(image, "render", spec.format, spec.quality, working.icc_profile)

        (rendered,) = _shape(working.image, [geometry], encode)
        return rendered


_PNG_QUALITY = 100  # PNG takes no quality; _encode wants one


def without_metadata(data: bytes, probe: Probe) -> Encoded:
    """The first frame's pixels, oriented, as a PNG with nothing but its colour profile: the
    shared original of a format whose metadata cannot be removed without re-encoding."""
    with _reading(probe.format):
        working = _decode(data, probe, probe.oriented_size)
        return _encode(working.image, "original", "png", _PNG_QUALITY, working.icc_profile)
