"""The pure computations made at upload: placeholder and colours, fingerprint, focal point."""

import base64
import io

import pytest
import thumbhash
from PIL import Image, ImageDraw

from chalicelib.imaging import fingerprint, focus, geometry, placeholder
from tests.support.corpus import photos


def _glance(image: Image.Image, side: int = 64) -> Image.Image:
    small = image.copy()
    small.thumbnail((side, side), Image.Resampling.BOX)
    return small


def test_the_placeholder_carries_the_pictures_colour_shape_and_layout():
    image = Image.new("RGB", (200, 100), (200, 40, 40))
    ImageDraw.Draw(image).rectangle((100, 0, 200, 100), fill=(40, 40, 200))
    described = placeholder.describe(_glance(image))
    hashed = list(base64.b64decode(described.placeholder))
    assert len(hashed) < 30
    assert thumbhash.thumb_hash_to_approximate_aspect_ratio(hashed) == pytest.approx(2, rel=0.15)
    red, green, blue, alpha = thumbhash.thumb_hash_to_average_rgba(hashed)
    assert (red, green, blue, alpha) == pytest.approx((120 / 255, 40 / 255, 120 / 255, 1), abs=0.03)
    mirrored = placeholder.describe(_glance(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    assert mirrored.placeholder != described.placeholder  # the layout, not only the mean


def test_average_and_dominant_colour_of_a_two_colour_picture():
    image = Image.new("RGB", (100, 100), (250, 250, 250))
    ImageDraw.Draw(image).rectangle((0, 0, 24, 99), fill=(0, 0, 250))  # a quarter blue
    described = placeholder.describe(_glance(image))
    assert described.dominant == "#fafafa"
    red = int(described.average[1:3], 16)
    assert 180 <= red <= 195  # three quarters of 250


def test_transparent_pixels_count_for_no_colour():
    image = Image.new("RGBA", (64, 64), (255, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((0, 0, 31, 63), fill=(0, 200, 0, 255))
    described = placeholder.describe(image)
    assert described.average == "#00c800"
    assert described.dominant == "#00c800"


def test_the_fingerprint_survives_reencoding_and_resizing_of_a_real_photo():
    original = Image.open(photos() / "camera-kite.jpg").convert("RGB")
    reference = fingerprint.dhash(_glance(original))
    buffer = io.BytesIO()
    original.resize((640, 400)).save(buffer, "JPEG", quality=35)
    copy = Image.open(io.BytesIO(buffer.getvalue()))
    assert fingerprint.distance(reference, fingerprint.dhash(_glance(copy))) <= 3
    other = Image.open(photos() / "camera-storm.jpg").convert("RGB")
    assert fingerprint.distance(reference, fingerprint.dhash(_glance(other))) > 10


def test_hashes_within_the_distance_always_share_a_band():
    value = 0x0123456789ABCDEF
    for flips in ((0, 11, 22, 33, 44), (1, 2, 3, 4, 5), (59, 60, 61, 62, 63), (10, 21, 32, 43, 53)):
        near = value
        for bit in flips:
            near ^= 1 << bit
        assert fingerprint.distance(value, near) == fingerprint.MAX_DISTANCE
        assert set(fingerprint.bands(value)) & set(fingerprint.bands(near))


def test_bands_name_their_position():
    keys = fingerprint.bands(0xFFFF_FFFF_FFFF_FFFF)
    assert keys == ["0:07ff", "1:07ff", "2:07ff", "3:07ff", "4:03ff", "5:03ff"]
    assert fingerprint.from_hex(fingerprint.to_hex(0xAB)) == 0xAB


def test_the_focal_point_finds_a_small_subject_off_centre():
    image = Image.new("RGB", (160, 90), (120, 160, 200))
    ImageDraw.Draw(image).ellipse((118, 20, 130, 32), fill=(230, 120, 20))
    x, y = focus.focal_point(_glance(image))
    assert x == pytest.approx(124 / 160, abs=0.05)
    assert y == pytest.approx(26 / 90, abs=0.08)


def test_a_flat_picture_has_its_focus_in_the_centre():
    assert focus.focal_point(Image.new("RGB", (64, 40), "grey")) == geometry.CENTRE
    assert focus.focal_point(Image.new("RGB", (2, 2), "grey")) == geometry.CENTRE


def test_a_cover_crop_is_placed_on_the_focus_within_the_side():
    assert geometry.cover_offset(1000, 400, 0.5) == 300
    assert geometry.cover_offset(1000, 400, 0.9) == 600  # as far right as the side allows
    assert geometry.cover_offset(1000, 400, 0.0) == 0
    assert geometry.cover_offset(1000, 400, 0.3) == 100
    assert geometry.cover_offset(400, 400, 0.9) == 0


@pytest.mark.parametrize("name", ["photo-20mp-kleiber.jpg", "small-coffee.png", "camera-kite.jpg"])
def test_the_thumbhash_encoder_agrees_byte_for_byte_with_pypis_on_real_photos(name):
    image = Image.open(photos() / name)
    image.draft("RGB", (512, 512))
    small = _glance(image.convert("RGBA"), 32)
    reference = thumbhash.rgba_to_thumb_hash(small.width, small.height, list(small.tobytes()))
    assert placeholder.encode_thumbhash(small) == bytes(reference)


def test_a_transparent_picture_gets_a_placeholder_with_alpha():
    image = Image.new("RGBA", (40, 20), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((10, 0, 30, 19), fill=(250, 200, 0, 255))
    hashed = list(placeholder.encode_thumbhash(image))
    assert hashed[2] >> 7 == 1  # the header's alpha flag
    assert thumbhash.thumb_hash_to_average_rgba(hashed)[3] < 0.6
