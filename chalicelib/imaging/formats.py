"""The image formats the service knows: what each is called, served as and saved as.

One table for every layer: imaging opens and encodes by it, blobs serves by it, renders
offers its outputs, settings validates the allow-list against it. Pillow-free.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    name: str  # the service's own name, as sniff() returns it
    pillow_name: str
    media_type: str  # what a stored copy is served as
    extension: str  # what its download name ends with
    label: str  # how a person names it in a message
    # Other extensions a download name may keep for it ("photo.jpeg" stays "photo.jpeg").
    also: tuple[str, ...] = ()


INPUTS = {
    f.name: f
    for f in (
        Format("jpeg", "JPEG", "image/jpeg", "jpg", "JPEG", also=("jpeg",)),
        Format("png", "PNG", "image/png", "png", "PNG"),
        Format("gif", "GIF", "image/gif", "gif", "GIF"),
        Format("webp", "WEBP", "image/webp", "webp", "WebP"),
        Format("tiff", "TIFF", "image/tiff", "tif", "TIFF", also=("tiff",)),
        Format("bmp", "BMP", "image/bmp", "bmp", "BMP"),
        Format("avif", "AVIF", "image/avif", "avif", "AVIF"),
        Format("heif", "HEIF", "image/heif", "heic", "HEIF/HEIC", also=("heif",)),
        Format("ico", "ICO", "image/vnd.microsoft.icon", "ico", "ICO (icon)"),
        Format("dib", "DIB", "image/bmp", "dib", "DIB (clipboard bitmap)"),
    )
}
ALL_INPUTS = frozenset(INPUTS)
# What variants and renders are encoded as: formats every current browser shows.
OUTPUTS = ("jpeg", "png", "webp", "avif")


def named(name: str) -> Format:
    """The format sniff() calls `name` (KeyError for a name it never returns)."""
    return INPUTS[name]
