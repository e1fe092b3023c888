"""TurboJPEG's 5/8-7/8 decode (chalicelib.imaging.jpeg_decoder): where it is taken, that its
pixels are libjpeg-turbo's as Pillow gets them, and that Pillow decides whatever it declines."""

import io

import pytest
from PIL import Image, ImageChops, ImageOps, ImageStat

from chalicelib.imaging import Rejected, jpeg_decoder, make_variants, probe
from chalicelib.imaging.geometry import DCT_EIGHTHS, TURBOJPEG_EIGHTHS, dct_size
from chalicelib.specs import DEFAULT_VARIANTS
from tests.support.corpus import photos
from tests.support.pictures import record_faster_decoder

simplejpeg = pytest.importorskip("simplejpeg")
ORIENTATION_TAG = 0x0112


def picture(size: tuple[int, int], mode: str = "RGB", noise: float = 0.0) -> Image.Image:
    """Smooth gradients, under fine noise if asked: detail where two decoders would part.
    (Noise is also where a scaled IDCT and a Lanczos resize part, by design: quality is
    compared on the smooth picture and on real photos.)"""
    gradient = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size),
            Image.linear_gradient("L").rotate(90).resize(size),
            Image.radial_gradient("L").resize(size),
        ),
    )
    grain = Image.effect_noise(size, 60).convert("RGB")
    return Image.blend(gradient, grain, noise).convert(mode)


def jpeg(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, **options)
    return buffer.getvalue()


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / len(a.getbands())


def largest_difference(a: Image.Image, b: Image.Image) -> int:
    extrema = ImageChops.difference(a, b).getextrema()
    return max(high for _, high in extrema) if a.mode != "L" else extrema[1]


def variants(data: bytes) -> dict[str, Image.Image]:
    probed = probe(data, allowed_formats=frozenset({"jpeg"}), max_pixels=50_000_000)
    made = make_variants(data, probed, DEFAULT_VARIANTS)
    return {v.name: opened(v.data).convert("RGB") for v in made}


@pytest.mark.parametrize(
    ("size", "needed", "eighths"),
    [
        ((2560, 1600), (1600, 1000), 5),
        ((2133, 1333), (1600, 1000), 6),
        ((1900, 1200), (1600, 1000), 7),
    ],
)
def test_a_need_between_four_and_eight_eighths_is_decoded_at_that_scale(size, needed, eighths):
    data = jpeg(picture(size))

    decoded = jpeg_decoder.decode(data, opened(data), needed)

    assert decoded is not None
    expected = dct_size(size, needed, DCT_EIGHTHS + TURBOJPEG_EIGHTHS)
    assert expected[0] == eighths
    assert (decoded.mode, decoded.size) == ("RGB", expected[1])
    assert decoded.width >= needed[0] and decoded.height >= needed[1]


@pytest.mark.parametrize(
    ("size", "needed"), [((3000, 2000), (1500, 1000)), ((800, 600), (800, 600)), ((64, 1), (64, 1))]
)
def test_where_pillow_reaches_the_scale_or_only_the_whole_covers_pillow_decodes(size, needed):
    data = jpeg(picture(size))

    assert jpeg_decoder.decode(data, opened(data), needed) is None


# At 4/8 both decoders reach the same scale; libjpeg-turbo 3.1.2 (simplejpeg) and 3.2.0
# (Pillow) give the same pixels there, so a 5/8 decode is the one Pillow would make.
@pytest.mark.parametrize(
    ("mode", "options"),
    [
        ("RGB", {"subsampling": 0}),
        ("RGB", {"subsampling": 1}),
        ("RGB", {"subsampling": 2}),
        ("RGB", {"progressive": True}),
        ("RGB", {"restart_marker_blocks": 3}),
        ("L", {}),
    ],
    ids=["444", "422", "420", "progressive", "restart-markers", "grey"],
)
def test_turbojpeg_gives_pillows_pixels_at_a_scale_both_reach(mode, options):
    data = jpeg(picture((1001, 667), mode, noise=0.3), **options)
    colourspace = "GRAY" if mode == "L" else "RGB"
    pixels = simplejpeg.decode_jpeg(data, colourspace, min_width=501, min_height=334)
    turbo = Image.frombuffer(mode, pixels.shape[1::-1], pixels, "raw", mode, 0, 1)

    pillow = opened(data)
    pillow.draft(mode, (500, 333))  # Pillow takes 1/2 when both sides fit twice

    assert pillow.size == turbo.size == (501, 334)
    assert largest_difference(turbo, pillow.convert(mode)) == 0


