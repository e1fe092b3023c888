"""What an outside probe found (issue 16), closed and pinned over HTTP: what is served never
carries a caller-chosen type, downloads are named safely, and only the owner gets the
original with where the photo was taken."""

import io
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from PIL import Image

from tests.support.localstack import upload, wait_until_done

pytestmark = pytest.mark.e2e

GPS_IFD = 0x8825
EXIF_IFD = 0x8769
MAKER_NOTE = 0x927C


def photo_taken_at_home() -> bytes:
    """A JPEG with a GPS position, a maker note, an XMP location and a comment."""
    picture = Image.new("RGB", (320, 240), (30, 120, 200))
    picture.paste((250, 200, 0), (40, 40, 200, 120))
    exif = Image.Exif()
    exif[0x010F] = "Acme"
    exif[0x0112] = 6
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2] = "N", (52.0, 31.0, 12.0)
    exif.get_ifd(EXIF_IFD)[MAKER_NOTE] = b"serial 12345"
    out = io.BytesIO()
    picture.save(
        out,
        "JPEG",
        quality=90,
        exif=exif,
        comment=b"our flat",
        xmp=b"<x:xmpmeta><photoshop:City>Berlin</photoshop:City></x:xmpmeta>",
    )
    return out.getvalue()


@pytest.fixture(scope="module")
def shared_photo(stack):
    """A photo the owner (demo) put in a collection gps-reader belongs to, declared as PNG
    and named with a right-to-left override."""
    stack.create_user("gps-reader")
    reader = stack.call("GET", "/me", "gps-reader").json()["sub"]
    collection = stack.call("POST", "/collections", "demo", json={"name": "trip"}).json()
    added = stack.call(
        "POST", f"/collections/{collection['id']}/members", "demo", json={"userId": reader}
    )
    assert added.status_code == 201, added.text
    data = photo_taken_at_home()
    created = upload(
        stack,
        "demo",
        data,
        filename="holiday\u202egnp.html",
        content_type="image/png",
        collectionId=collection["id"],
    )
    record = wait_until_done(stack, "demo", created["id"])
    assert record["status"] == "ready", record.get("failure")
    return record["id"], data


def download(stack, user: str, image_id: str, variant: str = "original") -> requests.Response:
    answer = stack.call("GET", f"/images/{image_id}/content/{variant}", user)
    assert answer.status_code == 307, answer.text
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    got = requests.get(answer.headers["Location"], timeout=30)
    assert got.status_code == 200
    return got


def test_the_owner_downloads_the_exact_original_served_as_its_verified_type(stack, shared_photo):
    image_id, data = shared_photo
    got = download(stack, "demo", image_id)
    assert got.content == data
    assert got.headers["Content-Type"] == "image/jpeg"  # declared image/png: never served so


def test_a_download_is_named_by_rfc_6266_without_bidirectional_controls(stack, shared_photo):
    image_id, _ = shared_photo
    answer = stack.call("GET", f"/images/{image_id}/content/original", "demo")
    disposition = parse_qs(urlparse(answer.headers["Location"]).query)[
        "response-content-disposition"
    ][0]
    assert disposition == ("inline; filename=\"holidaygnp.jpg\"; filename*=UTF-8''holidaygnp.jpg")
    assert "\u202e" not in download(stack, "demo", image_id).headers["Content-Disposition"]


@pytest.mark.parametrize("reader", ["gps-reader", "admin"])
def test_everyone_but_the_owner_gets_the_original_without_where_it_was_taken(
    stack, shared_photo, reader
):
    image_id, data = shared_photo
    got = download(stack, reader, image_id)
    assert got.headers["Content-Type"] == "image/jpeg"
    shared = Image.open(io.BytesIO(got.content))
    exif = shared.getexif()
    assert exif.get_ifd(GPS_IFD) == {}
    assert MAKER_NOTE not in exif.get_ifd(EXIF_IFD)
    assert dict(exif) == {0x0112: 6}  # the orientation alone, so it still shows upright
    for private in (b"Berlin", b"our flat", b"serial 12345", b"Acme"):
        assert private not in got.content
    # Lossless: the same compressed picture, not a re-encode.
    assert shared.tobytes() == Image.open(io.BytesIO(data)).tobytes()
    record = stack.call("GET", f"/images/{image_id}", reader).json()
    assert requests.get(record["links"]["original"], timeout=30).content == got.content


def test_an_api_key_gets_the_original_without_where_it_was_taken(stack, shared_photo):
    image_id, _ = shared_photo
    key = stack.call("POST", "/admin/api-keys", "admin", json={"name": "gps"}).json()
    answer = requests.get(
        f"{stack.api}/external/images/{image_id}/content/original",
        headers={"X-Api-Key": key["secret"]},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 307, answer.text
    got = requests.get(answer.headers["Location"], timeout=30)
    assert Image.open(io.BytesIO(got.content)).getexif().get_ifd(GPS_IFD) == {}


def test_variants_are_served_as_their_own_format(stack, shared_photo):
    image_id, _ = shared_photo
    assert (
        download(stack, "gps-reader", image_id, "thumbnail").headers["Content-Type"] == "image/jpeg"
    )


def test_json_answers_say_nosniff(stack):
    assert stack.call("GET", "/me", "demo").headers["X-Content-Type-Options"] == "nosniff"
    refused = stack.call("GET", "/images/img_nope", "demo")
    assert refused.status_code == 404
    assert refused.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("declared", ["text/html; image/png", "image/png, text/html"])
def test_a_replacement_declaring_more_than_one_exact_image_type_is_415(
    stack, shared_photo, declared
):
    image_id, _ = shared_photo
    response = stack.call(
        "POST",
        f"/images/{image_id}/upload",
        "demo",
        json={"filename": "new.png", "contentType": declared},
    )
    assert response.status_code == 415, response.text
    assert "exactly one of" in response.json()["Message"]
