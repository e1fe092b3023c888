"""Uploads end to end over real HTTP: presigned POSTs as a browser sends them, S3 events,
processing, and the variants read back through the 307 redirects."""

import io
import json
import time

import pytest
import requests
from PIL import Image, ImageChops, ImageOps, ImageStat

from tests.support import corpus, pictures
from tests.support.localstack import upload, wait_until_done

pytestmark = pytest.mark.e2e

PHOTOS = [name for name in corpus.EXPECTED]
ORIENTATIONS = [f"hopper_orientation_{n}.jpg" for n in range(2, 9)]
CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "tif": "image/tiff",
}


@pytest.fixture(scope="module")
def photos():
    return corpus.photos()


def fetch_variant(stack, user: str, image_id: str, variant: str) -> bytes:
    redirect = stack.call("GET", f"/images/{image_id}/content/{variant}", user)
    assert redirect.status_code == 307, redirect.text
    response = requests.get(redirect.headers["Location"], timeout=30)
    assert response.status_code == 200
    return response.content


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    a, b = a.convert("RGB"), b.convert("RGB").resize(a.size)
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def send(stack, path, user="demo"):
    data = path.read_bytes()
    content_type = CONTENT_TYPES[path.suffix.lstrip(".")]
    image = upload(stack, user, data, filename=path.name, content_type=content_type)
    return data, wait_until_done(stack, user, image["id"], timeout=60)


def fits(size, box):
    return size[0] <= box[0] and size[1] <= box[1]


@pytest.mark.parametrize("name", PHOTOS)
def test_a_real_photo_becomes_ready_with_correct_variants(stack, photos, name):
    data, record = send(stack, photos / name)
    assert record["status"] == "ready", record.get("failure")
    original = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    assert (record["width"], record["height"]) == original.size
    aspect = original.width / original.height
    for variant, box in (("thumbnail", (256, 256)), ("preview", (1600, 1600))):
        got = Image.open(io.BytesIO(fetch_variant(stack, "demo", record["id"], variant)))
        assert fits(got.size, box)
        assert max(got.size) == min(max(box), max(original.size))
        assert abs(got.width / got.height - aspect) < 0.02
        assert got.format in ("JPEG", "WEBP")
        assert not got.getexif()
        assert "exif" not in got.info
    hd = Image.open(io.BytesIO(fetch_variant(stack, "demo", record["id"], "hd-rotated")))
    assert hd.size == (1280, 720)
    assert not hd.getexif()
    # The cover crop is centred on the focus learnt at upload, as far as the picture allows.
    reference = pictures.cover_at(original.convert("RGB"), (1280, 720), record["focus"])
    reference = reference.transpose(Image.Transpose.ROTATE_180)
    assert mean_difference(reference, hd) < 6
    assert mean_difference(reference.transpose(Image.Transpose.ROTATE_180), hd) > mean_difference(
        reference, hd
    )


@pytest.mark.parametrize("name", ORIENTATIONS)
def test_exif_orientation_is_applied_before_variants(stack, name):
    _, record = send(stack, corpus.ORIENTATION / name)
    assert record["status"] == "ready"
    reference = Image.open(corpus.ORIENTATION / "hopper.jpg")
    preview = Image.open(io.BytesIO(fetch_variant(stack, "demo", record["id"], "preview")))
    assert preview.size == reference.size
    assert mean_difference(reference, preview) < 10


def test_camera_exif_with_gps_is_stripped_from_variants(stack):
    picture = Image.new("RGB", (800, 600), (90, 20, 200))
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    exif.get_ifd(0x8825)[2] = (52.0, 31.0, 0.0)  # GPSLatitude
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", exif=exif)
    assert Image.open(io.BytesIO(buffer.getvalue())).getexif().get_ifd(0x8825)
    image = upload(stack, "demo", buffer.getvalue(), filename="gps.jpg")
    record = wait_until_done(stack, "demo", image["id"])
    for variant in ("thumbnail", "preview", "hd-rotated"):
        got = Image.open(io.BytesIO(fetch_variant(stack, "demo", record["id"], variant)))
        assert not got.getexif()
        assert not got.getexif().get_ifd(0x8825)


def small_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 300), (200, 10, 10)).save(buffer, "JPEG")
    return buffer.getvalue()


