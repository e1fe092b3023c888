"""The HTTP conventions clients and caches expect, over HTTP against the local stack:
Location on 201/202, ETag with If-None-Match (304) and If-Match (412), Cache-Control on
answers that carry presigned links, a request id in every answer and every error body, one
error shape, and Idempotency-Key on POST /images."""

import io
import json
import uuid

import pytest
from PIL import Image

from chalicelib import openapi

pytestmark = pytest.mark.e2e

NEW = {"filename": "conventions.jpg", "contentType": "image/jpeg"}


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 20, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


def _create(stack, **headers):
    return stack.call("POST", "/images", "demo", json=NEW, headers=headers)


def test_a_created_image_is_named_by_location_and_its_upload_form_is_not_stored(stack):
    created = _create(stack)
    assert created.status_code == 201
    image_id = created.json()["image"]["id"]
    assert created.headers["Location"] == f"/images/{image_id}"
    assert created.headers["Cache-Control"] == "private, no-store"
    assert stack.call("GET", created.headers["Location"], "demo").json()["id"] == image_id


def test_a_one_step_upload_and_a_collection_and_a_key_are_named_by_location(stack):
    raw = stack.call(
        "POST", "/images/raw", "demo", data=_jpeg(), headers={"Content-Type": "image/jpeg"}
    )
    assert raw.status_code == 202
    assert raw.headers["Location"] == f"/images/{raw.json()['image']['id']}"
    made = stack.call("POST", "/collections", "demo", json={"name": "located"})
    assert made.headers["Location"] == f"/collections/{made.json()['id']}"
    member = stack.call(
        "POST", f"/collections/{made.json()['id']}/members", "demo", json={"userId": "a b/c"}
    )
    assert member.headers["Location"] == f"/collections/{made.json()['id']}/members/a%20b%2Fc"
    key = stack.call("POST", "/admin/api-keys", "admin", json={"name": "located"})
    assert key.headers["Location"] == f"/admin/api-keys/{key.json()['keyId']}"
    assert key.headers["Cache-Control"] == "private, no-store"


def test_an_image_has_an_etag_and_if_none_match_with_it_answers_304_until_it_changes(stack):
    image_id = _create(stack).json()["image"]["id"]
    first = stack.call("GET", f"/images/{image_id}", "demo")
    tag = first.headers["ETag"]
    assert tag == f'"v{first.json()["version"]}"'
    assert first.headers["Cache-Control"] == "private, no-store"
    again = stack.call("GET", f"/images/{image_id}", "demo", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == tag
    stack.call("PATCH", f"/images/{image_id}", "demo", json={"title": "changed"})
    after = stack.call("GET", f"/images/{image_id}", "demo", headers={"If-None-Match": tag})
    assert after.status_code == 200
    assert after.headers["ETag"] != tag
    assert after.json()["title"] == "changed"


def test_patch_with_the_current_if_match_applies_and_with_a_stale_one_is_412(stack):
    image_id = _create(stack).json()["image"]["id"]
    tag = stack.call("GET", f"/images/{image_id}", "demo").headers["ETag"]
    edited = stack.call(
        "PATCH", f"/images/{image_id}", "demo", json={"title": "one"}, headers={"If-Match": tag}
    )
    assert edited.status_code == 200
    assert edited.headers["ETag"] != tag
    stale = stack.call(
        "PATCH", f"/images/{image_id}", "demo", json={"title": "two"}, headers={"If-Match": tag}
    )
    assert stale.status_code == 412
    assert stale.json()["Code"] == "PreconditionFailedError"
    garbage = stack.call(
        "PATCH", f"/images/{image_id}", "demo", json={"title": "two"}, headers={"If-Match": "x"}
    )
    assert garbage.status_code == 412
    assert stack.call("GET", f"/images/{image_id}", "demo").json()["title"] == "one"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/images/img_nothing", {}, 404, "NotFoundError"),
        ("GET", "/images?limit=0", {}, 400, "BadRequestError"),
        ("POST", "/images", {"data": "{"}, 400, "BadRequestError"),
        # Chalice's own refusal of a media type the route does not take, before the view.
        (
            "POST",
            "/images/raw",
            {"data": b"x", "headers": {"Content-Type": "text/plain"}},
            415,
            "UnsupportedMediaType",
        ),
        ("GET", "/admin/api-keys", {}, 403, "ForbiddenError"),
    ],
)
def test_every_error_has_the_one_shape_with_its_request_id(
    stack, method, path, kwargs, status, code
):
    response = stack.call(method, path, "demo", **kwargs)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"Code", "Message", "RequestId"}
    assert body["Code"] == code
    assert body["RequestId"] == response.headers["X-Request-Id"]


def test_every_answer_names_a_request_id_of_its_own(stack):
    ids = {stack.call("GET", "/health").headers["X-Request-Id"] for _ in range(3)}
    ids.add(stack.call("GET", "/me", "demo").headers["X-Request-Id"])
    assert len(ids) == 4


def test_a_retried_create_with_the_same_idempotency_key_answers_the_same_image(stack):
    key = str(uuid.uuid4())
    first = _create(stack, **{"Idempotency-Key": key})
    second = _create(stack, **{"Idempotency-Key": key})
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    other = _create(stack, **{"Idempotency-Key": str(uuid.uuid4())})
    assert other.json()["image"]["id"] != first.json()["image"]["id"]
    mine = stack.call("GET", "/images?limit=100", "demo").json()["images"]
    assert [image["id"] for image in mine].count(first.json()["image"]["id"]) == 1


def test_an_idempotency_key_is_the_callers_own(stack):
    key = str(uuid.uuid4())
    demo = _create(stack, **{"Idempotency-Key": key}).json()["image"]["id"]
    admin = stack.call("POST", "/images", "admin", json=NEW, headers={"Idempotency-Key": key})
    assert admin.status_code == 201
    assert admin.json()["image"]["id"] != demo


def test_an_idempotency_key_reused_for_another_body_is_422_and_a_bad_key_is_400(stack):
    key = str(uuid.uuid4())
    assert _create(stack, **{"Idempotency-Key": key}).status_code == 201
    reused = stack.call(
        "POST", "/images", "demo", json={**NEW, "title": "other"}, headers={"Idempotency-Key": key}
    )
    assert reused.status_code == 422
    assert reused.json()["Code"] == "IdempotencyKeyReusedError"
    bad = _create(stack, **{"Idempotency-Key": "has space"})
    assert bad.status_code == 400
    assert "Idempotency-Key" in bad.json()["Message"]


def test_the_openapi_document_is_served_to_anyone(stack):
    served = stack.call("GET", "/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(openapi.PATH.read_text())
