"""Whatever a caller puts in a listing's query string, the answer is a 400, never a 500."""

import base64
import json
from urllib.parse import quote

import pytest
from chalice.test import Client

from chalicelib import access, collection
from chalicelib.callers import Caller

ALICE = Caller(id="alice-sub", name="alice")
ADMIN = Caller(id="admin-sub", name="admin", groups=frozenset({"admins"}))


@pytest.fixture
def as_user(app_module, monkeypatch):
    """GET a path as one of the callers above (the claims are taken as verified)."""
    who = {"caller": ALICE}
    monkeypatch.setattr(access, "caller_from_context", lambda context: who["caller"])
    with Client(app_module.app) as client:

        def get(path: str, caller: Caller = ALICE):
            who["caller"] = caller
            return client.http.get(path)

        yield get


def _cursor(key: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "limit",
    [
        pytest.param("²", id="superscript-two"),
        pytest.param("٣", id="arabic-indic-three"),
        pytest.param("1" * 5000, id="5000-digits"),
        pytest.param("1" * 10, id="10-digits"),
        *(pytest.param(raw, id=repr(raw)) for raw in ("-1", "+5", " 5", "5\n", "0", "101")),
        *(pytest.param(raw, id=repr(raw)) for raw in ("1e2", "")),
    ],
)
@pytest.mark.parametrize("listing", ["/images", "/uploads", "collection"])
def test_a_limit_that_is_not_an_integer_in_range_is_400_naming_the_range(as_user, listing, limit):
    if listing == "collection":
        listing = f"/collections/{collection.create(ALICE, {'name': 'trip'})['id']}/images"
    response = as_user(f"{listing}?limit={quote(limit)}")
    assert response.status_code == 400, response.body[:300]
    assert response.json_body["Message"] == "limit must be an integer from 1 to 100"


@pytest.mark.parametrize("listing", ["/images", "/uploads"])
def test_a_limit_in_range_is_accepted(as_user, listing):
    assert as_user(f"{listing}?limit=100").status_code == 200
    assert as_user(f"{listing}?limit=007").status_code == 200


@pytest.mark.parametrize("day", ["0001-01-01", "2025-12-31", "9999-12-31"])
def test_an_all_users_log_cursor_naming_a_day_out_of_range_is_400(as_user, day):
    response = as_user("/uploads?all=true&cursor=" + _cursor({"day": day}), ADMIN)
    assert response.status_code == 400, response.body[:300]
    assert response.json_body["Message"] == "cursor is malformed"


GOOD_IMAGE_KEY = {
    "pk": "IMG#img_abc",
    "sk": "IMG",
    "gsi1pk": f"OWNER#{ALICE.id}",
    "gsi1sk": "2026-11-20T10:00:00.000Z#img_abc",
}


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param({"pk": "", "sk": "", "gsi1sk": ""}, id="empty-values"),
        pytest.param({"pk": "IMG#"}, id="empty-image-id"),
        pytest.param({"sk": "UP#up_1"}, id="an-upload-row"),
        pytest.param({"gsi1sk": ""}, id="empty-sort-key"),
        pytest.param({"gsi1sk": "2026-11-20T10:00:00.000Z#img_other"}, id="another-image"),
        pytest.param({"gsi1sk": "yesterday#img_abc"}, id="not-a-time"),
        pytest.param({"gsi1sk": "2026-11-20T10:00:00.000Z#img_abc\n"}, id="trailing-newline"),
    ],
)
def test_a_cursor_whose_key_values_are_not_shaped_like_the_index_keys_is_400(as_user, forged):
    response = as_user("/images?cursor=" + _cursor({**GOOD_IMAGE_KEY, **forged}))
    assert response.status_code == 400, response.body[:300]
    assert response.json_body["Message"] == "cursor is malformed"


def test_a_well_formed_cursor_is_accepted(as_user):
    assert as_user("/images?cursor=" + _cursor(GOOD_IMAGE_KEY)).status_code == 200


@pytest.mark.parametrize(
    ("query", "caller", "key"),
    [
        ("", ALICE, {"gsi3pk": f"LOG#{ALICE.id}", "gsi3sk": ""}),
        ("all=true&", ADMIN, {"day": "2026-11-20", "gsi4pk": "DAY#2026-11-20", "gsi4sk": ""}),
        (
            "all=true&",
            ADMIN,
            {
                "day": "2026-11-20",
                "gsi4pk": "DAY#2026-11-20",
                "gsi4sk": "2026-11-21T10:00:00.000Z#up_1",
            },
        ),
    ],
    ids=["own-log-empty", "all-users-empty", "all-users-time-of-another-day"],
)
def test_a_log_cursor_with_ill_formed_key_values_is_400(as_user, query, caller, key):
    cursor = _cursor({"pk": "IMG#img_abc", "sk": "UP#up_1", **key})
    response = as_user(f"/uploads?{query}cursor={cursor}", caller)
    assert response.status_code == 400, response.body[:300]
    assert response.json_body["Message"] == "cursor is malformed"


@pytest.mark.parametrize("listing", ["collection", "/uploads", "/uploads?all=true"])
def test_the_cursors_a_listing_gives_out_page_through_it(as_user, listing):
    from chalicelib import image_operations
    from chalicelib.access import Access

    collection_id = collection.create(ALICE, {"name": "trip"})["id"]
    made = {
        image_operations.create_image(
            Access(ALICE),
            {"filename": f"{n}.jpg", "contentType": "image/jpeg", "collectionId": collection_id},
        )["image"]["id"]
        for n in range(3)
    }
    path = {"collection": f"/collections/{collection_id}/images"}.get(listing, listing)
    caller = ADMIN if "all=" in path else ALICE
    seen, cursor = [], None
    for _ in range(5):
        separator = "&" if "?" in path else "?"
        page = as_user(
            f"{path}{separator}limit=1" + (f"&cursor={cursor}" if cursor else ""), caller
        )
        assert page.status_code == 200, page.body[:300]
        body = page.json_body
        seen += [
            row.get("imageId", row.get("id")) for row in body.get("images", body.get("uploads", []))
        ]
        cursor = body["cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(made)