BAD_UPLOADS = {
    "a text file named .jpg": (
        b"hello, I am text\n" * 10,
        "notes.jpg",
        "image/jpeg",
        "not_an_image",
    ),
    "a truncated JPEG": (None, "cut.jpg", "image/jpeg", "corrupt"),
    "a 0-byte upload": (b"", "empty.jpg", "image/jpeg", "empty"),
    "an HTML file sent as image/png": (
        b"<!DOCTYPE html><html><script>x</script></html>",
        "page.png",
        "image/png",
        "not_an_image",
    ),
    "a PNG whose header claims 100000x100000": (
        pictures.png_claiming(100_000, 100_000),
        "bomb.png",
        "image/png",
        "too_many_pixels",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_a_bad_upload_ends_failed_with_a_code_and_a_message(stack, case):
    data, filename, content_type, code = BAD_UPLOADS[case]
    if data is None:
        whole = io.BytesIO()
        Image.new("RGB", (1600, 1200), (1, 2, 3)).save(whole, "JPEG", quality=95)
        data = whole.getvalue()[: len(whole.getvalue()) // 3]
    image = upload(stack, "demo", data, filename=filename, content_type=content_type)
    record = wait_until_done(stack, "demo", image["id"])
    assert record["status"] == "failed"
    assert record["failure"]["code"] == code
    assert len(record["failure"]["message"]) > 10
    assert stack.call("GET", f"/images/{image['id']}/content/original", "demo").status_code == 409


def test_an_object_above_max_upload_bytes_fails_as_too_large(stack):
    oversized = b"\xff\xd8\xff" + b"\0" * (25 * 1024 * 1024)
    image = upload(stack, "demo", oversized, filename="big.jpg")
    record = wait_until_done(stack, "demo", image["id"])
    assert record["status"] == "failed"
    assert record["failure"]["code"] == "too_large"


def wait_for(stack, image_id: str, done, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        record = stack.call("GET", f"/images/{image_id}", "demo").json()
        if done(record):
            return record
        assert time.monotonic() < deadline, f"still {record['status']} after {timeout}s"
        time.sleep(0.2)


def test_an_upload_url_used_again_after_ready_never_leaves_unchecked_bytes_served(stack):
    created = stack.call(
        "POST", "/images", "demo", json={"filename": "again.jpg", "contentType": "image/jpeg"}
    )
    form = created.json()["upload"]
    image_id = created.json()["image"]["id"]

    def post(data: bytes) -> None:
        files = {"file": ("again.jpg", data, "image/jpeg")}
        sent = requests.post(form["url"], data=form["fields"], files=files, timeout=60)
        assert sent.status_code in (200, 201, 204), sent.text

    post(pictures.jpeg((800, 600), (200, 40, 40)))
    first = wait_for(stack, image_id, lambda r: r["status"] == "ready")
    post(pictures.jpeg((600, 800), (40, 40, 200)))
    second = wait_for(
        stack, image_id, lambda r: r["status"] == "ready" and r["version"] > first["version"]
    )
    assert (second["width"], second["height"]) == (600, 800)

    post(b"<html><script>alert(1)</script></html>")
    third = wait_for(stack, image_id, lambda r: r["status"] == "failed")
    assert third["failure"]["code"] == "not_an_image"
    original = stack.call("GET", f"/images/{image_id}/content/original", "demo")
    assert original.status_code == 409


def test_the_same_s3_event_delivered_twice_changes_nothing_the_second_time(stack):
    image = upload(stack, "demo", small_jpeg())
    record = wait_until_done(stack, "demo", image["id"])
    assert record["status"] == "ready"
    key = f"uploads/{image['id']}/"
    s3 = stack.client("s3")
    listed = s3.list_objects_v2(Bucket=stack.state["bucket"], Prefix=key)["Contents"]
    variants_before = s3.list_objects_v2(
        Bucket=stack.state["bucket"], Prefix=f"variants/{image['id']}/"
    )["KeyCount"]
    event = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventName": "ObjectCreated:Post",
                "s3": {
                    "bucket": {"name": stack.state["bucket"]},
                    "object": {"key": listed[0]["Key"], "size": listed[0]["Size"]},
                },
            }
        ]
    }
    sqs = stack.client("sqs")
    queue = sqs.get_queue_url(QueueName="image-service-local-uploads")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
        if (
            attributes["ApproximateNumberOfMessages"] == "0"
            and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
        ):
            break
        time.sleep(0.2)
    after = stack.call("GET", f"/images/{image['id']}", "demo").json()
    assert after["version"] == record["version"]
    assert after["processedAt"] == record["processedAt"]
    variants_after = s3.list_objects_v2(
        Bucket=stack.state["bucket"], Prefix=f"variants/{image['id']}/"
    )["KeyCount"]
    assert variants_after == variants_before == 4  # three variants and the shared original


def test_content_is_409_until_ready_and_404_for_unknown_variants(stack):
    created = stack.call(
        "POST", "/images", "demo", json={"filename": "later.jpg", "contentType": "image/jpeg"}
    )
    image_id = created.json()["image"]["id"]
    response = stack.call("GET", f"/images/{image_id}/content/preview", "demo")
    assert response.status_code == 409
    assert response.json()["Code"] == "ConflictError"
    assert stack.call("GET", f"/images/{image_id}/content/poster", "demo").status_code == 404


def test_someone_elses_image_is_not_found(stack):
    if "mallory" not in stack.state["users"]:
        stack.create_user("mallory")
    image = upload(stack, "demo", small_jpeg())
    wait_until_done(stack, "demo", image["id"])
    for path in (f"/images/{image['id']}", f"/images/{image['id']}/content/original"):
        response = stack.call("GET", path, "mallory")
        assert response.status_code == 404
    assert stack.call("GET", "/images/img_doesnotexist", "demo").status_code == 404


def test_a_small_image_can_be_sent_as_the_request_body(stack):
    response = stack.call(
        "POST",
        "/images/raw",
        "demo",
        data=small_jpeg(),
        headers={"Content-Type": "image/jpeg", "X-Filename": "raw.jpg"},
    )
    assert response.status_code == 202, response.text
    image = response.json()["image"]
    assert image["filename"] == "raw.jpg"
    record = wait_until_done(stack, "demo", image["id"])
    assert record["status"] == "ready"
    assert record["format"] == "jpeg"


def test_a_png_sent_as_jpeg_is_recorded_as_png(stack):
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (0, 80, 0)).save(buffer, "PNG")
    image = upload(stack, "demo", buffer.getvalue(), filename="renamed.jpg")
    record = wait_until_done(stack, "demo", image["id"])
    assert (record["status"], record["format"], record["declaredType"]) == (
        "ready",
        "png",
        "image/jpeg",
    )


