"""Who may do what, over HTTP against the local stack: the authorization matrix (every route
of the app × every kind of credential), collection membership, admins and API keys."""

import io
import itertools

import pytest
from PIL import Image

from tests.support import tokens
from tests.support.localstack import upload, wait_until_done
from tests.support.routes import app_routes

pytestmark = pytest.mark.e2e

_ids = itertools.count()

BAD_TOKENS = ("no token", "malformed", "bad signature", "expired", "wrong audience")
CREDENTIALS = (*BAD_TOKENS, "other user", "owner", "admin", "api key", "revoked api key")


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 400), (120, 60, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


class World:
    """What the matrix needs: an owner (demo) with a ready image and a collection, another
    user, an admin, a valid and a revoked API key."""

    def __init__(self, stack):
        self.stack = stack
        if "outsider" not in stack.state["users"]:
            stack.create_user("outsider")
        self.image = self.ready_image()
        self.collection = stack.call("POST", "/collections", "demo", json={"name": "event"}).json()
        self.key = self.api_key("matrix")
        self.revoked = self.api_key("revoked")
        assert (
            stack.call("DELETE", f"/admin/api-keys/{self.revoked['keyId']}", "admin").status_code
            == 204
        )
        self.wrong_audience = stack.token_from_another_client("demo")

    def ready_image(self) -> dict:
        image = upload(self.stack, "demo", jpeg())
        return wait_until_done(self.stack, "demo", image["id"])

    def api_key(self, name: str) -> dict:
        response = self.stack.call("POST", "/admin/api-keys", "admin", json={"name": name})
        assert response.status_code == 201
        return response.json()

    def headers(self, credential: str) -> dict:
        demo = self.stack.token("demo")
        return {
            "no token": {},
            "malformed": {"Authorization": "not-a-jwt"},
            "bad signature": {"Authorization": tokens.tampered_signature(demo)},
            "expired": {"Authorization": tokens.expired(demo)},
            "wrong audience": {"Authorization": self.wrong_audience},
            "other user": self.stack.headers("outsider"),
            "owner": self.stack.headers("demo"),
            "admin": self.stack.headers("admin"),
            "api key": {"X-Api-Key": self.key["secret"]},
            "revoked api key": {"X-Api-Key": self.revoked["secret"]},
        }[credential]


def _user_route(owner=200, other=200, admin=200):
    """Expected statuses of a Cognito-protected route: bad tokens and API keys get 401."""
    return {
        **dict.fromkeys(BAD_TOKENS, 401),
        "api key": 401,
        "revoked api key": 401,
        "owner": owner,
        "other user": other,
        "admin": admin,
    }


def _external_route(ok):
    return {**dict.fromkeys(CREDENTIALS, 401), "api key": ok, "revoked api key": 403}


def _fresh_image(world):
    return world.ready_image()["id"]


def _new_member(world):
    user = f"member-{next(_ids)}"
    response = world.stack.call(
        "POST", f"/collections/{world.collection['id']}/members", "demo", json={"userId": user}
    )
    assert response.status_code == 201
    return user


def _new_link(world):
    response = world.stack.call(
        "POST",
        f"/collections/{world.collection['id']}/links",
        "demo",
        json={"scope": "view", "expiresInSeconds": 60},
    )
    assert response.status_code == 201
    return response.json()["linkId"]


def _new_webhook(world):
    # Nothing listens there (a delivery is refused at once), and the key is revoked when the
    # module ends, so its webhooks get no later test's events.
    response = world.stack.call(
        "POST",
        f"/admin/api-keys/{world.key['keyId']}/webhooks",
        "admin",
        json={"url": "https://127.0.0.1:9/hook"},
    )
    assert response.status_code == 201
    return response.json()["webhookId"]


def _tiny_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 0, 200)).save(buffer, "PNG")
    return buffer.getvalue()


_TINY_PNG = _tiny_png()


