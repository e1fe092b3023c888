"""Renders in-process against moto: the cache, the source each render is made from, refusals."""

import io
from urllib.parse import unquote, urlparse

import pytest
from PIL import Image

from chalicelib import aws, blobs, image_operations, processing, records, renders, settings
from chalicelib.access import Access
from chalicelib.callers import Caller
from chalicelib.errors import Conflict, Invalid

ALICE = Caller(id="alice-sub", name="alice")
CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


def jpeg(size=(2400, 1800)) -> bytes:
    picture = Image.linear_gradient("L").resize(size).convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def new_image(data: bytes | None = None) -> str:
    created = image_operations.create_image(
        Access(ALICE), {"filename": "hill.jpg", "contentType": "image/jpeg"}
    )
    if data is not None:
        key = created["upload"]["fields"]["key"]
        aws.client("s3").put_object(Bucket=settings.get().bucket, Key=key, Body=data)
        assert processing.process(key) == "ready"
    return created["image"]["id"]


def redirect(image_id: str, accept: str | None = None, **params: str) -> str:
    return renders.redirect_for(records.get_image(image_id), params, accept)


def key_in(url: str) -> str:
    """The object key a presigned GET points at (path-style: /bucket/key)."""
    return unquote(urlparse(url).path).split("/", 2)[2]


def stored(key: str) -> dict:
    return aws.client("s3").get_object(Bucket=settings.get().bucket, Key=key)


@pytest.fixture
def image_id(resources):
    return new_image(jpeg())


@pytest.fixture
def reads(monkeypatch):
    """The keys blobs.read was asked for, in order."""
    keys: list[str] = []
    real = blobs.read

    def spy(key: str, max_bytes: int, **options):
        keys.append(key)
        return real(key, max_bytes, **options)

    monkeypatch.setattr(blobs, "read", spy)
    return keys


def test_a_render_is_stored_once_with_an_immutable_cache_control(image_id, calls):
    calls.clear()
    url = redirect(image_id, w="800", format="webp")
    key = key_in(url)
    assert key.startswith(f"renders/{image_id}/") and key.endswith(".webp")
    assert calls["PutObject"] == 1
    obj = stored(key)
    assert obj["CacheControl"] == "public, max-age=31536000, immutable"
    assert obj["ContentType"] == "image/webp"
    picture = Image.open(obj["Body"])
    assert (picture.format, picture.size) == ("WEBP", (800, 600))


def test_a_second_identical_request_renders_nothing(image_id, calls, reads):
    first = key_in(redirect(image_id, w="800", h="800", fit="cover"))
    calls.clear()
    reads.clear()
    second = key_in(redirect(image_id, w="800", h="800", fit="cover"))
    assert second == first
    assert calls["PutObject"] == 0 and calls["GetObject"] == 0
    assert calls["HeadObject"] == 1
    assert reads == []


def test_a_cache_hit_costs_one_record_read_and_one_head(image_id, calls):
    redirect(image_id, w="300")
    calls.clear()
    renders.redirect_for(records.get_image(image_id), {"w": "300"}, None)
    assert dict(calls) == {"GetItem": 1, "HeadObject": 1}


def test_equivalent_parameter_orders_and_spellings_hit_the_same_entry(image_id, calls):
    first = key_in(redirect(image_id, w="640", h="480", fit="cover", format="jpeg", rotate="0"))
    calls.clear()
    for params in (
        {"rotate": "0", "format": "jpeg", "fit": "cover", "h": "480", "w": "640"},
        {"fit": "COVER", "h": "480", "w": "640", "format": "jpg", "q": "82"},
        {"h": "0480", "fit": "cover", "w": "640"},
    ):
        assert key_in(redirect(image_id, **params)) == first
    assert calls["PutObject"] == 0
    assert blobs.list_keys(f"renders/{image_id}/") == [first]


def test_auto_resolves_before_the_key_so_chrome_and_format_avif_share_it(image_id, calls):
    chrome = key_in(redirect(image_id, CHROME, w="400"))
    assert chrome.endswith(".avif")
    assert key_in(redirect(image_id, "*/*", w="400", format="avif")) == chrome
    assert key_in(redirect(image_id, "*/*", w="400")).endswith(".jpg")
    assert calls["PutObject"] == 2