@pytest.mark.parametrize("name", ["camera-fallenleaf.jpg", "camera-kite.jpg"])
def test_a_camera_photo_decoded_at_five_eighths_matches_a_full_size_resize(name):
    data = (photos() / name).read_bytes()
    original = opened(data).convert("RGB")
    assert jpeg_decoder.decode(data, opened(data), (1600, 1000)) is not None

    made = variants(data)

    preview = made["preview"]
    assert preview.size == (1600, 1000)
    assert mean_difference(preview, original.resize(preview.size, Image.Resampling.LANCZOS)) < 2
    cover = ImageOps.fit(original, (1280, 720), Image.Resampling.LANCZOS)
    rotated = cover.transpose(Image.Transpose.ROTATE_180)
    assert mean_difference(made["hd-rotated"], rotated) < 2


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_an_odd_sized_sideways_jpeg_is_decoded_at_the_scale_its_upright_variants_need(mode):
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6  # stored 1601 x 2561, shown 2561 x 1601
    upright = picture((2561, 1601), mode)
    data = jpeg(upright.transpose(Image.Transpose.ROTATE_90), exif=exif)
    image = opened(data)
    decoded = jpeg_decoder.decode(data, image, (1001, 1601))
    assert decoded is not None and decoded.mode == mode
    assert decoded.size == (1001, 1601)  # ceil(1601 * 5 / 8), ceil(2561 * 5 / 8)

    preview = variants(data)["preview"]

    assert preview.size == (1600, 1000)
    reference = upright.convert("RGB").resize(preview.size, Image.Resampling.LANCZOS)
    assert mean_difference(preview, reference) < 2


def test_without_the_library_pillow_decodes_the_same_variants(monkeypatch):
    data = jpeg(picture((2560, 1600)))
    fast = variants(data)["preview"]
    monkeypatch.setattr(jpeg_decoder, "simplejpeg", None)
    assert jpeg_decoder.decode(data, opened(data), (1600, 1000)) is None

    slow = variants(data)["preview"]

    assert slow.size == fast.size
    assert mean_difference(slow, fast) < 1.5


def test_a_cmyk_jpeg_is_left_to_pillow():
    data = jpeg(picture((2560, 1600), "CMYK"))

    assert jpeg_decoder.decode(data, opened(data), (1600, 1000)) is None
    assert variants(data)["preview"].size == (1600, 1000)


@pytest.mark.parametrize("share", [0.3, 0.9])
def test_a_truncated_jpeg_is_declined_and_pillow_rejects_it_as_corrupt(share, monkeypatch):
    data = jpeg(picture((2560, 1600)))
    cut = data[: int(len(data) * share)]
    assert jpeg_decoder.decode(cut, opened(cut), (1600, 1000)) is None
    taken = record_faster_decoder(monkeypatch, "jpeg")

    with pytest.raises(Rejected) as caught:
        variants(cut)

    assert taken == [False]  # declined
    assert caught.value.code == "corrupt"


def test_the_memory_estimate_covers_a_seven_eighths_decode_measured_in_a_fresh_process(tmp_path):
    """7/8 is where TurboJPEG's decode is dearest: its 3-byte array and Pillow's 4-byte copy
    of 49/64 of the pixels, more than Pillow's whole decode."""
    from tests.unit.test_memory_bound import limits

    path = tmp_path / "camera.jpg"
    path.write_bytes(jpeg(picture((1900, 1200), noise=0.3)))

    measured = limits.measure(path)

    assert measured["verdict"] == "ready", measured
    assert measured["estimateMb"] >= measured["peakMb"], measured
