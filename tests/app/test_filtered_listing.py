"""A filtered listing examines a bounded number of items per page, however few match: a page
may be short, even empty, and its cursor goes on from where the examining stopped."""

from dataclasses import replace

import pytest

from chalicelib import aws, collection, image_operations, records, uploadlog
from chalicelib.access import Access
from chalicelib.callers import Caller
from chalicelib.images import Status
from tests.support.aws_guards import forbid_scans, query_costs

ALICE = Caller(id="alice-sub", name="alice")
ADMIN = Caller(id="admin-sub", name="admin", groups=frozenset({"admins"}))
IMAGES = 300
FAILED_EVERY = 37  # the filter matches 9 of the 300 images, spread through the list


def _seed(collection_id: str) -> set[str]:
    """IMAGES images of Alice, every FAILED_EVERY-th one failed and in the collection; the
    failed ones' ids."""
    failed = set()
    with aws.table().batch_writer() as batch:
        for n in range(IMAGES):
            image, upload = image_operations.new_image(
                ALICE, filename=f"{n}.jpg", content_type="image/jpeg"
            )
            at = f"2026-11-{1 + n // 20:02}T10:{n % 60:02}:{n % 59:02}.{n:03}Z"
            image = replace(image, createdAt=at, updatedAt=at)
            upload = replace(upload, createdAt=at)
            if n % FAILED_EVERY == 0:
                image = replace(image, status=Status.FAILED, collectionId=collection_id)
                upload = replace(upload, status=Status.FAILED)
                failed.add(image.id)
            batch.put_item(Item=records._image_item(image))
            batch.put_item(Item=records._upload_item(upload))
    return failed


@pytest.fixture
def seeded(resources):
    collection_id = collection.create(ALICE, {"name": "trip"})["id"]
    failed = _seed(collection_id)
    forbid_scans(aws.table().meta.client)
    return collection_id, failed, query_costs(aws.table().meta.client)


LISTINGS = {
    "images by status": lambda params, _: image_operations.list_images(
        ALICE, {**params, "status": "failed"}
    ),
    "images by collection": lambda params, collection_id: image_operations.list_images(
        ALICE, {**params, "collectionId": collection_id}
    ),
    "own uploads by status": lambda params, _: uploadlog.list_uploads(
        Access(ALICE), {**params, "status": "failed"}
    ),
    "all uploads by status": lambda params, _: uploadlog.list_uploads(
        Access(ADMIN), {**params, "status": "failed", "all": "true"}
    ),
}


def _ids(page: dict) -> list[str]:
    return [row.get("imageId", row.get("id")) for row in page.get("images", page.get("uploads"))]


@pytest.mark.parametrize("listing", LISTINGS)
@pytest.mark.parametrize("limit", [1, 5, 20])
def test_a_filtered_page_examines_at_most_a_few_times_its_limit(seeded, listing, limit):
    collection_id, _, costs = seeded
    page = LISTINGS[listing]({"limit": str(limit)}, collection_id)
    assert costs.scanned <= records.FILTERED_EXAMINE_FACTOR * limit
    assert page["cursor"]
    assert len(_ids(page)) <= limit


@pytest.mark.parametrize("listing", LISTINGS)
@pytest.mark.parametrize("limit", [1, 5, 20])
def test_paging_a_filtered_listing_returns_every_match_once_newest_first(seeded, listing, limit):
    collection_id, failed, costs = seeded
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        scanned_before = costs.scanned
        page = LISTINGS[listing](params, collection_id)
        assert costs.scanned - scanned_before <= records.FILTERED_EXAMINE_FACTOR * limit
        seen += _ids(page)
        pages += 1
        cursor = page["cursor"]
        if not cursor:
            break
        assert pages < IMAGES
    assert len(seen) == len(set(seen)) == len(failed)
    assert set(seen) == failed
    created = {image_id: records.get_image(image_id).createdAt for image_id in seen}
    assert [created[i] for i in seen] == sorted(created.values(), reverse=True)


def test_an_unfiltered_page_still_examines_at_most_limit_plus_one(seeded):
    _, _, costs = seeded
    page = image_operations.list_images(ALICE, {"limit": "20"})
    assert len(page["images"]) == 20
    assert costs.scanned <= 21
    assert costs.queries == 1