def test_a_direct_body_above_4_mb_is_413_and_a_text_body_is_415(stack):
    big = stack.call(
        "POST",
        "/images/raw",
        "demo",
        data=b"\xff" * (4 * 1024 * 1024 + 1),
        headers={"Content-Type": "image/jpeg"},
    )
    assert big.status_code == 413
    text = stack.call(
        "POST", "/images/raw", "demo", data=b"hello", headers={"Content-Type": "text/plain"}
    )
    assert text.status_code == 415


@pytest.mark.parametrize(
    "declared",
    [
        "text/html; image/png",
        "image/png, text/html",
        "image/svg+xml; image/png",
        "image/png; charset=utf-8",
        "image/png;text/html",
    ],
)
def test_a_direct_upload_declaring_more_than_one_exact_image_type_is_415(stack, declared):
    png = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 0, 0)).save(png, "PNG")
    before = stack.call("GET", "/uploads?limit=1", "demo").json()["uploads"]
    response = stack.call(
        "POST", "/images/raw", "demo", data=png.getvalue(), headers={"Content-Type": declared}
    )
    assert response.status_code == 415, response.text
    assert "exactly one of" in response.json()["Message"]
    assert "image/png" in response.json()["Message"]
    assert stack.call("GET", "/uploads?limit=1", "demo").json()["uploads"] == before


def test_an_image_body_on_the_json_route_is_415(stack):
    response = stack.call(
        "POST", "/images", "demo", data=small_jpeg(), headers={"Content-Type": "image/jpeg"}
    )
    assert response.status_code == 415


@pytest.mark.parametrize("declared", ["text/html", "image/png; charset=utf-8", " image/svg+xml"])
def test_a_presigned_upload_of_a_type_that_is_not_exactly_accepted_is_415(stack, declared):
    response = stack.call(
        "POST", "/images", "demo", json={"filename": "a.png", "contentType": declared}
    )
    assert response.status_code == 415, response.text
    assert "exactly one of" in response.json()["Message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"contentType": "image/jpeg"}, "filename"),
        ({"filename": "", "contentType": "image/jpeg"}, "filename"),
        ({"filename": "x" * 256, "contentType": "image/jpeg"}, "filename"),
        ({"filename": "a\u0000b.jpg", "contentType": "image/jpeg"}, "filename"),
        ({"filename": "a.jpg"}, "contentType"),
        ({"filename": "a.jpg", "contentType": "image/jpeg", "title": "t" * 201}, "title"),
        (
            {"filename": "a.jpg", "contentType": "image/jpeg", "description": "d" * 2001},
            "description",
        ),
        ({"filename": "a.jpg", "contentType": "image/jpeg", "owner": "x"}, "owner"),
    ],
)
def test_a_bad_create_request_is_400_naming_the_field(stack, body, field):
    response = stack.call("POST", "/images", "demo", json=body)
    assert response.status_code == 400
    assert field in response.json()["Message"]


@pytest.mark.parametrize("raw", [b"{", b"[]", b"null", b"\xff\xfe"])
def test_a_malformed_json_body_is_400(stack, raw):
    response = stack.call(
        "POST", "/images", "demo", data=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


def test_the_presigned_post_is_bound_to_key_type_size_and_a_short_expiry(stack):
    import base64

    created = stack.call(
        "POST", "/images", "demo", json={"filename": "p.jpg", "contentType": "image/jpeg"}
    ).json()
    form = created["upload"]
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    conditions = policy["conditions"]
    assert {"key": form["fields"]["key"]} in conditions
    assert {"Content-Type": "image/jpeg"} in conditions
    assert ["content-length-range", 1, 25 * 1024 * 1024] in conditions
    assert form["expiresIn"] <= 900
    assert form["fields"]["key"].startswith(f"uploads/{created['image']['id']}/")
