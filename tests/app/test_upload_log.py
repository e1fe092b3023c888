"""The processing log as admins read it: every user's uploads, newest day first."""

from dataclasses import replace
from datetime import date, timedelta

from chalicelib import aws, cursors, image_operations, records, uploadlog
from chalicelib.access import Access
from chalicelib.callers import Caller
from tests.support.aws_guards import query_costs

ALICE = Caller(id="alice-sub", name="alice")
ADMIN = Caller(id="admin-sub", name="admin", groups=frozenset({"admins"}))


def _upload_made_on(day: date, filename: str = "old.jpg") -> str:
    image, upload = image_operations.new_image(ALICE, filename=filename, content_type="image/jpeg")
    at = f"{day.isoformat()}T12:00:00.000Z"
    records.create(replace(image, createdAt=at, updatedAt=at), replace(upload, createdAt=at))
    return image.id


def _every_page(limit: int, pages: int = 100) -> tuple[list[str], int]:
    """The image ids of the all-users log, paged through to the end; and how many pages."""
    seen, cursor = [], None
    for count in range(1, pages + 1):
        params = {"all": "true", "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        page = uploadlog.list_uploads(Access(ADMIN), params)
        seen += [row["imageId"] for row in page["uploads"]]
        cursor = page["cursor"]
        if not cursor:
            return seen, count
    raise AssertionError(f"the log had not ended after {pages} pages")


def test_paging_the_all_users_log_ends_at_the_first_day_of_the_service(resources, monkeypatch):
    monkeypatch.setattr(uploadlog, "now_iso", lambda: "2026-01-03T08:00:00.000Z")
    first = _upload_made_on(uploadlog.FIRST_DAY)
    seen, _ = _every_page(limit=1)
    assert seen == [first]


def test_rows_older_than_one_requests_look_back_are_reached_by_paging_on(resources):
    today = date.fromisoformat(uploadlog.now_iso()[:10])
    old = _upload_made_on(today - timedelta(days=uploadlog.MAX_DAYS + 9))
    new = _upload_made_on(today)
    costs = query_costs(aws.table().meta.client)
    seen, pages = _every_page(limit=20)
    assert seen == [new, old]
    assert costs.queries <= pages * uploadlog.MAX_DAYS


def test_a_request_that_reads_only_empty_days_answers_with_a_cursor_for_the_next_day(resources):
    today = date.fromisoformat(uploadlog.now_iso()[:10])
    page = uploadlog.list_uploads(Access(ADMIN), {"all": "true"})
    assert page["uploads"] == []
    next_day = today - timedelta(days=uploadlog.MAX_DAYS)
    assert page["cursor"] == cursors.encode({"day": next_day.isoformat()})