def test_an_800_wide_render_is_made_from_the_preview(image_id, reads):
    preview = records.get_image(image_id).content.variants["preview"]
    assert (preview.width, preview.height) == (1600, 1200)
    redirect(image_id, w="800")
    assert reads == [preview.key]


def test_a_render_larger_than_the_preview_is_made_from_the_original(image_id, reads):
    content = records.get_image(image_id).content
    key = key_in(redirect(image_id, w="2000", format="png"))
    assert reads == [content.key]
    assert Image.open(stored(key)["Body"]).size == (2000, 1500)


def test_the_hd_rotated_variant_is_never_a_source(resources, reads):
    image_id = new_image(jpeg((1920, 1080)))
    content = records.get_image(image_id).content
    assert (content.variants["hd-rotated"].width, content.variants["hd-rotated"].height) == (
        1280,
        720,
    )
    reads.clear()
    redirect(image_id, w="1280")
    assert reads == [content.variants["preview"].key]


def test_a_render_keeps_the_picture_and_turns_it_clockwise(image_id):
    key = key_in(redirect(image_id, w="400", rotate="90", format="png"))
    picture = Image.open(stored(key)["Body"]).convert("L")
    assert picture.size == (300, 400)
    # The source is dark on the top edge; a clockwise quarter turn puts it on the right.
    assert picture.getpixel((295, 200)) < 30 < 225 < picture.getpixel((5, 200))


def test_an_image_without_content_is_a_conflict(resources, calls):
    image_id = new_image()
    calls.clear()
    with pytest.raises(Conflict, match="awaiting_upload"):
        redirect(image_id, w="100")
    assert calls["HeadObject"] == calls["PutObject"] == 0


def test_a_replacement_in_flight_still_renders_the_served_version(image_id, reads):
    image = records.get_image(image_id)
    image_operations.replace_content(
        ALICE, image, {"filename": "new.jpg", "contentType": "image/jpeg"}
    )
    replacing = records.get_image(image_id)
    assert replacing.status == "awaiting_upload"
    renders.redirect_for(replacing, {"w": "100"}, None)
    assert reads == [image.content.variants["thumbnail"].key]


def test_new_content_gets_new_render_keys(image_id):
    before = key_in(redirect(image_id, w="100"))
    created = image_operations.replace_content(
        ALICE, records.get_image(image_id), {"filename": "b.jpg", "contentType": "image/jpeg"}
    )
    key = created["upload"]["fields"]["key"]
    aws.client("s3").put_object(Bucket=settings.get().bucket, Key=key, Body=jpeg((1000, 800)))
    assert processing.process(key) == "ready"
    after = key_in(redirect(image_id, w="100"))
    assert after != before


REFUSED = [
    ({"w": "100", "size": "big"}, "size"),
    ({"w": "0"}, "w"),
    ({"w": "5000"}, "w"),
    ({"w": "abc"}, "w"),
    ({"h": "-1"}, "h"),
    ({"h": "1.5"}, "h"),
    ({"w": "100", "fit": "crop"}, "fit"),
    ({"w": "100", "h": "100", "fit": "cover", "rotate": "45"}, "rotate"),
    ({"w": "100", "format": "tiff"}, "format"),
    ({"w": "100", "q": "0"}, "q"),
    ({"w": "100", "q": "1000"}, "q"),
    ({"w": "100", "fit": "cover"}, "fit"),
    ({"h": "100", "fit": "fill"}, "fit"),
    ({}, "w or h"),
]


def test_each_invalid_parameter_is_refused_by_name_before_any_aws_call(image_id, calls):
    image = records.get_image(image_id)
    calls.clear()
    for params, named in REFUSED:
        with pytest.raises(Invalid) as raised:
            renders.redirect_for(image, params, CHROME)
        assert named in raised.value.message, (params, raised.value.message)
    assert sum(calls.values()) == 0


def test_sizes_outside_the_allow_list_are_refused(image_id, configure):
    configure(RENDER_SIZES="640x480,320x")
    assert key_in(redirect(image_id, w="320"))
    assert key_in(redirect(image_id, w="640", h="480", fit="cover"))
    with pytest.raises(Invalid, match="not an offered size"):
        redirect(image_id, w="321")


def test_the_largest_side_is_a_setting(image_id, configure):
    configure(MAX_RENDER_SIDE="500")
    with pytest.raises(Invalid, match="w must be from 1 to 500"):
        redirect(image_id, w="501")
