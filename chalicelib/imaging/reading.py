"""Opening untrusted bytes with Pillow, and the guard that turns whatever Pillow raises on
them into a rejection a person understands."""

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image, ImageFile

from chalicelib.failures import Code, Rejected
from chalicelib.imaging import formats

# Pillow's default already refuses truncated data; pinned so no other import can turn a
# half-uploaded file into a half-grey variant.
ImageFile.LOAD_TRUNCATED_IMAGES = False


@contextmanager
def guarded(fmt: str) -> Iterator[None]:
    """Turn every failure of Pillow on untrusted bytes into a rejection a person understands.

    Pillow's plugins raise far more than OSError on hostile input (SyntaxError, ValueError,
    TypeError, struct.error, EOFError, IndexError, MemoryError...), and decoding is lazy, so
    a damaged file can fail anywhere from open to encode. Specs are checked before this
    guard, so whatever fails inside it is the file's doing.
    """
    label = formats.named(fmt).label
    try:
        with warnings.catch_warnings():
            # The caller's max_pixels is the policy; Pillow's softer bomb warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    except Rejected:
        raise
    except Image.DecompressionBombError as exc:
        raise Rejected(
            Code.TOO_MANY_PIXELS, "The image claims more pixels than can be safely decoded."
        ) from exc
    except MemoryError as exc:
        # Not damage: the picture is within the limits but does not fit in this function's
        # memory, and it will not on a retry either.
        raise Rejected(
            Code.TOO_MANY_PIXELS, "The image is too large to process with the memory available."
        ) from exc
    except Exception as exc:
        raise Rejected(
            Code.CORRUPT, f"The file looks like a {label} image but is damaged or truncated."
        ) from exc


def open_image(data: bytes, fmt: str) -> Image.Image:
    """Open lazily (header only), trying only the plugin of the sniffed format."""
    if fmt == "heif":
        _register_heif()
    return Image.open(io.BytesIO(data), formats=[formats.named(fmt).pillow_name])


def _register_heif() -> None:
    # Imported only when a HEIF arrives: the plugin is large and most uploads never need it.
    try:
        import pillow_heif
    except ImportError as exc:
        raise Rejected(
            Code.UNSUPPORTED_FORMAT, "HEIF/HEIC images cannot be read by this installation."
        ) from exc
    pillow_heif.register_heif_opener()