# (method, route) -> (request builder, expected status per credential)
MATRIX = {
    ("GET", "/health"): (lambda w: ("/health", {}), dict.fromkeys(CREDENTIALS, 200)),
    ("GET", "/"): (lambda w: ("/", {}), dict.fromkeys(CREDENTIALS, 200)),
    ("GET", "/static/{name}"): (lambda w: ("/static/app.js", {}), dict.fromkeys(CREDENTIALS, 200)),
    ("GET", "/config"): (lambda w: ("/config", {}), dict.fromkeys(CREDENTIALS, 200)),
    ("GET", "/openapi.json"): (
        lambda w: ("/openapi.json", {}),
        dict.fromkeys(CREDENTIALS, 200),
    ),
    ("GET", "/me"): (lambda w: ("/me", {}), _user_route()),
    ("POST", "/images"): (
        lambda w: ("/images", {"json": {"filename": "m.jpg", "contentType": "image/jpeg"}}),
        _user_route(201, 201, 201),
    ),
    ("POST", "/images/raw"): (
        lambda w: ("/images/raw", {"data": _TINY_PNG, "headers": {"Content-Type": "image/png"}}),
        _user_route(202, 202, 202),
    ),
    ("GET", "/images"): (lambda w: ("/images", {}), _user_route()),
    ("GET", "/images/{image_id}"): (
        lambda w: (f"/images/{w.image['id']}", {}),
        _user_route(200, 404, 200),
    ),
    ("PATCH", "/images/{image_id}"): (
        lambda w: (f"/images/{w.image['id']}", {"json": {"title": "t"}}),
        _user_route(200, 404, 403),
    ),
    ("DELETE", "/images/{image_id}"): (
        lambda w: (f"/images/{_fresh_image(w)}", {}),
        _user_route(204, 404, 403),
    ),
    ("POST", "/images/{image_id}/upload"): (
        lambda w: (f"/images/{_fresh_image(w)}/upload", {"json": {"contentType": "image/png"}}),
        _user_route(201, 404, 403),
    ),
    ("GET", "/images/{image_id}/content/{variant}"): (
        lambda w: (f"/images/{w.image['id']}/content/thumbnail", {}),
        _user_route(307, 404, 307),
    ),
    ("GET", "/images/{image_id}/render"): (
        lambda w: (f"/images/{w.image['id']}/render?w=64", {}),
        _user_route(307, 404, 307),
    ),
    # The shared stack has no CDN, so the owner's mint is refused with 409 after access
    # passed; tests/e2e/test_delivery.py mints on a stack that has one.
    ("POST", "/images/{image_id}/links"): (
        lambda w: (f"/images/{w.image['id']}/links", {"json": {"variant": "preview"}}),
        _user_route(409, 404, 403),
    ),
    ("GET", "/images/{image_id}/links"): (
        lambda w: (f"/images/{w.image['id']}/links", {}),
        _user_route(200, 404, 200),
    ),
    ("DELETE", "/images/{image_id}/links/{link_id}"): (
        lambda w: (f"/images/{w.image['id']}/links/lnk_none", {}),
        _user_route(404, 404, 403),
    ),
    ("GET", "/uploads"): (lambda w: ("/uploads", {}), _user_route()),
    ("POST", "/collections"): (
        lambda w: ("/collections", {"json": {"name": "c"}}),
        _user_route(201, 201, 201),
    ),
    ("GET", "/collections"): (lambda w: ("/collections", {}), _user_route()),
    ("GET", "/collections/{collection_id}"): (
        lambda w: (f"/collections/{w.collection['id']}", {}),
        _user_route(200, 403, 403),
    ),
    ("POST", "/collections/{collection_id}/members"): (
        lambda w: (
            f"/collections/{w.collection['id']}/members",
            {"json": {"userId": f"new-{next(_ids)}"}},
        ),
        _user_route(201, 403, 403),
    ),
    ("DELETE", "/collections/{collection_id}/members/{user_id}"): (
        lambda w: (f"/collections/{w.collection['id']}/members/{_new_member(w)}", {}),
        _user_route(204, 403, 403),
    ),
    ("GET", "/collections/{collection_id}/images"): (
        lambda w: (f"/collections/{w.collection['id']}/images", {}),
        _user_route(200, 403, 403),
    ),
    ("POST", "/collections/{collection_id}/links"): (
        lambda w: (
            f"/collections/{w.collection['id']}/links",
            {"json": {"scope": "view", "expiresInSeconds": 60}},
        ),
        _user_route(201, 403, 403),
    ),
    ("GET", "/collections/{collection_id}/links"): (
        lambda w: (f"/collections/{w.collection['id']}/links", {}),
        _user_route(200, 403, 403),
    ),
    ("DELETE", "/collections/{collection_id}/links/{link_id}"): (
        lambda w: (f"/collections/{w.collection['id']}/links/{_new_link(w)}", {}),
        _user_route(204, 403, 403),
    ),
    # Guest routes take a share link, nothing else (tests/e2e/test_sharing.py: every link).
    ("GET", "/shared"): (lambda w: ("/shared", {}), dict.fromkeys(CREDENTIALS, 401)),
    ("GET", "/shared/images"): (lambda w: ("/shared/images", {}), dict.fromkeys(CREDENTIALS, 401)),
    ("POST", "/shared/images"): (
        lambda w: (
            "/shared/images",
            {"json": {"filename": "g.jpg", "contentType": "image/jpeg", "bytes": 10}},
        ),
        dict.fromkeys(CREDENTIALS, 401),
    ),
    ("GET", "/shared/images/{image_id}/content/{variant}"): (
        lambda w: (f"/shared/images/{w.image['id']}/content/thumbnail", {}),
        dict.fromkeys(CREDENTIALS, 401),
    ),
    ("GET", "/shared/images/{image_id}/render"): (
        lambda w: (f"/shared/images/{w.image['id']}/render?w=32", {}),
        dict.fromkeys(CREDENTIALS, 401),
    ),
    ("POST", "/admin/api-keys"): (
        lambda w: ("/admin/api-keys", {"json": {"name": "k"}}),
        _user_route(403, 403, 201),
    ),
    ("GET", "/admin/api-keys"): (lambda w: ("/admin/api-keys", {}), _user_route(403, 403, 200)),
    ("DELETE", "/admin/api-keys/{key_id}"): (
        lambda w: (f"/admin/api-keys/{w.api_key('to-revoke')['keyId']}", {}),
        _user_route(403, 403, 204),
    ),
    ("POST", "/admin/api-keys/{key_id}/webhooks"): (
        lambda w: (
            f"/admin/api-keys/{w.key['keyId']}/webhooks",
            {"json": {"url": "https://127.0.0.1:9/hook"}},
        ),
        _user_route(403, 403, 201),
    ),
    ("GET", "/admin/api-keys/{key_id}/webhooks"): (
        lambda w: (f"/admin/api-keys/{w.key['keyId']}/webhooks", {}),
        _user_route(403, 403, 200),
    ),
    ("DELETE", "/admin/api-keys/{key_id}/webhooks/{webhook_id}"): (
        lambda w: (f"/admin/api-keys/{w.key['keyId']}/webhooks/{_new_webhook(w)}", {}),
        _user_route(403, 403, 204),
    ),
    ("GET", "/admin/api-keys/{key_id}/webhooks/{webhook_id}/deliveries"): (
        lambda w: (f"/admin/api-keys/{w.key['keyId']}/webhooks/{_new_webhook(w)}/deliveries", {}),
        _user_route(403, 403, 200),
    ),
    ("GET", "/external/images/{image_id}/content/{variant}"): (
        lambda w: (f"/external/images/{w.image['id']}/content/preview", {}),
        _external_route(307),
    ),
    ("GET", "/external/images/{image_id}/render"): (
        lambda w: (f"/external/images/{w.image['id']}/render?w=50", {}),
        _external_route(307),
    ),
    # The matrix's stack has no CDN: minting is refused by name (tests/e2e/test_delivery.py
    # mints, lists and revokes with a key on the CDN stack).
    ("POST", "/external/images/{image_id}/links"): (
        lambda w: (f"/external/images/{w.image['id']}/links", {"json": {"variant": "preview"}}),
        _external_route(409),
    ),
    ("GET", "/external/images/{image_id}/links"): (
        lambda w: (f"/external/images/{w.image['id']}/links", {}),
        _external_route(200),
    ),
    ("DELETE", "/external/images/{image_id}/links/{link_id}"): (
        lambda w: (f"/external/images/{w.image['id']}/links/lnk_none", {}),
        _external_route(404),
    ),
}


