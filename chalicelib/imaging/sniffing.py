"""The real format of some bytes, from their magic numbers only (never names or declared
types), and the names of formats the service does not accept. Pillow-free."""

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
