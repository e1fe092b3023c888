"""WebP through libwebp's own scaled decoding, for decoding.decode.

Pillow decodes every WebP through libwebp's animation decoder, at full size, into canvases
of its own and then into the image: a 16 MP photo costs about 1.1 s of CPU and 270 MB of
memory. libwebp's plain WebPDecode, asked to scale (`use_scaling`), runs its rescaler on
each row as it is decoded, so the memory follows the picture it emits, not the source,
and the colour conversion runs on the smaller picture: the same photo scaled for the
1600 px variants takes about a quarter less CPU and a tenth of the memory
(docs/benchmarks.md).

The scaled size keeps REDUCING_GAP times the need, as the box-reduce before Lanczos does
for other formats (decoding._reduce): libwebp's rescaler averages areas, and the Lanczos
that finishes each output then works from twice its size. Measured on the 16 MP WebP's
variants against a full-size Lanczos (mean difference of the preview, JPEG-encoded):
Pillow's full decode 4.50, this decode scaled to twice the need 4.73, to 1.5 times 5.20,
to the need itself 6.87 (and 78, 55, 21 MB of memory against Pillow's 264).

No package on PyPI binds libwebp's scaled decoding (the `webp` package, which needs NumPy,
does not declare the options), so this binds the decode calls of libwebp's stable API
(src/webp/decode.h, ABI 0x0209) with ctypes, in the very library Pillow ships beside its
own extension (`pillow.libs/libwebp-*.so*`). If that library is not found, is older than
the ABI, or refuses the configuration, every WebP is decoded by Pillow as before.
"""

import ctypes
from pathlib import Path

import PIL
from PIL import Image, ImageFile

from chalicelib.imaging.geometry import Size, scaled_decode_size

_ABI_VERSION = 0x0209  # WEBP_DECODER_ABI_VERSION of libwebp 1.x
_STATUS_OK = 0
_MODE_RGB = 0
_MODE_RGBA = 1


class _Features(ctypes.Structure):
    _fields_ = [
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("has_alpha", ctypes.c_int),
        ("has_animation", ctypes.c_int),
        ("format", ctypes.c_int),
        ("pad", ctypes.c_uint32 * 5),
    ]


class _RGBABuffer(ctypes.Structure):
    _fields_ = [
        ("rgba", ctypes.c_void_p),
        ("stride", ctypes.c_int),
        ("size", ctypes.c_size_t),
    ]


class _YUVABuffer(ctypes.Structure):
    _fields_ = [
        ("y", ctypes.c_void_p),
        ("u", ctypes.c_void_p),
        ("v", ctypes.c_void_p),
        ("a", ctypes.c_void_p),
        ("y_stride", ctypes.c_int),
        ("u_stride", ctypes.c_int),
        ("v_stride", ctypes.c_int),
        ("a_stride", ctypes.c_int),
        ("y_size", ctypes.c_size_t),
        ("u_size", ctypes.c_size_t),
        ("v_size", ctypes.c_size_t),
        ("a_size", ctypes.c_size_t),
    ]


class _Buffers(ctypes.Union):
    _fields_ = [("RGBA", _RGBABuffer), ("YUVA", _YUVABuffer)]


class _DecBuffer(ctypes.Structure):
    _fields_ = [
        ("colorspace", ctypes.c_int),
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("is_external_memory", ctypes.c_int),
        ("u", _Buffers),
        ("pad", ctypes.c_uint32 * 4),
        ("private_memory", ctypes.c_void_p),
    ]


class _Options(ctypes.Structure):
    _fields_ = [
        ("bypass_filtering", ctypes.c_int),
        ("no_fancy_upsampling", ctypes.c_int),
        ("use_cropping", ctypes.c_int),
        ("crop_left", ctypes.c_int),
        ("crop_top", ctypes.c_int),
        ("crop_width", ctypes.c_int),
        ("crop_height", ctypes.c_int),
        ("use_scaling", ctypes.c_int),
        ("scaled_width", ctypes.c_int),
        ("scaled_height", ctypes.c_int),
        ("use_threads", ctypes.c_int),
        ("dithering_strength", ctypes.c_int),
        ("flip", ctypes.c_int),
        ("alpha_dithering_strength", ctypes.c_int),
        ("pad", ctypes.c_uint32 * 5),
    ]


class _Config(ctypes.Structure):
    _fields_ = [("input", _Features), ("output", _DecBuffer), ("options", _Options)]


def _library() -> ctypes.CDLL | None:
    """Pillow's libwebp, with the calls this module makes, or None."""
    libs = Path(PIL.__file__).resolve().parent.parent / "pillow.libs"
    for path in sorted(libs.glob("libwebp-*.so*")):
        try:
            library = ctypes.CDLL(str(path))
            library.WebPGetDecoderVersion.restype = ctypes.c_int
            init = library.WebPInitDecoderConfigInternal
            features = library.WebPGetFeaturesInternal
            decode = library.WebPDecode
            library.WebPFreeDecBuffer.argtypes = [ctypes.POINTER(_DecBuffer)]
        except (OSError, AttributeError):
            continue
        init.argtypes = [ctypes.POINTER(_Config), ctypes.c_int]
        features.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.POINTER(_Features),
            ctypes.c_int,
        ]
        decode.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_Config)]
        # 1.0 or later: the ABI above (the version is 0xMMmmpp).
        if library.WebPGetDecoderVersion() >= 0x010000:
            return library
    return None


_LIBWEBP = _library()


def available() -> bool:
    return _LIBWEBP is not None


def decode(data: bytes, image: ImageFile.ImageFile, needed: Size) -> Image.Image | None:
    """The still picture at geometry.scaled_decode_size, RGB or RGBA as Pillow gives it;
    None for an animation (Pillow takes its first frame) and for anything libwebp refuses."""
    library = _LIBWEBP
    if library is None:
        return None
    config = _Config()
    if not library.WebPInitDecoderConfigInternal(ctypes.byref(config), _ABI_VERSION):
        return None
    features = config.input
    status = library.WebPGetFeaturesInternal(data, len(data), ctypes.byref(features), _ABI_VERSION)
    if status != _STATUS_OK or features.has_animation:
        return None
    source = (features.width, features.height)
    if source != image.size:
        return None  # not the picture Pillow read the header of
    size = scaled_decode_size(source, needed)
    mode, colorspace = ("RGBA", _MODE_RGBA) if features.has_alpha else ("RGB", _MODE_RGB)
    channels = len(mode)
    pixels = bytearray(size[0] * size[1] * channels)
    output = config.output
    output.colorspace = colorspace
    output.is_external_memory = 1
    target = (ctypes.c_char * len(pixels)).from_buffer(pixels)  # alive until decoded
    output.u.RGBA.rgba = ctypes.addressof(target)
    output.u.RGBA.stride = size[0] * channels
    output.u.RGBA.size = len(pixels)
    if size != source:
        config.options.use_scaling = 1
        config.options.scaled_width, config.options.scaled_height = size
    config.options.use_threads = 1  # filters on a second thread while it parses
    status = library.WebPDecode(data, len(data), ctypes.byref(config))
    library.WebPFreeDecBuffer(ctypes.byref(output))
    del target
    if status != _STATUS_OK:
        return None  # damaged, truncated: Pillow decides
    # RGBA wraps the bytes as they are; RGB is copied into Pillow's 4 bytes a pixel.
    decoded = Image.frombuffer(mode, size, pixels, "raw", mode, 0, 1)
    decoded.readonly = 0  # the bytes are the image's alone: it may be premultiplied in place
    return decoded