def test_the_matrix_covers_every_route_of_the_app():
    assert app_routes() == set(MATRIX)


@pytest.fixture(scope="module")
def world(stack):
    made = World(stack)
    yield made
    stack.call("DELETE", f"/admin/api-keys/{made.key['keyId']}", "admin")


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_authorization_matrix(stack, world, route):
    build, expected = MATRIX[route]
    method = route[0]
    failures = []
    for credential in CREDENTIALS:
        path, kwargs = build(world)
        headers = {**kwargs.pop("headers", {}), **world.headers(credential)}
        response = stack.call(method, path, headers=headers, **kwargs)
        if response.status_code != expected[credential]:
            failures.append(
                f"{credential}: {response.status_code} (expected "
                f"{expected[credential]}) {response.text[:120]}"
            )
    assert not failures, "\n".join(failures)


def test_membership_grants_and_removal_takes_away_collection_access(stack):
    if "carol" not in stack.state["users"]:
        stack.create_user("carol")
    carol = stack.call("GET", "/me", "carol").json()["sub"]
    collection = stack.call("POST", "/collections", "demo", json={"name": "wedding"}).json()
    cid = collection["id"]
    owners_image = upload(stack, "demo", jpeg(), collectionId=cid)
    wait_until_done(stack, "demo", owners_image["id"])
    create = {"filename": "c.jpg", "contentType": "image/jpeg", "collectionId": cid}

    def carol_can() -> dict[str, int]:
        return {
            "upload": stack.call("POST", "/images", "carol", json=create).status_code,
            "list": stack.call("GET", f"/collections/{cid}/images", "carol").status_code,
            "read": stack.call("GET", f"/images/{owners_image['id']}", "carol").status_code,
            "content": stack.call(
                "GET", f"/images/{owners_image['id']}/content/thumbnail", "carol"
            ).status_code,
            "change": stack.call(
                "PATCH", f"/images/{owners_image['id']}", "carol", json={"title": "mine"}
            ).status_code,
        }

    assert carol_can() == {"upload": 403, "list": 403, "read": 404, "content": 404, "change": 404}
    added = stack.call("POST", f"/collections/{cid}/members", "demo", json={"userId": carol})
    assert added.status_code == 201
    assert carol_can() == {"upload": 201, "list": 200, "read": 200, "content": 307, "change": 403}
    listed = stack.call("GET", f"/collections/{cid}/images", "carol").json()["images"]
    assert owners_image["id"] in [image["id"] for image in listed]
    # Carol changes and deletes what she uploaded herself; the collection's owner may too.
    carols = upload(stack, "carol", jpeg(), collectionId=cid)
    # Done first: a DELETE racing the upload's own processing writes is a 409 "try again"
    # (the record changed meanwhile), which is not what this test is about.
    wait_until_done(stack, "carol", carols["id"])
    assert (
        stack.call(
            "PATCH", f"/images/{carols['id']}", "carol", json={"title": "by carol"}
        ).status_code
        == 200
    )
    assert (
        stack.call(
            "PATCH", f"/images/{carols['id']}", "demo", json={"title": "by the owner"}
        ).status_code
        == 200
    )
    removed = stack.call("DELETE", f"/collections/{cid}/members/{carol}", "demo")
    assert removed.status_code == 204
    assert carol_can() == {"upload": 403, "list": 403, "read": 404, "content": 404, "change": 404}
    assert stack.call("DELETE", f"/images/{carols['id']}", "demo").status_code == 204


