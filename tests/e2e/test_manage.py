"""Managing images over HTTP: listing and paging, editing, replacing content, deleting, and
the processing log that shows what happened to every upload."""

import base64
import io
import json
import threading

import pytest
import requests
from PIL import Image

from tests.support.localstack import upload, wait_until_done

pytestmark = pytest.mark.e2e


def jpeg(size=(640, 480), colour=(0, 90, 160)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def pager(stack):
    """A user of their own, so listings hold exactly what these tests made."""
    stack.create_user("pager")
    return "pager"


def create(stack, user, name, **extra):
    response = stack.call(
        "POST", "/images", user, json={"filename": name, "contentType": "image/jpeg", **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()["image"]


def test_paging_through_45_images_at_limit_20_gives_each_once_newest_first(stack, pager):
    made = [create(stack, pager, f"p{i:02}.jpg")["id"] for i in range(45)]
    seen, cursor, pages = [], None, 0
    while True:
        query = "/images?limit=20" + (f"&cursor={cursor}" if cursor else "")
        body = stack.call("GET", query, pager).json()
        pages += 1
        seen.extend(image["id"] for image in body["images"])
        cursor = body["cursor"]
        if not cursor:
            break
    assert pages == 3
    assert seen == list(reversed(made))


def forged_owner(cursor: str) -> str:
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["gsi1pk"]


def test_a_bad_cursor_is_400(stack, pager):
    for user in ("demo", pager):
        create(stack, user, "one.jpg")
        create(stack, user, "two.jpg")
    other = stack.call("GET", "/images?limit=1", "demo").json()["cursor"]
    assert other
    mine = stack.call("GET", "/images?limit=1", pager).json()["cursor"]
    forged = json.loads(base64.urlsafe_b64decode(mine + "=" * (-len(mine) % 4)))
    forged["gsi1pk"] = "OWNER#someone-else"
    tampered = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()
    emptied = {name: "" for name in forged} | {"gsi1pk": forged_owner(mine)}
    hollow = base64.urlsafe_b64encode(json.dumps(emptied).encode()).decode()
    cursors = (other, tampered, hollow, "garbage!", "e30", "W10", mine[:-3] + "zzz", "x" * 5000)
    for cursor in cursors:
        response = stack.call("GET", f"/images?cursor={cursor}", pager)
        assert response.status_code == 400, (cursor, response.text)
        assert "cursor" in response.json()["Message"]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=%C2%B2",  # a superscript two: a digit to str.isdigit(), not to int()
        "limit=" + "9" * 5000,
        "status=great",
        "colour=red",
    ],
)
def test_bad_listing_parameters_are_400(stack, pager, query):
    assert stack.call("GET", f"/images?{query}", pager).status_code == 400


def test_listing_filters_by_status_and_collection(stack):
    stack.create_user("filterer")
    collection = stack.call("POST", "/collections", "filterer", json={"name": "trip"}).json()
    in_collection = upload(stack, "filterer", jpeg(), collectionId=collection["id"])
    waiting = create(stack, "filterer", "waiting.jpg")
    wait_until_done(stack, "filterer", in_collection["id"])
    ready = stack.call("GET", "/images?status=ready", "filterer").json()["images"]
    assert [image["id"] for image in ready] == [in_collection["id"]]
    awaiting = stack.call("GET", "/images?status=awaiting_upload", "filterer").json()["images"]
    assert [image["id"] for image in awaiting] == [waiting["id"]]
    by_collection = stack.call(
        "GET", f"/images?collectionId={collection['id']}", "filterer"
    ).json()["images"]
    assert [image["id"] for image in by_collection] == [in_collection["id"]]


def test_patch_changes_the_fields_and_validates_them(stack):
    image = create(stack, "demo", "before.jpg")
    changed = stack.call(
        "PATCH",
        f"/images/{image['id']}",
        "demo",
        json={"title": "Sunset", "description": "at the lake\nlate", "filename": "after.jpg"},
    )
    assert changed.status_code == 200
    body = changed.json()
    assert (body["title"], body["description"], body["filename"]) == (
        "Sunset",
        "at the lake\nlate",
        "after.jpg",
    )
    assert body["version"] == image["version"] + 1
    for bad, field in (
        ({"title": "x" * 201}, "title"),
        ({"filename": ""}, "filename"),
        ({"filename": "a\nb"}, "filename"),
        ({"status": "ready"}, "status"),
        ({}, "nothing"),
        ({"title": 5}, "title"),
    ):
        response = stack.call("PATCH", f"/images/{image['id']}", "demo", json=bad)
        assert response.status_code == 400
        assert field in response.json()["Message"]


def test_of_two_concurrent_patches_one_wins_and_the_other_gets_409(stack):
    image = create(stack, "demo", "race.jpg")
    barrier = threading.Barrier(2)
    results = {}

    def patch(title):
        barrier.wait()
        results[title] = stack.call(
            "PATCH",
            f"/images/{image['id']}",
            "demo",
            json={"title": title, "version": image["version"]},
        )

    threads = [threading.Thread(target=patch, args=(title,)) for title in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(response.status_code for response in results.values())
    assert statuses == [200, 409]
    winner = next(t for t, r in results.items() if r.status_code == 200)
    loser = next(t for t, r in results.items() if r.status_code == 409)
    now = stack.call("GET", f"/images/{image['id']}", "demo").json()
    assert now["title"] == winner
    assert now["version"] == image["version"] + 1
    retried = stack.call(
        "PATCH", f"/images/{image['id']}", "demo", json={"title": loser, "version": now["version"]}
    )
    assert retried.status_code == 200


def served(stack, image_id, variant="preview") -> Image.Image:
    redirect = stack.call("GET", f"/images/{image_id}/content/{variant}", "demo")
    assert redirect.status_code == 307
    return Image.open(io.BytesIO(requests.get(redirect.headers["Location"], timeout=30).content))


def send_form(form, data, content_type="image/jpeg"):
    response = requests.post(
        form["url"], data=form["fields"], files={"file": ("f", data, content_type)}, timeout=30
    )
    assert response.status_code in (200, 201, 204)


def test_replacing_content_serves_the_old_version_until_the_new_one_is_ready(stack):
    image = upload(stack, "demo", jpeg((800, 600), (200, 0, 0)))
    first = wait_until_done(stack, "demo", image["id"])
    assert served(stack, image["id"]).size == (800, 600)

    replacing = stack.call(
        "POST",
        f"/images/{image['id']}/upload",
        "demo",
        json={"contentType": "image/jpeg", "filename": "new.jpg"},
    )
    assert replacing.status_code == 201
    assert replacing.json()["image"]["status"] == "awaiting_upload"
    assert served(stack, image["id"]).size == (800, 600)

    send_form(replacing.json()["upload"], jpeg((1000, 500), (0, 200, 0)))
    second = wait_until_done(stack, "demo", image["id"])
    assert second["status"] == "ready"
    assert served(stack, image["id"]).size == (1000, 500)
    assert second["sha256"] != first["sha256"]
    s3 = stack.client("s3")
    originals = s3.list_objects_v2(Bucket=stack.state["bucket"], Prefix=f"uploads/{image['id']}/")
    assert originals["KeyCount"] == 1

    failing = stack.call(
        "POST", f"/images/{image['id']}/upload", "demo", json={"contentType": "image/jpeg"}
    ).json()
    send_form(failing["upload"], b"this is not a picture at all")
    third = wait_until_done(stack, "demo", image["id"])
    assert third["status"] == "failed"
    assert third["failure"]["code"] == "not_an_image"
    assert third["sha256"] == second["sha256"]
    assert served(stack, image["id"]).size == (1000, 500)
    rows = [
        row
        for row in stack.call("GET", "/uploads?limit=100", "demo").json()["uploads"]
        if row["imageId"] == image["id"]
    ]
    assert [row["status"] for row in rows] == ["failed", "ready", "ready"]
    assert rows[0]["failure"]["code"] == "not_an_image"
    assert rows[0]["replaces"] == rows[1]["uploadId"]


def test_delete_removes_every_object_and_leaves_a_tombstone_in_the_log(stack):
    image = upload(stack, "demo", jpeg())
    wait_until_done(stack, "demo", image["id"])
    s3 = stack.client("s3")
    bucket = stack.state["bucket"]

    def objects():
        return sum(
            s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/{image['id']}/")["KeyCount"]
            for prefix in ("uploads", "variants", "renders")
        )

    assert objects() == 5  # the original, its shared copy and three variants
    assert stack.call("DELETE", f"/images/{image['id']}", "demo").status_code == 204
    assert objects() == 0
    assert stack.call("GET", f"/images/{image['id']}", "demo").status_code == 404
    assert stack.call("DELETE", f"/images/{image['id']}", "demo").status_code == 404
    listed = stack.call("GET", "/images?limit=100", "demo").json()["images"]
    assert image["id"] not in [i["id"] for i in listed]
    rows = [
        row
        for row in stack.call("GET", "/uploads?limit=100", "demo").json()["uploads"]
        if row["imageId"] == image["id"]
    ]
    assert [row["status"] for row in rows] == ["deleted"]
    assert rows[0]["deletedAt"]


def test_the_log_shows_good_failed_and_deleted_uploads_with_times(stack):
    stack.create_user("logger")
    good = upload(stack, "logger", jpeg())
    bad = upload(stack, "logger", b"nope", filename="bad.jpg")
    gone = upload(stack, "logger", jpeg())
    for image in (good, bad, gone):
        wait_until_done(stack, "logger", image["id"])
    stack.call("DELETE", f"/images/{gone['id']}", "logger")
    rows = stack.call("GET", "/uploads", "logger").json()["uploads"]
    by_image = {row["imageId"]: row for row in rows}
    assert [row["imageId"] for row in rows] == [gone["id"], bad["id"], good["id"]]
    assert by_image[good["id"]]["status"] == "ready"
    assert by_image[good["id"]]["durationMs"] >= 0
    assert by_image[good["id"]]["uploadedAt"] and by_image[good["id"]]["processedAt"]
    assert by_image[bad["id"]]["status"] == "failed"
    assert by_image[bad["id"]]["failure"]["code"] == "not_an_image"
    assert by_image[gone["id"]]["status"] == "deleted"
    assert by_image[good["id"]]["uploader"]["name"] == "logger"
    assert by_image[good["id"]]["filename"] == "photo.jpg"
    failed_only = stack.call("GET", "/uploads?status=failed", "logger").json()["uploads"]
    assert [row["imageId"] for row in failed_only] == [bad["id"]]
