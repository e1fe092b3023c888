"""What each upload learns, in-process against moto: the record's placeholder, colours,
fingerprint and focus; duplicates found by the index; the focus edited and used."""

import io

import pytest
from PIL import Image, ImageDraw

from chalicelib import aws, blobs, image_operations, processing, records, renders, settings
from chalicelib.access import Access
from chalicelib.callers import Caller
from chalicelib.errors import Conflict, Invalid
from tests.support.corpus import photos

ALICE = Caller(id="alice-sub", name="alice")
BOB = Caller(id="bob-sub", name="bob")


def scene(size=(1600, 900), at=(0.78, 0.3), quality=90, fmt="JPEG") -> bytes:
    """A grey-blue sky with one small orange subject at `at`."""
    picture = Image.new("RGB", size, (120, 150, 190))
    x, y, r = at[0] * size[0], at[1] * size[1], size[0] // 40
    ImageDraw.Draw(picture).ellipse((x - r, y - r, x + r, y + r), fill=(240, 120, 20))
    buffer = io.BytesIO()
    picture.save(buffer, fmt, quality=quality)
    return buffer.getvalue()


def processed(data: bytes, caller: Caller = ALICE) -> dict:
    created = image_operations.create_image(
        Access(caller), {"filename": "sky.jpg", "contentType": "image/jpeg"}
    )
    key = created["upload"]["fields"]["key"]
    aws.client("s3").put_object(Bucket=settings.get().bucket, Key=key, Body=data)
    assert processing.process(key) == "ready"
    return records.get_image(created["image"]["id"]).public()


def test_a_ready_record_carries_its_placeholder_colours_fingerprint_and_focus(resources):
    record = processed(scene())
    assert 20 <= len(record["placeholder"]) <= 40
    dominant = bytes.fromhex(record["colors"]["dominant"][1:])
    assert all(abs(got - sky) <= 6 for got, sky in zip(dominant, (120, 150, 190), strict=True))
    assert record["colors"]["average"] != record["colors"]["dominant"]  # the subject counts
    assert len(record["fingerprint"]) == 16
    assert record["focus"]["x"] == pytest.approx(0.78, abs=0.06)
    assert record["focus"]["y"] == pytest.approx(0.3, abs=0.08)
    assert record["duplicateOf"] == []
    listed = image_operations.list_images(ALICE, {})["images"]
    assert listed[0]["placeholder"] == record["placeholder"]


def _copy(name: str, width: int, quality: int) -> bytes:
    picture = Image.open(photos() / name).convert("RGB")
    picture.thumbnail((width, width))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def test_a_copy_of_a_real_photo_is_found_for_its_owner_and_listed_as_a_duplicate(resources):
    first = processed((photos() / "camera-kite.jpg").read_bytes())
    other = processed((photos() / "camera-storm.jpg").read_bytes())
    copy = processed(_copy("camera-kite.jpg", 900, 40))
    elsewhere = processed((photos() / "camera-kite.jpg").read_bytes(), BOB)
    assert copy["duplicateOf"] == [first["id"]]
    assert other["duplicateOf"] == [] and elsewhere["duplicateOf"] == []
    # An image still awaiting its upload has no knowledge at all: the filter passes over it.
    image_operations.create_image(
        Access(ALICE), {"filename": "later.jpg", "contentType": "image/jpeg"}
    )
    listed = image_operations.list_images(ALICE, {"duplicates": "true"})["images"]
    assert [image["id"] for image in listed] == [copy["id"]]
    with pytest.raises(Invalid):
        image_operations.list_images(ALICE, {"duplicates": "yes"})


def test_a_deleted_original_is_not_named_by_a_later_copy(resources):
    first = processed(_copy("camera-storm.jpg", 1200, 80))
    image_operations.delete_image(records.get_image(first["id"]))
    assert processed(_copy("camera-storm.jpg", 700, 50))["duplicateOf"] == []


def orange(picture: Image.Image) -> int:
    """How many pixels of the subject a picture shows."""
    return sum(1 for r, g, b in picture.get_flattened_data() if r > 200 and g < 160 and b < 80)


def _hd(image_id: str) -> Image.Image:
    key = records.get_image(image_id).content.variants["hd-rotated"].key
    body = aws.client("s3").get_object(Bucket=settings.get().bucket, Key=key)["Body"].read()
    return Image.open(io.BytesIO(body)).convert("RGB")


def test_editing_the_focus_remakes_the_cover_variant_and_drops_renders(resources):
    record = processed(scene(size=(1200, 1200), at=(0.5, 0.1)))  # square: hd crops rows
    image = records.get_image(record["id"])
    renders.redirect_for(image, {"w": "200", "h": "100", "fit": "cover"}, None)
    before = _hd(record["id"])
    edited = image_operations.update_image(image, {"focus": {"x": 0.5, "y": 0.9}})
    assert edited["focus"] == {"x": 0.5, "y": 0.9}
    after = _hd(record["id"])
    assert orange(before) > 500  # the crop kept the subject near the top
    assert orange(after) == 0  # now it keeps the bottom, as asked
    listed = aws.client("s3").list_objects_v2(
        Bucket=settings.get().bucket, Prefix=f"{blobs.RENDERS}{record['id']}/"
    )
    assert listed.get("KeyCount", 0) == 0


def test_a_bad_focus_is_refused_by_name(resources):
    image = records.get_image(processed(scene(size=(400, 300)))["id"])
    for focus in ({"x": 2, "y": 0}, {"x": "a", "y": 0}, {"x": 0.5}, [0.5], {"x": True, "y": 0}):
        with pytest.raises(Invalid, match="focus"):
            image_operations.update_image(image, {"focus": focus})


def test_a_focus_cannot_be_set_before_the_image_is_processed(resources):
    created = image_operations.create_image(
        Access(ALICE), {"filename": "sky.jpg", "contentType": "image/jpeg"}
    )
    with pytest.raises(Conflict):
        image_operations.update_image(
            records.get_image(created["image"]["id"]), {"focus": {"x": 0.1, "y": 0.1}}
        )


def test_a_cover_render_keeps_the_subject_with_gravity_focus_and_not_with_centre(resources):
    record = processed(scene(at=(0.88, 0.4)))
    image = records.get_image(record["id"])

    def rendered(gravity: str) -> Image.Image:
        url = renders.redirect_for(
            image,
            {"w": "300", "h": "600", "fit": "cover", "format": "png", "gravity": gravity},
            None,
        )
        key = url.split("?")[0].split("/", 4)[4]
        body = aws.client("s3").get_object(Bucket=settings.get().bucket, Key=key)["Body"].read()
        return Image.open(io.BytesIO(body)).convert("RGB")

    assert orange(rendered("focus")) > 500
    assert orange(rendered("centre")) == 0
