"""Share links and members by name, over HTTP against the local stack: every kind of link ×
every guest action, a guest's upload through a real presigned POST ending ready in the
collection and in the log, and members added by user name."""

import base64
import io
import json
import time

import pytest
import requests
from PIL import Image

from tests.support.localstack import upload, wait_until_done

pytestmark = pytest.mark.e2e

OWNER = "share-owner"
ACTIONS = ("overview", "list", "content", "render", "upload")


def jpeg(size=(320, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (20, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


def ensure_user(stack, name: str) -> None:
    if name not in stack.state["users"]:
        stack.create_user(name)


def mint(stack, collection_id: str, **body) -> dict:
    made = stack.call(
        "POST",
        f"/collections/{collection_id}/links",
        OWNER,
        json={"expiresInSeconds": 3600, **body},
    )
    assert made.status_code == 201, made.text
    assert made.headers["Cache-Control"] == "private, no-store"
    return made.json()


def as_guest(stack, token: str | None, action: str, image_id: str, data: bytes = b"x" * 100):
    headers = {"X-Share-Token": token} if token is not None else {}
    if action == "overview":
        return stack.call("GET", "/shared", headers=headers)
    if action == "list":
        return stack.call("GET", "/shared/images", headers=headers)
    if action == "content":
        return stack.call("GET", f"/shared/images/{image_id}/content/thumbnail", headers=headers)
    if action == "render":
        return stack.call("GET", f"/shared/images/{image_id}/render?w=32", headers=headers)
    body = {"filename": "guest.jpg", "contentType": "image/jpeg", "bytes": len(data)}
    return stack.call("POST", "/shared/images", headers=headers, json=body)


class Shared:
    """A collection with a ready image, and a second collection with one of its own."""

    def __init__(self, stack):
        ensure_user(stack, OWNER)
        self.stack = stack
        self.collection = self.new_collection("party")
        self.other = self.new_collection("other party")
        self.image = self.ready_image(self.collection)
        self.other_image = self.ready_image(self.other)

    def new_collection(self, name: str) -> str:
        return self.stack.call("POST", "/collections", OWNER, json={"name": name}).json()["id"]

    def ready_image(self, collection_id: str) -> dict:
        made = upload(self.stack, OWNER, jpeg(), collectionId=collection_id)
        done = wait_until_done(self.stack, OWNER, made["id"])
        assert done["status"] == "ready"
        return done


@pytest.fixture(scope="module")
def shared(stack):
    return Shared(stack)


def _links(shared) -> dict[str, tuple[str, str]]:
    """Each kind of link: (token, the image id its guest asks for)."""
    stack, cid, image = shared.stack, shared.collection, shared.image["id"]
    view = mint(stack, cid, scope="view", label="view")
    upload_link = mint(stack, cid, scope="upload", maxUploads=5, maxBytes=10_000_000)
    expired = mint(stack, cid, scope="upload", expiresInSeconds=1, maxUploads=5, maxBytes=10**6)
    revoked = mint(stack, cid, scope="upload", maxUploads=5, maxBytes=10**6)
    gone = stack.call("DELETE", f"/collections/{cid}/links/{revoked['linkId']}", OWNER)
    assert gone.status_code == 204
    used_up = mint(stack, cid, scope="upload", maxUses=1, maxUploads=5, maxBytes=10**6)
    assert as_guest(stack, used_up["token"], "overview", image).status_code == 200
    over_quota = mint(stack, cid, scope="upload", maxUploads=1, maxBytes=10**6)
    assert as_guest(stack, over_quota["token"], "upload", image).status_code == 201
    other = mint(stack, shared.other, scope="upload", maxUploads=5, maxBytes=10**6)
    token = view["token"]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    time.sleep(1.2)  # the expired link's second passes
    return {
        "view": (view["token"], image),
        "upload": (upload_link["token"], image),
        "expired": (expired["token"], image),
        "revoked": (revoked["token"], image),
        "used up": (used_up["token"], image),
        "over quota": (over_quota["token"], image),
        "another collection's image": (other["token"], image),
        "tampered": (tampered, image),
        "no link": (None, image),
    }


EXPECTED = {
    "view": (200, 200, 307, 307, 403),
    "upload": (200, 200, 307, 307, 201),
    "expired": (410,) * 5,
    "revoked": (410,) * 5,
    "used up": (403,) * 5,
    "over quota": (200, 200, 307, 307, 403),
    "another collection's image": (200, 200, 404, 404, 201),
    "tampered": (401,) * 5,
    "no link": (401,) * 5,
}


def test_every_kind_of_link_times_every_guest_action(stack, shared):
    failures = []
    for kind, (token, image_id) in _links(shared).items():
        got = tuple(as_guest(stack, token, action, image_id).status_code for action in ACTIONS)
        if got != EXPECTED[kind]:
            failures.append(
                f"{kind}: {dict(zip(ACTIONS, got, strict=True))}, expected {EXPECTED[kind]}"
            )
    assert not failures, "\n".join(failures)


def test_a_view_link_shows_only_its_collections_ready_variants(stack, shared):
    link = mint(stack, shared.collection, scope="view")
    pending = stack.call(
        "POST",
        "/images",
        OWNER,
        json={"filename": "p.jpg", "contentType": "image/jpeg", "collectionId": shared.collection},
    ).json()["image"]
    listed = as_guest(stack, link["token"], "list", "").json()["images"]
    ids = {image["id"] for image in listed}
    assert shared.image["id"] in ids
    assert pending["id"] not in ids and shared.other_image["id"] not in ids
    shown = next(image for image in listed if image["id"] == shared.image["id"])
    assert "ownerId" not in shown and "ownerName" not in shown and "original" not in shown
    assert set(shown["variants"]) == set(shared.image["variants"])
    thumbnail = shown["variants"]["thumbnail"]
    fetched = requests.get(thumbnail["url"], timeout=30)
    assert fetched.status_code == 200
    assert fetched.headers["Content-Type"] == f"image/{thumbnail['format']}"
    original = as_guest(stack, link["token"], "content", shared.image["id"])
    assert original.status_code == 307
    path = f"/shared/images/{shared.image['id']}/content/original"
    refused = stack.call("GET", path, headers={"X-Share-Token": link["token"]})
    assert refused.status_code == 404
    overview = as_guest(stack, link["token"], "overview", "").json()
    assert overview == {
        "collection": {"id": shared.collection, "name": "party", "description": ""},
        "scope": "view",
    }


def test_a_guest_upload_ends_ready_in_the_collection_and_in_the_log(stack, shared):
    link = mint(
        stack,
        shared.collection,
        scope="upload",
        label="wedding guests",
        maxUploads=2,
        maxBytes=10**6,
    )
    data = jpeg((300, 300))
    headers = {"X-Share-Token": link["token"]}
    sneaky = {
        "filename": "g.jpg",
        "contentType": "image/jpeg",
        "bytes": len(data),
        "collectionId": shared.other,
    }
    assert stack.call("POST", "/shared/images", headers=headers, json=sneaky).status_code == 400
    made = as_guest(stack, link["token"], "upload", "", data)
    assert made.status_code == 201, made.text
    form = made.json()["upload"]
    assert form["maxBytes"] == len(data)
    # The presigned POST takes no more than the bytes reserved from the link's quota (S3
    # enforces the policy's content-length-range; moto does not, so the policy is checked).
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    assert ["content-length-range", 1, len(data)] in policy["conditions"]
    sent = requests.post(
        form["url"], data=form["fields"], files={"file": ("g.jpg", data, "image/jpeg")}, timeout=30
    )
    assert sent.status_code in (200, 201, 204)
    image_id = made.json()["image"]["id"]
    done = wait_until_done(stack, OWNER, image_id)
    assert done["status"] == "ready"
    assert done["collectionId"] == shared.collection
    assert done["ownerId"] == f"link:{link['linkId']}"
    listed = as_guest(stack, link["token"], "list", "").json()["images"]
    assert image_id in {image["id"] for image in listed}

    log = stack.call("GET", f"/uploads?user=link:{link['linkId']}", OWNER)
    assert log.status_code == 200, log.text
    (row,) = log.json()["uploads"]
    assert row["imageId"] == image_id and row["status"] == "ready"
    assert row["uploader"] == {
        "id": f"link:{link['linkId']}",
        "name": "guest via link wedding guests",
    }
    ensure_user(stack, "share-stranger")
    stranger = stack.call("GET", f"/uploads?user=link:{link['linkId']}", "share-stranger")
    assert stranger.status_code == 403

    (listed_link,) = [
        found
        for found in stack.call("GET", f"/collections/{shared.collection}/links", OWNER).json()[
            "links"
        ]
        if found["linkId"] == link["linkId"]
    ]
    assert listed_link["uploadCount"] == 1 and listed_link["uploadBytes"] == len(data)
    assert listed_link["useCount"] == 2  # the upload and one listing; the 400 was no use


def test_only_the_owner_manages_links(stack, shared):
    ensure_user(stack, "share-member")
    member = stack.call("GET", "/me", "share-member").json()["sub"]
    path = f"/collections/{shared.collection}"
    stack.call("POST", f"{path}/members", OWNER, json={"userId": member})
    view = {"scope": "view", "expiresInSeconds": 60}
    assert stack.call("POST", f"{path}/links", "share-member", json=view).status_code == 403
    assert stack.call("GET", f"{path}/links", "share-member").status_code == 403
    other = mint(stack, shared.other, scope="view")
    wrong = stack.call("DELETE", f"{path}/links/{other['linkId']}", OWNER)
    assert wrong.status_code == 404
    assert as_guest(stack, other["token"], "overview", "").status_code == 200


def test_members_are_added_by_user_name_and_unknown_names_are_404(stack, shared):
    ensure_user(stack, "share-friend")
    friend = stack.call("GET", "/me", "share-friend").json()["sub"]
    path = f"/collections/{shared.collection}/members"
    added = stack.call("POST", path, OWNER, json={"username": "share-friend"})
    assert added.status_code == 201, added.text
    assert added.headers["Location"].endswith(f"/members/{friend}")
    assert {"userId": friend, "username": "share-friend"}.items() <= next(
        m for m in added.json()["members"] if m["userId"] == friend
    ).items()
    listed = stack.call("GET", f"/collections/{shared.collection}/images", "share-friend")
    assert listed.status_code == 200
    again = stack.call("POST", path, OWNER, json={"username": "share-friend"})
    assert again.status_code == 409
    unknown = stack.call("POST", path, OWNER, json={"username": "nobody-by-that-name"})
    assert unknown.status_code == 404 and unknown.json()["Code"] == "NotFoundError"
    both = stack.call("POST", path, OWNER, json={"username": "share-friend", "userId": friend})
    assert both.status_code == 400