def test_a_revoked_key_stops_working_and_use_counts_rise(stack, world):
    key = world.api_key("counted")
    path = f"/external/images/{world.image['id']}/content/original"
    for _ in range(3):
        assert stack.call("GET", path, headers={"X-Api-Key": key["secret"]}).status_code == 307
    listed = {k["keyId"]: k for k in stack.call("GET", "/admin/api-keys", "admin").json()["keys"]}
    assert listed[key["keyId"]]["useCount"] == 3
    assert listed[key["keyId"]]["lastUsedAt"]
    assert "secret" not in listed[key["keyId"]] and "hash" not in listed[key["keyId"]]
    assert stack.call("DELETE", f"/admin/api-keys/{key['keyId']}", "admin").status_code == 204
    # The local gateway does not cache authorizer answers (API Gateway caches for 30 s).
    assert stack.call("GET", path, headers={"X-Api-Key": key["secret"]}).status_code == 403


def test_an_api_key_is_shown_once_and_looks_like_one(stack, world):
    key = world.api_key("shape")
    assert key["secret"].startswith("isk_")
    assert len(key["secret"]) >= 4 + 16 + 1 + 43
    wrong = key["secret"][:-1] + ("A" if key["secret"][-1] != "A" else "B")
    path = f"/external/images/{world.image['id']}/content/original"
    assert stack.call("GET", path, headers={"X-Api-Key": wrong}).status_code == 403


def log_rows(stack, user: str, query: str) -> list[dict]:
    """Every row of a log listing, following its cursors."""
    rows, cursor = [], None
    while True:
        path = f"/uploads?{query}&limit=100" + (f"&cursor={cursor}" if cursor else "")
        response = stack.call("GET", path, user)
        assert response.status_code == 200, response.text
        rows.extend(response.json()["uploads"])
        cursor = response.json()["cursor"]
        if not cursor:
            return rows


def test_admins_read_anyones_log_and_users_only_their_own(stack, world):
    demo_sub = stack.call("GET", "/me", "demo").json()["sub"]
    outsiders_image = upload(stack, "outsider", jpeg())
    as_admin = log_rows(stack, "admin", f"user={demo_sub}")
    assert world.image["id"] in [row["imageId"] for row in as_admin]
    assert {row["uploader"]["id"] for row in as_admin} == {demo_sub}
    assert stack.call("GET", f"/uploads?user={demo_sub}", "outsider").status_code == 403
    assert stack.call("GET", "/uploads?all=true", "outsider").status_code == 403
    outsiders_own = log_rows(stack, "outsider", "all=false")
    assert outsiders_image["id"] in [row["imageId"] for row in outsiders_own]
    assert world.image["id"] not in [row["imageId"] for row in outsiders_own]
    everyone = [row["imageId"] for row in log_rows(stack, "admin", "all=true")]
    assert world.image["id"] in everyone
    assert outsiders_image["id"] in everyone


def test_the_local_user_pool_lets_only_admins_create_users(stack):
    # The app client id is public (GET /config), so a pool open to self sign-up would let
    # anyone on the internet make an account and upload.
    assert stack.call("GET", "/config").json()["appClientId"]
    pool = stack.client("cognito-idp").describe_user_pool(UserPoolId=stack.state["userPoolId"])
    assert pool["UserPool"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
