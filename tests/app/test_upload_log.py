"""The processing log as admins read it: every user's uploads, newest day first."""

from dataclasses import replace
from datetime import date

from chalicelib import records, service, uploadlog
from chalicelib.access import Access
from chalicelib.images import Caller

ALICE = Caller(id="alice-sub", name="alice")
ADMIN = Caller(id="admin-sub", name="admin", groups=frozenset({"admins"}))


def _upload_made_on(day: date, filename: str = "old.jpg") -> str:
    image, upload = service._new_image(ALICE, filename=filename, content_type="image/jpeg")
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
