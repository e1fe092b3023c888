"""GET /collections over HTTP: the caller's collections (made or shared with them), newest
membership first, and nobody else's."""

import pytest

pytestmark = pytest.mark.e2e


def test_my_collections_are_those_i_made_or_was_added_to_newest_first(stack):
    for user in ("lister-ann", "lister-bob", "lister-cy"):
        stack.create_user(user)
    bob = stack.call("GET", "/me", "lister-bob").json()["sub"]
    first = stack.call("POST", "/collections", "lister-bob", json={"name": "Bob's own"}).json()
    shared = stack.call(
        "POST", "/collections", "lister-ann", json={"name": "Ann's trip", "description": "Rome"}
    ).json()
    stack.call("POST", "/collections", "lister-cy", json={"name": "Cy's secret"})
    added = stack.call(
        "POST", f"/collections/{shared['id']}/members", "lister-ann", json={"userId": bob}
    )
    assert added.status_code == 201

    listed = stack.call("GET", "/collections", "lister-bob")

    assert listed.status_code == 200
    found = listed.json()["collections"]
    assert [(c["id"], c["name"], c["owned"]) for c in found] == [
        (shared["id"], "Ann's trip", False),
        (first["id"], "Bob's own", True),
    ]
    assert found[0]["ownerName"] == "lister-ann"
    assert found[0]["description"] == "Rome"
    assert "members" not in found[0]


def test_a_removed_member_no_longer_lists_the_collection(stack):
    for user in ("lister-dee", "lister-eve"):
        stack.create_user(user)
    eve = stack.call("GET", "/me", "lister-eve").json()["sub"]
    made = stack.call("POST", "/collections", "lister-dee", json={"name": "Brief"}).json()
    stack.call("POST", f"/collections/{made['id']}/members", "lister-dee", json={"userId": eve})
    assert [
        c["id"] for c in stack.call("GET", "/collections", "lister-eve").json()["collections"]
    ] == [made["id"]]

    gone = stack.call("DELETE", f"/collections/{made['id']}/members/{eve}", "lister-dee")

    assert gone.status_code == 204
    assert stack.call("GET", "/collections", "lister-eve").json() == {"collections": []}
    owner = stack.call("GET", "/collections", "lister-dee").json()["collections"]
    assert [c["id"] for c in owner] == [made["id"]]
