"""What an upload learns, end to end over HTTP: placeholder, colours and focus in the record
and listings, a copy found as a duplicate (listed by ?duplicates=true), the focus edited
with PATCH and used by cover renders."""

import io

import pytest
import requests
from PIL import Image

from tests.support import corpus
from tests.support.localstack import upload, wait_until_done

pytestmark = pytest.mark.e2e
USER = "knowledge"


def test_an_upload_and_its_copy_are_known_listed_and_refocused(stack):
    stack.create_user(USER)
    photo = (corpus.photos() / "camera-fallenleaf.jpg").read_bytes()
    smaller = Image.open(io.BytesIO(photo))
    smaller.thumbnail((900, 900))
    buffer = io.BytesIO()
    smaller.save(buffer, "JPEG", quality=45)

    first = wait_until_done(stack, USER, upload(stack, USER, photo, filename="leaf.jpg")["id"])
    copy_id = upload(stack, USER, buffer.getvalue(), filename="leaf-small.jpg")["id"]
    copy = wait_until_done(stack, USER, copy_id)
    assert first["status"] == copy["status"] == "ready"
    assert first["placeholder"] and first["colors"]["average"].startswith("#")
    assert first["focus"]["x"] > 0.6  # the leaf right of centre
    assert copy["duplicateOf"] == [first["id"]] and first["duplicateOf"] == []

    listed = stack.call("GET", "/images?duplicates=true", USER).json()["images"]
    assert [image["id"] for image in listed] == [copy_id]
    assert "placeholder" in listed[0]

    version = copy["version"]
    patched = stack.call(
        "PATCH",
        f"/images/{copy_id}",
        USER,
        json={"focus": {"x": 0.1, "y": 0.5}},
        headers={"If-Match": f'"v{version}"'},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["focus"] == {"x": 0.1, "y": 0.5}
    refused = stack.call("PATCH", f"/images/{copy_id}", USER, json={"focus": {"x": 3, "y": 0}})
    assert refused.status_code == 400 and "focus" in refused.text

    def cover(gravity: str) -> Image.Image:
        path = f"/images/{copy_id}/render?w=200&h=400&fit=cover&format=png&gravity={gravity}"
        redirect = stack.call("GET", path, USER)
        assert redirect.status_code == 307, redirect.text
        return Image.open(
            io.BytesIO(requests.get(redirect.headers["Location"], timeout=30).content)
        )

    left, centre = cover("focus"), cover("centre")
    whole = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    strip = whole.crop((0, 0, whole.height // 2, whole.height)).resize(left.size)  # 1:2, left
    assert _difference(left, strip) < _difference(centre, strip)
    bad = stack.call("GET", f"/images/{copy_id}/render?w=200&h=400&fit=cover&gravity=top", USER)
    assert bad.status_code == 400


def _difference(a: Image.Image, b: Image.Image) -> float:
    pairs = zip(
        a.convert("L").get_flattened_data(), b.convert("L").get_flattened_data(), strict=True
    )
    return sum(abs(x - y) for x, y in pairs) / (a.width * a.height)
