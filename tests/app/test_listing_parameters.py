"""Whatever a caller puts in a listing's query string, the answer is a 400, never a 500."""

import base64
import json
from urllib.parse import quote

import pytest
from chalice.test import Client

from chalicelib import access, collection
from chalicelib.images import Caller

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
