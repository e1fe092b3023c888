"""Listings are Queries whose cost grows with the page, not with the table."""

import pytest

from chalicelib import aws, image_operations, records
from chalicelib.callers import Caller
from chalicelib.images import Image, Status, Upload
from tests.support.aws_guards import forbid_scans, query_costs

USERS = 50
PER_USER = 40


def _seed() -> None:
    with aws.table().batch_writer() as batch:
        for user in range(USERS):
            for n in range(PER_USER):
                image_id, created = f"img_u{user}n{n}", f"2026-11-{1 + n % 28:02}T10:00:{n:02}.000Z"
                image = Image(
                    id=image_id,
                    ownerId=f"user-{user}",
                    ownerName=f"user{user}",
                    filename="x.jpg",
                    declaredType="image/jpeg",
                    status=Status.READY,
                    uploadId=f"up_{user}_{n}",
                    createdAt=created,
                    updatedAt=created,
                )
                upload = Upload(
                    imageId=image_id,
                    uploadId=f"up_{user}_{n}",
                    ownerId=f"user-{user}",
                    ownerName=f"user{user}",
                    filename="x.jpg",
                    status=Status.READY,
                    createdAt=created,
                    expiresAt=created,
                    key=f"uploads/{image_id}/up",
                )
                batch.put_item(Item=records._image_item(image))
                batch.put_item(Item=records._upload_item(upload))


@pytest.fixture
def seeded(resources):
    _seed()
    forbid_scans(aws.table().meta.client)
    return query_costs(aws.table().meta.client)


@pytest.mark.parametrize("limit", [1, 20, 100])
def test_one_users_first_page_examines_at_most_limit_plus_one_items(seeded, limit):
    listed = image_operations.list_images(Caller(id="user-7", name="user7"), {"limit": str(limit)})
    assert len(listed["images"]) == min(limit, PER_USER)
    assert all(image["ownerId"] == "user-7" for image in listed["images"])
    assert seeded.scanned <= limit + 1
    assert seeded.queries == 1


def test_paging_costs_one_query_per_page(seeded):
    caller = Caller(id="user-3", name="user3")
    cursor, seen = None, []
    while True:
        params = {"limit": "15", **({"cursor": cursor} if cursor else {})}
        page = image_operations.list_images(caller, params)
        seen.extend(image["id"] for image in page["images"])
        cursor = page["cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == PER_USER
    assert seeded.scanned <= PER_USER + 3
    assert seeded.queries <= 4


def test_the_log_of_one_user_is_a_query_too(seeded):
    page = records.log_of_owner("user-9", limit=20)
    assert len(page.items) == 20
    assert seeded.scanned <= 21


def test_the_scan_guard_really_refuses_scans(seeded):
    from tests.support.aws_guards import ScanForbidden

    with pytest.raises(ScanForbidden):
        aws.table().scan(Limit=1)
