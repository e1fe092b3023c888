"""Malformed and hostile requests get a precise 4xx, never a 500, and the server keeps going."""

import pytest

pytestmark = pytest.mark.e2e

JSON = {"Content-Type": "application/json"}

HOSTILE = [
    ("GET", "/images/%00", {}, None),
    ("GET", "/images/img_%FF%FE", {}, None),
    ("GET", "/images/..%2F..%2Fetc%2Fpasswd", {}, None),
    ("GET", "/images/" + "img_" + "a" * 5000, {}, None),
    ("GET", "/images?limit=1e3", {}, None),
    ("GET", "/images?limit=-1", {}, None),
    ("GET", "/images?cursor=%E2%98%83", {}, None),
    ("GET", "/images?cursor=" + "A" * 10000, {}, None),
    ("GET", "/images?status=%00", {}, None),
    ("GET", "/uploads?user=", {}, None),
    ("GET", "/uploads?all=maybe", {}, None),
    ("GET", "/collections/col_nothere", {}, None),
    ("GET", "/collections/%00/images", {}, None),
    ("GET", "/images/img_x/content/..%2Fsecret", {}, None),
    ("POST", "/images", JSON, b'{"filename": "a\\ud800.jpg", "contentType": "image/jpeg"}'),
    ("POST", "/images", JSON, b'{"filename": 5, "contentType": "image/jpeg"}'),
    ("POST", "/images", JSON, b'{"filename": "a.jpg", "contentType": ["image/jpeg"]}'),
    (
        "POST",
        "/images",
        JSON,
        b'{"filename": "a.jpg", "contentType": "image/jpeg", "collectionId": {"$ne": 1}}',
    ),
    ("POST", "/images", JSON, b"[" * 5000),
    ("POST", "/images", JSON, b'{"a": ' + b"1" * 10000 + b"}"),
    ("POST", "/images", {"Content-Type": "image/jpeg"}, b""),
    ("POST", "/images/raw", {"Content-Type": "image/jpeg"}, b""),
    ("POST", "/images/raw", {"Content-Type": "image/jpeg; image/png"}, b"\xff\xd8"),
    ("POST", "/images/raw", {"Content-Type": "application/json"}, b"{}"),
    ("POST", "/images", {"Content-Type": "application/xml"}, b"<a/>"),
    ("POST", "/collections", JSON, b'{"name": ""}'),
    ("POST", "/collections", JSON, b'{"name": "x", "ownerId": "me"}'),
    ("POST", "/collections/col_nothere/members", JSON, b'{"userId": "u"}'),
    ("DELETE", "/collections/col_nothere/members/u", {}, None),
    ("PATCH", "/images/img_nothere", JSON, b'{"title": "\\udfff"}'),
    ("POST", "/admin/api-keys", JSON, b"{}"),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "body"),
    HOSTILE,
    ids=[f"{m} {p[:40]} {(b or b'')[:20]!r}" for m, p, _, b in HOSTILE],
)
def test_hostile_input_gets_a_4xx(stack, method, path, headers, body):
    user = "admin" if path.startswith("/admin") else "demo"
    response = stack.call(method, path, user, headers=headers, data=body)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])
    assert stack.call("GET", "/health").status_code == 200
