"""Behaviour of chalicelib.imaging on real bytes: sniffing, validation, variants, renders."""

import io
import platform
import struct
import subprocess
import sys
import threading
import tracemalloc
import warnings
import zlib
from concurrent.futures import Future
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageCms, ImageFile, ImageOps, ImageStat

from chalicelib.imaging import (
    Encoded,
    Probe,
    Rejected,
    decoding,
    encoding,
    make_variants,
    probe,
    render,
    shaping,
    sniff,
)
from chalicelib.imaging.geometry import geometry, size_and_box
from chalicelib.specs import DEFAULT_VARIANTS, Fit, RenderSpec, VariantSpec
from tests.support.corpus import ORIENTATION

ORIENTATION_CORPUS = ORIENTATION
EVERY_FORMAT = frozenset({"jpeg", "png", "gif", "webp", "tiff", "bmp", "avif", "heif"})
MAX_PIXELS = 50_000_000
GPS_IFD = 0x8825
ORIENTATION_TAG = 0x0112


def picture(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A smooth, asymmetric picture, so orientation and crops are visible in the pixels."""
    width, height = size
    red = Image.linear_gradient("L").resize(size)
    green = Image.linear_gradient("L").rotate(90).resize(size)
    blue = Image.radial_gradient("L").resize(size)
    image = Image.merge("RGB", (red, green, blue))
    image.paste((255, 255, 0), (0, 0, max(1, width // 5), max(1, height // 5)))
    return image.convert(mode)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    if fmt == "HEIF":
        pillow_heif = pytest.importorskip("pillow_heif")
        pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def probed(data: bytes, allowed: frozenset[str] = EVERY_FORMAT) -> Probe:
    return probe(data, allowed_formats=allowed, max_pixels=MAX_PIXELS)


def variants_of(data: bytes, specs=DEFAULT_VARIANTS) -> dict[str, Encoded]:
    return {v.name: v for v in make_variants(data, probed(data), specs)}


def decoded(encoded: Encoded) -> Image.Image:
    image = Image.open(io.BytesIO(encoded.data))
    image.load()
    return image


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / len(a.getbands())


def rejection(call) -> Rejected:
    with pytest.raises(Rejected) as caught:
        call()
    return caught.value


def png_claiming_size(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)


@pytest.fixture(scope="module")
def large_jpeg() -> bytes:
    return encode(picture((3000, 2000)), "JPEG", quality=90)


def animated_gif(colours=("red", "green", "blue")) -> bytes:
    frames = [Image.new("RGB", (60, 40), colour) for colour in colours]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)


# --- sniffing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pillow_format", "expected"),
    [
        ("JPEG", "jpeg"),
        ("PNG", "png"),
        ("GIF", "gif"),
        ("WEBP", "webp"),
        ("TIFF", "tiff"),
        ("BMP", "bmp"),
        ("AVIF", "avif"),
        ("HEIF", "heif"),
    ],
)
def test_each_format_is_sniffed_from_its_bytes(pillow_format, expected):
    data = encode(picture((40, 30)), pillow_format)

    assert sniff(data) == expected
    assert probed(data).format == expected


def test_a_png_renamed_to_jpg_is_sniffed_as_png(tmp_path):
    renamed = tmp_path / "holiday.jpg"
    renamed.write_bytes(encode(picture((40, 30)), "PNG"))

    data = renamed.read_bytes()

    assert sniff(data) == "png"
    assert probed(data).mime == "image/png"


def test_a_text_file_is_not_an_image():
    data = b"Dear diary, today I uploaded a text file.\n" * 10

    assert sniff(data) is None
    assert rejection(lambda: probed(data)).code == "not_an_image"


def test_an_empty_file_is_rejected_as_empty():
    assert rejection(lambda: probed(b"")).code == "empty"


# --- validation -------------------------------------------------------------------------


def test_a_truncated_jpeg_is_corrupt(large_jpeg):
    truncated = large_jpeg[: len(large_jpeg) // 2]

    def probe_and_make_variants():
        make_variants(truncated, probed(truncated), DEFAULT_VARIANTS)

    verdict = rejection(probe_and_make_variants)

    assert verdict.code == "corrupt"
    assert "JPEG" in verdict.message


def test_a_png_claiming_ten_billion_pixels_is_refused_from_its_header_in_little_memory():
    data = png_claiming_size(100_000, 100_000)
    tracemalloc.start()
    try:
        verdict = rejection(lambda: probed(data))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert verdict.code == "too_many_pixels"
    assert peak < 1_000_000


# Pillow allocates pixels outside Python's allocator, where tracemalloc cannot see them, so
# the process's own high-water mark (VmHWM) is what shows that nothing was decoded.
PEAK_OF_A_VERDICT = """
import sys
from chalicelib import imaging

def peak_mb():
    with open("/proc/self/status") as status:
        return int(next(l for l in status if l.startswith("VmHWM")).split()[1]) / 1024

data = open(sys.argv[1], "rb").read()
before = peak_mb()
try:
    imaging.probe(data, allowed_formats=frozenset({"png"}), max_pixels=50_000_000)
except imaging.Rejected as rejected:
    print(rejected.code, peak_mb() - before)
"""


def test_refusing_a_ten_billion_pixel_png_raises_the_process_peak_by_under_100_mb(tmp_path):
    claim = tmp_path / "huge.png"
    claim.write_bytes(png_claiming_size(100_000, 100_000))
    measured = subprocess.run(
        [sys.executable, "-c", PEAK_OF_A_VERDICT, str(claim)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    )
    code, grown = measured.stdout.split()
    assert code == "too_many_pixels"
    assert float(grown) < 100


@pytest.mark.parametrize("pillow_format", ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP"])
def test_probing_reads_the_header_and_never_decodes_pixels(pillow_format, monkeypatch):
    data = encode(picture((400, 300)), pillow_format)

    decoded_formats = []
    monkeypatch.setattr(
        ImageFile.ImageFile, "load", lambda image: decoded_formats.append(image.format)
    )

    found = probed(data)

    assert (found.width, found.height) == (400, 300)
    assert decoded_formats == []


def test_an_image_over_the_pixel_limit_is_refused_with_its_size():
    data = encode(picture((200, 100)), "PNG")

    verdict = rejection(lambda: probe(data, allowed_formats=EVERY_FORMAT, max_pixels=19_999))

    assert verdict.code == "too_many_pixels"
    assert "200x100" in verdict.message


def test_pillows_own_bomb_limit_becomes_too_many_pixels(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    data = encode(picture((100, 100)), "PNG")

    assert rejection(lambda: probed(data)).code == "too_many_pixels"


def test_pillows_bomb_warning_does_not_escape_when_within_our_limit(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6_000)
    data = encode(picture((100, 100)), "PNG")

    small = [VariantSpec("small", 64, 64), VariantSpec("band", 100, 20, Fit.COVER)]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        variants = make_variants(data, probed(data), small)

    assert [(v.width, v.height) for v in variants] == [(64, 64), (100, 20)]


def test_a_format_outside_the_allowed_set_is_unsupported():
    data = animated_gif()

    verdict = rejection(lambda: probed(data, allowed=EVERY_FORMAT - {"gif"}))

    assert verdict.code == "unsupported_format"
    assert "GIF" in verdict.message


def test_heif_without_its_plugin_is_unsupported(monkeypatch):
    data = encode(picture((40, 30)), "HEIF")
    monkeypatch.setitem(sys.modules, "pillow_heif", None)

    assert rejection(lambda: probed(data)).code == "unsupported_format"


def test_probe_reports_size_alpha_frames_and_orientation():
    jpeg = (ORIENTATION_CORPUS / "hopper_orientation_6.jpg").read_bytes()
    rgba = encode(picture((30, 20), "RGBA"), "PNG")
    wide_jpeg = encode(picture((300, 200)), "JPEG")

    assert probed(jpeg).orientation == 6
    assert probed(rgba).has_alpha
    assert not probed(wide_jpeg).has_alpha
    assert (probed(wide_jpeg).width, probed(wide_jpeg).height) == (300, 200)


def test_oriented_size_swaps_sides_for_quarter_turns():
    sideways = Probe("jpeg", "image/jpeg", 300, 200, 1, False, orientation=6)
    upside_down = Probe("jpeg", "image/jpeg", 300, 200, 1, False, orientation=3)

    assert sideways.oriented_size == (200, 300)
    assert upside_down.oriented_size == (300, 200)


def test_frames_of_an_animated_gif_are_counted():
    assert probed(animated_gif()).frames == 3


def test_pages_of_a_multipage_tiff_are_counted():
    pages = [picture((40, 30)), Image.new("RGB", (40, 30), "black")]
    data = encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])

    assert probed(data).frames == 2


# --- variants ---------------------------------------------------------------------------


@pytest.fixture(params=["vectorised", "pillow"])
def resampler(request, monkeypatch) -> str:
    """Shaping runs with cykooz.resizer where it has wheels and with Pillow elsewhere (Linux
    arm64): every variant and render test holds for both."""
    if request.param == "pillow":
        monkeypatch.setattr(shaping, "cykooz_resizer", None)
    elif shaping.cykooz_resizer is None:
        pytest.skip("cykooz.resizer has no wheel for this platform")
    return request.param


def textured(size: tuple[int, int], mode: str) -> Image.Image:
    """Fine noise over the smooth picture: where two resamplers would part, if anywhere."""
    noise = Image.effect_noise(size, 80).convert("RGB")
    return Image.blend(picture(size), noise, 0.5).convert(mode)


def textured_with_alpha(size: tuple[int, int]) -> Image.Image:
    image = textured(size, "RGB")
    image.putalpha(Image.effect_noise(size, 100))
    return image


def every_colour_at_every_alpha() -> Image.Image:
    """256 x 256 pixels: red and green run through every value down the rows, alpha through
    every value across the columns."""
    rows = bytearray()
    for value in range(256):
        for alpha in range(256):
            rows += bytes((value, 255 - value, 7, alpha))
    return Image.frombytes("RGBA", (256, 256), bytes(rows))


@pytest.mark.parametrize(
    "make",
    [
        every_colour_at_every_alpha,
        # Pillow keeps a large image in several blocks of rows: not one contiguous buffer.
        lambda: textured_with_alpha((3000, 2000)),
    ],
    ids=["every-value-pair", "multi-block"],
)
def test_premultiplying_gives_pillows_pixels_with_either_resampler(make, resampler):
    source = make()  # built when the test runs, not when the module is collected
    expected = source.convert("RGBa").tobytes()

    made = shaping.premultiplied(source)
    in_place = shaping.premultiply_in_place(source.copy())

    assert (made.mode, in_place.mode) == ("RGBa", "RGBa")
    assert made.tobytes() == in_place.tobytes() == expected


def test_premultiplying_in_place_keeps_one_image_and_never_writes_shared_memory():
    if shaping.cykooz_resizer is None:
        pytest.skip("cykooz.resizer has no wheel for this platform")
    owned = every_colour_at_every_alpha()
    assert shaping.premultiply_in_place(owned) is owned  # no second full-size image

    shared = bytearray(every_colour_at_every_alpha().tobytes())
    before = bytes(shared)
    wrapped = Image.frombuffer("RGBA", (256, 256), shared, "raw", "RGBA", 0, 1)
    made = shaping.premultiply_in_place(wrapped)
    assert made.tobytes() == Image.frombytes("RGBA", (256, 256), before).convert("RGBa").tobytes()
    assert bytes(shared) == before  # a read-only image's memory is copied, not written


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBa"])
def test_the_vectorised_resampler_gives_pillows_lanczos(mode):
    if shaping.cykooz_resizer is None:
        pytest.skip("cykooz.resizer has no wheel for this platform")
    source = textured((2400, 1600), mode)
    box = (10.5, 40.25, 2390.0, 1500.75)  # fractional, as a cover's crop is

    fast = shaping.resample_vectorised(source, (1280, 720), box)

    reference = source.resize((1280, 720), Image.Resampling.LANCZOS, box)
    assert (fast.mode, fast.size) == (mode, (1280, 720))
    assert mean_difference(fast, reference) < 0.5
    # Their fixed-point intermediates round differently: a few pixels of fine noise move by
    # up to 8 levels, fewer than one in a thousand by more than 2.
    histogram = ImageChops.difference(fast, reference).histogram()  # 256 bins per band
    apart = sum(sum(histogram[band * 256 + 3 : band * 256 + 256]) for band in range(len(mode)))
    assert apart < 1280 * 720 / 1000


def test_a_thumbnail_is_made_from_the_preview_and_the_others_from_the_decoded_source():
    source = (2250, 1500)
    geometries = [geometry(source, s.width, s.height, s.fit, s.rotate) for s in DEFAULT_VARIANTS]

    plan = {
        DEFAULT_VARIANTS[step.index].name: step.base for step in shaping.plan(geometries, source)
    }

    assert plan == {"preview": None, "hd-rotated": None, "thumbnail": 1}


def _preview_and_cover(preview_side: int = 1600):
    """A 16:9 source, and the centred geometries of a contained preview and a 1280x720
    cover, as pipeline plans them."""
    source = Image.new("RGB", (2000, 1125), "teal")
    specs = [
        VariantSpec("preview", preview_side, preview_side, Fit.CONTAIN),
        VariantSpec("hd", 1280, 720, Fit.COVER),
    ]
    return source, [geometry(source.size, s.width, s.height, s.fit, s.rotate) for s in specs]


def _cover_on(source: Image.Image, focus: tuple[float, float]):
    return geometry(source.size, 1280, 720, Fit.COVER, 0, focus)


def test_outputs_that_need_no_focus_are_made_while_the_focus_is_still_being_learnt():
    # The cover crop's geometry is asked for only when it is made: if shaping waited for
    # every output's placing up front, the cover would wait on the preview forever.
    source, planned = _preview_and_cover()
    preview_done = threading.Event()

    def placed(index: int):
        assert preview_done.wait(10), "the cover was placed before the preview was made"
        return _cover_on(source, (0.9, 0.5))

    def finish(index: int, image: Image.Image):
        if index == 0:
            preview_done.set()
        return image.size

    assert shaping.shape(source, planned, finish, placed) == [(1600, 900), (1280, 720)]


@pytest.mark.parametrize("largest", ["uncropped", "cropped"])
def test_a_focus_learnt_meanwhile_places_the_crop_whichever_output_comes_first(largest):
    source, planned = _preview_and_cover(800 if largest == "cropped" else 1600)
    focus: Future[tuple[float, float]] = Future()
    placings: list[int] = []

    def placed(index: int):
        placings.append(index)
        return _cover_on(source, focus.result(timeout=10))

    made: list[object] = []
    shaping_thread = threading.Thread(
        target=lambda: made.extend(
            shaping.shape(
                source,
                planned,
                lambda _, image: image.size,
                placed,
                lambda: focus.set_result((1.0, 0.5)),
            )
        ),
        daemon=True,
    )
    shaping_thread.start()
    shaping_thread.join(20)

    assert not shaping_thread.is_alive(), "shaping waited on itself"
    assert made == [planned[0].scaled, (1280, 720)]
    assert placings == [1]  # only the cropped output is placed


def test_what_fails_alongside_the_outputs_fails_the_shaping_without_a_hang():
    source, planned = _preview_and_cover()
    focus: Future[tuple[float, float]] = Future()

    def meanwhile() -> None:
        failure = OSError("broken data stream")
        focus.set_exception(failure)  # as pipeline's learn does
        raise failure

    def placed(index: int):
        return _cover_on(source, focus.result(timeout=10))

    with pytest.raises(OSError, match="broken data stream"):
        shaping.shape(source, planned, lambda _, image: image.size, placed, meanwhile)


def test_outputs_that_need_no_resampling_are_never_one_image_encoded_twice_at_once():
    # Pillow's save() writes onto the image it encodes: the first output may encode the
    # decode itself, a second one the same pixels gets its own copy.
    source = Image.new("RGB", (200, 100), "olive")
    specs = [VariantSpec("a", 256, 256, Fit.CONTAIN), VariantSpec("b", 1600, 1600, Fit.CONTAIN)]
    planned = [geometry(source.size, s.width, s.height, s.fit, s.rotate) for s in specs]
    finished: list[Image.Image] = []

    def finish(index: int, image: Image.Image):
        finished.append(image)
        return image.tobytes()

    made = shaping.shape(source, planned, finish)

    assert made == [source.tobytes()] * 2
    assert len({id(image) for image in finished}) == 2
    assert any(image is source for image in finished)


def test_an_enlarged_output_is_never_what_a_smaller_one_starts_from():
    source = (300, 200)
    specs = [
        VariantSpec("poster", 1000, 1000, Fit.FILL),
        VariantSpec("small", 256, 256, Fit.CONTAIN),
    ]
    geometries = [geometry(source, s.width, s.height, s.fit, s.rotate) for s in specs]

    assert [(step.index, step.base) for step in shaping.plan(geometries, source)] == [
        (0, None),
        (1, None),
    ]


def test_a_cover_crop_box_never_reaches_past_the_source():
    for width in range(100, 4100, 13):
        for height in range(100, 4100, 29):
            for box_w, box_h in ((1280, 720), (1080, 1080), (256, 256)):
                shape = geometry((width, height), box_w, box_h, Fit.COVER, 0)
                _, box = size_and_box((width, height), shape)
                assert 0 <= box[0] < box[2] <= width and 0 <= box[1] < box[3] <= height


@pytest.mark.usefixtures("resampler")
@pytest.mark.parametrize(("size", "box"), [((240, 121), (1280, 720)), ((290, 1500), (1080, 1080))])
def test_a_cover_whose_crop_reaches_the_edge_of_the_source_is_made(size, box):
    data = encode(picture(size), "PNG")
    spec = RenderSpec(
        width=box[0], height=box[1], fit=Fit.COVER, rotate=0, format="jpeg", quality=80
    )

    rendered = render(data, probed(data), spec)

    assert decoded(rendered).size == box


@pytest.mark.usefixtures("resampler")
def test_outputs_of_the_sources_own_size_are_each_encoded_from_their_own_picture(monkeypatch):
    data = encode(picture((200, 150)), "PNG")  # thumbnail and preview both keep its size
    encoded_pictures = []
    encode_one = encoding.encode

    def recording(image, *rest):
        encoded_pictures.append(image)
        return encode_one(image, *rest)

    monkeypatch.setattr(encoding, "encode", recording)

    variants = variants_of(data)

    assert (variants["thumbnail"].width, variants["preview"].width) == (200, 200)
    assert len({id(image) for image in encoded_pictures}) == 3


@pytest.mark.usefixtures("resampler")
def test_an_output_made_from_a_stretched_one_keeps_the_sources_aspect_ratio(large_jpeg):
    specs = [
        VariantSpec("banner", 2000, 500, Fit.FILL),
        VariantSpec("small", 300, 300, Fit.CONTAIN),
    ]
    original = Image.open(io.BytesIO(large_jpeg)).convert("RGB")

    small = decoded(variants_of(large_jpeg, specs)["small"]).convert("RGB")

    assert small.size == (300, 200)
    assert mean_difference(small, original.resize(small.size, Image.Resampling.LANCZOS)) < 2


@pytest.mark.timeout(30)
def test_an_output_that_fails_fails_those_made_from_it_without_a_hang(large_jpeg, monkeypatch):
    resample = shaping.resample

    def failing(image, size, box):
        if size == (1600, 1067):  # the preview, which the thumbnail is made from
            raise OSError("broken data stream")
        return resample(image, size, box)

    monkeypatch.setattr(shaping, "resample", failing)

    assert rejection(lambda: variants_of(large_jpeg)).code == "corrupt"


def test_variants_are_encoded_into_a_file_descriptor_so_encoders_release_the_gil(
    large_jpeg, monkeypatch
):
    descriptors = []
    encode_tile = ImageFile._encode_tile

    def spy(im, fp, tile, bufsize, fh, exc=None):
        descriptors.append(fh)
        return encode_tile(im, fp, tile, bufsize, fh, exc)

    monkeypatch.setattr(ImageFile, "_encode_tile", spy)

    variants_of(large_jpeg)

    assert len(descriptors) == 3
    assert None not in descriptors


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_an_output_encoded_through_a_file_has_the_bytes_pillow_writes_to_memory(fmt):
    image = picture((640, 480))
    in_memory = io.BytesIO()
    image.save(in_memory, fmt.upper(), quality=80)

    encoded = encoding.encode(image, "x", fmt, 80, None)

    assert encoded.data == in_memory.getvalue()


def test_what_the_vectorised_resampler_refuses_pillow_resamples(large_jpeg, monkeypatch):
    if shaping.cykooz_resizer is None:
        pytest.skip("cykooz.resizer has no wheel for this platform")

    def refusing(self, *_):
        raise RuntimeError("Size of the crop box is out of the image boundaries")

    monkeypatch.setattr(shaping.cykooz_resizer.Resizer, "resize_pil", refusing)

    variants = variants_of(large_jpeg)

    assert (variants["hd-rotated"].width, variants["hd-rotated"].height) == (1280, 720)
    assert variants["preview"].width == 1600


def test_running_out_of_memory_is_too_many_pixels_not_damage(large_jpeg, monkeypatch):
    def exhausted(*_):
        raise MemoryError

    monkeypatch.setattr(decoding, "decode", exhausted)

    rejected = rejection(lambda: variants_of(large_jpeg))
    assert rejected.code == "too_many_pixels"
    assert "memory" in rejected.message


def test_a_failure_while_outputs_are_made_side_by_side_is_a_rejection(large_jpeg, monkeypatch):
    encode_one = encoding.encode

    def failing(image, name, *rest):
        if name == "hd-rotated":
            raise OSError("encoder error -2")
        return encode_one(image, name, *rest)

    monkeypatch.setattr(encoding, "encode", failing)

    assert rejection(lambda: variants_of(large_jpeg)).code == "corrupt"


@pytest.mark.usefixtures("resampler")
def test_default_variants_have_their_promised_sizes(large_jpeg):
    variants = variants_of(large_jpeg)

    assert (variants["thumbnail"].width, variants["thumbnail"].height) == (256, 171)
    assert (variants["preview"].width, variants["preview"].height) == (1600, 1067)
    assert (variants["hd-rotated"].width, variants["hd-rotated"].height) == (1280, 720)
    for variant in variants.values():
        assert decoded(variant).size == (variant.width, variant.height)


@pytest.mark.usefixtures("resampler")
def test_variants_come_back_in_the_order_of_the_specs(large_jpeg):
    specs = [DEFAULT_VARIANTS[0], DEFAULT_VARIANTS[2], DEFAULT_VARIANTS[1]]

    names = [v.name for v in make_variants(large_jpeg, probed(large_jpeg), specs)]

    assert names == ["thumbnail", "hd-rotated", "preview"]


@pytest.mark.usefixtures("resampler")
def test_hd_rotated_matches_a_full_size_cover_crop_turned_upside_down(large_jpeg):
    original = Image.open(io.BytesIO(large_jpeg)).convert("RGB")
    reference = ImageOps.fit(original, (1280, 720), Image.Resampling.LANCZOS).transpose(
        Image.Transpose.ROTATE_180
    )

    hd = decoded(variants_of(large_jpeg)["hd-rotated"]).convert("RGB")

    assert mean_difference(hd, reference) < 3


# 4271 × 2403: 1/4 scale (1068 px) is too small for the 1600 px preview and 3/8 (1602 px)
# is enough, so these are decoded at 3/8 — odd sizes, so rounding must match libjpeg-turbo's.
@pytest.mark.usefixtures("resampler")
@pytest.mark.parametrize(
    ("mode", "options"),
    [("RGB", {}), ("RGB", {"progressive": True}), ("L", {}), ("CMYK", {})],
    ids=["baseline", "progressive", "grey", "cmyk"],
)
def test_a_jpeg_decoded_at_three_eighths_matches_a_full_size_resize(mode, options):
    data = encode(picture((4271, 2403), mode), "JPEG", quality=92, **options)
    original = Image.open(io.BytesIO(data)).convert("RGB")

    variants = variants_of(data)

    preview = decoded(variants["preview"]).convert("RGB")
    assert preview.size == (1600, 900)
    reference = original.resize(preview.size, Image.Resampling.LANCZOS)
    assert mean_difference(preview, reference) < 2
    hd = decoded(variants["hd-rotated"]).convert("RGB")
    cover = ImageOps.fit(original, (1280, 720), Image.Resampling.LANCZOS)
    assert mean_difference(hd, cover.transpose(Image.Transpose.ROTATE_180)) < 2


@pytest.mark.usefixtures("resampler")
def test_the_jpeg_decoder_is_asked_for_three_eighths_when_that_covers_the_need():
    data = encode(picture((4271, 2403)), "JPEG")
    image = Image.open(io.BytesIO(data))

    decoding.draft(image, (1600, 900))
    image.load()

    assert image.size == (1602, 902)  # ceil(4271 * 3 / 8), ceil(2403 * 3 / 8)


@pytest.mark.usefixtures("resampler")
def test_a_sideways_jpeg_is_decoded_at_the_scale_its_upright_variants_need():
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6  # stored 2403 × 4271, shown 4271 × 2403 after a quarter turn
    upright = picture((4271, 2403))
    data = encode(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=92, exif=exif)

    preview = decoded(variants_of(data)["preview"]).convert("RGB")

    assert preview.size == (1600, 900)
    reference = upright.resize(preview.size, Image.Resampling.LANCZOS)
    assert mean_difference(preview, reference) < 2


@pytest.mark.usefixtures("resampler")
def test_a_portrait_source_keeps_its_aspect_ratio_in_contained_variants():
    data = encode(picture((600, 900)), "JPEG")

    variants = variants_of(data)

    assert (variants["thumbnail"].width, variants["thumbnail"].height) == (171, 256)
    assert (variants["preview"].width, variants["preview"].height) == (600, 900)


@pytest.mark.usefixtures("resampler")
def test_a_small_source_is_not_upscaled_to_fit_but_is_to_cover():
    data = encode(picture((100, 80)), "JPEG")

    variants = variants_of(data)

    assert (variants["thumbnail"].width, variants["thumbnail"].height) == (100, 80)
    assert (variants["preview"].width, variants["preview"].height) == (100, 80)
    assert (variants["hd-rotated"].width, variants["hd-rotated"].height) == (1280, 720)


@pytest.mark.usefixtures("resampler")
def test_a_fill_variant_is_stretched_to_exactly_its_box():
    data = encode(picture((300, 200)), "PNG")

    (stretched,) = make_variants(data, probed(data), [VariantSpec("square", 64, 64, Fit.FILL)])

    assert (stretched.width, stretched.height) == (64, 64)


@pytest.mark.usefixtures("resampler")
@pytest.mark.parametrize("orientation", range(2, 9))
def test_exif_orientation_is_applied_before_making_variants(orientation):
    upright = variants_of((ORIENTATION_CORPUS / "hopper.jpg").read_bytes())["preview"]
    stored = (ORIENTATION_CORPUS / f"hopper_orientation_{orientation}.jpg").read_bytes()

    preview = variants_of(stored)["preview"]

    assert mean_difference(decoded(preview), decoded(upright)) < 10


@pytest.mark.usefixtures("resampler")
def test_a_large_sideways_camera_jpeg_gives_upright_variants_of_the_right_size():
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    upright = picture((2000, 3000))
    data = encode(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif.tobytes())

    variants = variants_of(data)

    preview = decoded(variants["preview"])
    assert preview.size == (1067, 1600)
    reference = upright.resize(preview.size, Image.Resampling.LANCZOS)
    assert mean_difference(preview, reference) < 3
    assert (variants["thumbnail"].width, variants["thumbnail"].height) == (171, 256)


@pytest.mark.usefixtures("resampler")
def test_variants_carry_no_exif_or_gps():
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    exif[ORIENTATION_TAG] = 1
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (51.0, 30.0, 0.0)})
    data = encode(picture((400, 300)), "JPEG", exif=exif.tobytes())
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD)

    for variant in variants_of(data).values():
        image = decoded(variant)
        assert not image.getexif()
        assert "exif" not in image.info
        assert "xmp" not in image.info


@pytest.mark.usefixtures("resampler")
def test_an_rgb_icc_profile_is_kept_in_the_variants():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(picture((400, 300)), "JPEG", icc_profile=profile)

    for variant in variants_of(data).values():
        assert decoded(variant).info.get("icc_profile") == profile


@pytest.mark.usefixtures("resampler")
def test_a_grey_jpeg_with_a_grey_profile_renders_to_webp_without_it():
    # ImageCms cannot build a grey profile; only the colour space in the header matters here.
    grey_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    grey_profile = grey_profile[:16] + b"GRAY" + grey_profile[20:]
    data = encode(picture((200, 100), "L"), "JPEG", icc_profile=grey_profile)

    (grey,) = make_variants(data, probed(data), [VariantSpec("grey", 64, 64)])
    webp = render(data, probed(data), RenderSpec(64, None, Fit.CONTAIN, 0, "webp", 80))

    assert decoded(grey).mode == "L"
    assert decoded(grey).info.get("icc_profile") == grey_profile
    assert "icc_profile" not in decoded(webp).info


@pytest.mark.usefixtures("resampler")
def test_a_transparent_source_gives_webp_variants_that_keep_the_alpha():
    image = picture((400, 300), "RGBA")
    image.putalpha(Image.linear_gradient("L").resize((400, 300)))
    data = encode(image, "PNG")

    for variant in variants_of(data).values():
        assert (variant.format, variant.content_type, variant.extension) == (
            "webp",
            "image/webp",
            "webp",
        )
        assert decoded(variant).mode == "RGBA"
        assert decoded(variant).getchannel("A").getextrema()[0] < 50


@pytest.mark.usefixtures("resampler")
def test_an_opaque_rgba_source_gives_jpeg_variants():
    data = encode(picture((400, 300), "RGBA"), "PNG")

    assert {v.format for v in variants_of(data).values()} == {"jpeg"}


@pytest.mark.usefixtures("resampler")
def test_a_cmyk_jpeg_gives_rgb_jpeg_variants():
    data = encode(picture((400, 300), "CMYK"), "JPEG")

    for variant in variants_of(data).values():
        assert (variant.format, variant.extension) == ("jpeg", "jpg")
        assert decoded(variant).mode == "RGB"


@pytest.mark.usefixtures("resampler")
def test_variants_of_an_animated_gif_show_its_first_frame():
    data = animated_gif()

    thumbnail = decoded(variants_of(data)["thumbnail"]).convert("RGB")

    red, green, blue = ImageStat.Stat(thumbnail).mean
    assert red > 200
    assert green < 50
    assert blue < 50


@pytest.mark.usefixtures("resampler")
def test_a_gif_with_a_transparent_colour_keeps_its_transparency():
    image = Image.new("P", (60, 40), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (0, 0, 30, 40))
    data = encode(image, "GIF", transparency=1)

    thumbnail = decoded(variants_of(data)["thumbnail"])

    assert thumbnail.mode == "RGBA"
    assert thumbnail.getpixel((5, 5))[3] == 0


@pytest.mark.usefixtures("resampler")
def test_a_sixteen_bit_greyscale_png_keeps_its_tones():
    grey = Image.new("I;16", (200, 100), 32768)
    data = encode(grey, "PNG")

    thumbnail = decoded(variants_of(data)["thumbnail"])

    assert 120 < ImageStat.Stat(thumbnail).mean[0] < 136


@pytest.mark.usefixtures("resampler")
@pytest.mark.parametrize(
    ("pillow_format", "options"),
    [
        ("WEBP", {}),
        ("TIFF", {}),
        ("BMP", {}),
        ("AVIF", {}),
        ("HEIF", {}),
        ("PNG", {}),
    ],
)
def test_every_accepted_format_makes_every_variant(pillow_format, options):
    source = picture((500, 400))
    data = encode(source, pillow_format, **options)

    preview = decoded(variants_of(data)["preview"]).convert("RGB")

    assert preview.size == (500, 400)
    assert mean_difference(preview, source) < 8


@pytest.mark.usefixtures("resampler")
def test_making_variants_of_nothing_makes_nothing(large_jpeg):
    assert make_variants(large_jpeg, probed(large_jpeg), []) == []


# --- renders ----------------------------------------------------------------------------


@pytest.mark.usefixtures("resampler")
@pytest.mark.parametrize(
    ("width", "height", "fit", "rotate", "expected"),
    [
        (200, 200, Fit.CONTAIN, 0, (200, 150)),
        (200, 200, Fit.CONTAIN, 90, (150, 200)),
        (800, 800, Fit.CONTAIN, 0, (400, 300)),
        (200, None, Fit.CONTAIN, 0, (200, 150)),
        (None, 150, Fit.CONTAIN, 180, (200, 150)),
        (None, None, Fit.CONTAIN, 270, (300, 400)),
        (200, 200, Fit.COVER, 0, (200, 200)),
        (100, 50, Fit.COVER, 90, (50, 100)),
        (800, 100, Fit.COVER, 0, (800, 100)),
        (200, 100, Fit.FILL, 0, (200, 100)),
        (200, 100, Fit.FILL, 270, (100, 200)),
        (120, None, Fit.FILL, 180, (120, 90)),
    ],
)
def test_a_render_has_the_size_its_fit_and_rotation_promise(width, height, fit, rotate, expected):
    data = encode(picture((400, 300)), "JPEG")

    rendered = render(data, probed(data), RenderSpec(width, height, fit, rotate, "jpeg", 80))

    assert (rendered.width, rendered.height) == expected
    assert decoded(rendered).size == expected


@pytest.mark.usefixtures("resampler")
@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [
        ("jpeg", "image/jpeg", "jpg"),
        ("png", "image/png", "png"),
        ("webp", "image/webp", "webp"),
        ("avif", "image/avif", "avif"),
    ],
)
def test_a_render_is_encoded_in_the_requested_format(fmt, content_type, extension):
    data = encode(picture((400, 300)), "PNG")

    rendered = render(data, probed(data), RenderSpec(160, 160, Fit.COVER, 90, fmt, 70))

    assert (rendered.format, rendered.content_type, rendered.extension) == (
        fmt,
        content_type,
        extension,
    )
    assert sniff(rendered.data) == fmt
    assert decoded(rendered).size == (160, 160)


@pytest.mark.usefixtures("resampler")
def test_a_render_turns_clockwise():
    data = encode(picture((400, 300)), "PNG")

    turned = render(data, probed(data), RenderSpec(None, None, Fit.CONTAIN, 90, "png", 90))

    # The yellow top-left corner of the source ends up top-right after a clockwise turn.
    image = decoded(turned).convert("RGB")
    assert image.getpixel((image.width - 5, 5)) == (255, 255, 0)
    assert image.getpixel((5, 5)) != (255, 255, 0)


@pytest.mark.usefixtures("resampler")
def test_a_jpeg_render_of_a_transparent_image_is_flattened_on_white():
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    data = encode(image, "PNG")

    rendered = render(data, probed(data), RenderSpec(50, 50, Fit.CONTAIN, 0, "jpeg", 90))

    flattened = decoded(rendered)
    assert flattened.mode == "RGB"
    assert all(channel > 250 for channel in flattened.getpixel((25, 25)))


@pytest.mark.usefixtures("resampler")
def test_a_truncated_image_is_corrupt_when_rendered(large_jpeg):
    truncated = large_jpeg[: len(large_jpeg) // 3]
    spec = RenderSpec(100, 100, Fit.COVER, 0, "webp", 80)

    assert rejection(lambda: render(truncated, probed(truncated), spec)).code == "corrupt"


# --- boundaries -------------------------------------------------------------------------


def test_the_vectorised_resampler_is_installed_wherever_it_has_wheels():
    if sys.platform == "linux" and platform.machine() == "aarch64":
        pytest.skip("cykooz.resizer publishes no Linux arm64 wheel")

    assert shaping.cykooz_resizer is not None


def test_importing_imaging_pulls_in_no_aws_library():
    check = (
        "import sys, chalicelib.imaging.pipeline, chalicelib.imaging.probing; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')); "
        "assert not loaded, loaded"
    )

    subprocess.run(
        [sys.executable, "-c", check],
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
