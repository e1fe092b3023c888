"""The processing log: one row per upload, newest first.

A user reads their own rows (a Query on the `log` index), and a collection's owner the rows
of its share links' guests (`user=link:{linkId}`). Admins may read one user's rows,
or everyone's: those come from the `logByDay` index, one partition per UTC day, read newest
day first, so even the all-users view is a bounded series of Queries, never a Scan. One
request reads at most MAX_DAYS days; a page that ran out of days before it filled (even an
empty one) has a cursor for the next older day, down to FIRST_DAY.
"""

from datetime import date, timedelta
from typing import Any

from chalicelib import cursors, records, table, validation
from chalicelib.access import Access
from chalicelib.errors import Invalid
from chalicelib.images import now_iso

MAX_DAYS = 31  # how many days one request reads before it answers with what it has
# No upload is older than the service, so no cursor names a day before it.
FIRST_DAY = date(2026, 1, 1)


def list_uploads(access: Access, params: dict[str, str]) -> dict[str, Any]:
    validation.only_fields(params, {"limit", "cursor", "status", "user", "all"})
    limit, status = cursors.page_params(params)
    everyone = params.get("all") in ("true", "1")
    if params.get("all") not in (None, "true", "1", "false", "0"):
        raise Invalid("all must be true or false")
    user = params.get("user")
    if user is not None and not user.strip():
        raise Invalid("user must be a user id")
    if everyone or (user and not _owns_link(access, user)):
        access.require_admin()
    if everyone:
        return _everyone(limit, status, params.get("cursor"))
    owner = user or access.caller.id
    start = cursors.decode(params.get("cursor"), table.LOG, owner)
    page = records.log_of_owner(owner, limit=limit, start=start, status=status)
    return {
        "uploads": [row.public() for row in page.items],
        "cursor": cursors.encode(page.next_key),
    }


def _owns_link(access: Access, user: str) -> bool:
    """A guest upload's uploader is its share link (`link:{linkId}`): the owner of the
    link's collection reads its rows, as admins do."""
    from chalicelib import collection, sharelinks

    if not user.startswith("link:"):
        return False
    collection_id = sharelinks.collection_of(user.removeprefix("link:"))
    return collection_id is not None and collection.owner_of(collection_id) == access.caller.id


def _everyone(limit: int, status, cursor: str | None) -> dict[str, Any]:
    day, start = _day_cursor(cursor)
    rows: list[Any] = []
    # One bound on the items examined for the whole request, however many days it reads.
    examine = records.examine_bound(limit, filtered=status is not None)
    for _ in range(MAX_DAYS):
        page = records.log_of_day(
            day.isoformat(), limit=limit - len(rows), start=start, status=status, examine=examine
        )
        rows.extend(page.items)
        examine -= page.scanned
        if len(rows) >= limit or examine <= 0:
            next_cursor = (
                cursors.encode({"day": day.isoformat(), **page.next_key})
                if page.next_key
                else _day_before(day)
            )
            return {"uploads": [row.public() for row in rows], "cursor": next_cursor}
        if day <= FIRST_DAY:
            return {"uploads": [row.public() for row in rows], "cursor": None}
        day, start = day - timedelta(days=1), None
    # The look-back ran out before the page filled: the client goes on from the next day.
    return {
        "uploads": [row.public() for row in rows],
        "cursor": cursors.encode({"day": day.isoformat()}),
    }


def _day_before(day: date) -> str | None:
    """The cursor for the day before `day`; None when there are no older days."""
    return (
        cursors.encode({"day": (day - timedelta(days=1)).isoformat()}) if day > FIRST_DAY else None
    )


def _day_cursor(cursor: str | None) -> tuple[date, dict[str, Any] | None]:
    if cursor is None:
        return date.fromisoformat(now_iso()[:10]), None
    raw = dict(cursors.decode_raw(cursor))
    try:
        day = date.fromisoformat(raw.pop("day"))
    except (KeyError, TypeError, ValueError):
        raise Invalid("cursor is malformed") from None
    # A day after today is allowed only by one: the cursor may come from an instance whose
    # clock has passed midnight already.
    today = date.fromisoformat(now_iso()[:10])
    if not FIRST_DAY <= day <= today + timedelta(days=1):
        raise Invalid("cursor is malformed")
    if raw and (
        not records.is_start_key(table.LOG_BY_DAY, raw)
        or raw[table.LOG_BY_DAY.pk] != table.LOG_BY_DAY.partition(day.isoformat())
    ):
        raise Invalid("cursor is malformed")
    return day, raw or None
