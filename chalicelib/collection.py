"""Collections (an event's photos, a journal entry's images) and their members.

  collection  table.collection_key
  member      table.member_key, in the MEMBER_OF partition of its member
Members are identified by their user id (the `sub` that /me shows), never by a name that
could be reused; adding one by user name looks the id up once (chalicelib.directory). The
creator is the owner and the first member. Share links live in chalicelib.sharelinks.
"""

from typing import Any

from chalicelib import directory, records, table, validation
from chalicelib.callers import Caller
from chalicelib.errors import Conflict, Forbidden, Invalid, NotFound
from chalicelib.ids import new_id
from chalicelib.images import now_iso

# A person belongs to a handful of collections; the listing shows the newest this many.
MAX_LISTED = 100


def _member(collection_id: str, user_id: str, added_at: str, added_by: str) -> dict[str, Any]:
    """A membership, findable from the member's side too (GET /collections)."""
    return {
        **table.member_key(collection_id, user_id),
        "userId": user_id,
        "addedAt": added_at,
        "addedBy": added_by,
        **table.MEMBER_OF.attributes(user_id, f"{added_at}#{collection_id}"),
    }


def _valid_id(collection_id: str) -> bool:
    return collection_id.startswith("col_") and len(collection_id) <= 64 and collection_id.isascii()


def create(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    validation.only_fields(body, {"name", "description"})
    name = validation.text(
        body, "name", max_length=200, min_length=1, required=True, single_line=True
    )
    description = validation.text(body, "description", max_length=2000) or ""
    collection_id, now = new_id("col"), now_iso()
    meta = {
        **table.collection_key(collection_id),
        "id": collection_id,
        "name": name,
        "description": description,
        "ownerId": caller.id,
        "ownerName": caller.name,
        "createdAt": now,
    }
    member = {**_member(collection_id, caller.id, now, caller.id), "username": caller.name}
    records.put_all([meta, member])
    return _public(meta, [member])


def get(collection_id: str) -> dict[str, Any] | None:
    """The collection and its members, in one Query; None if there is no such collection."""
    if not _valid_id(collection_id):
        return None
    items = records.partition(table.collection_partition(collection_id), consistent=True)
    meta = next((item for item in items if item["sk"] == "META"), None)
    if meta is None:
        return None
    return {
        "meta": meta,
        "members": [item for item in items if item["sk"].startswith(table.MEMBER_SORT_PREFIX)],
    }


def of_member(caller: Caller) -> dict[str, Any]:
    """GET /collections: the collections the caller belongs to, newest membership first (one
    Query on the memberships, one BatchGet of their collections)."""
    memberships, _ = records.index_page(table.MEMBER_OF, caller.id, limit=MAX_LISTED)
    ids = [item["pk"].removeprefix(table.collection_partition("")) for item in memberships]
    metas = records.batch_get([table.collection_key(c) for c in ids]) if ids else []
    by_id = {meta["id"]: meta for meta in metas}
    return {"collections": [_summary(by_id[c], caller) for c in ids if c in by_id]}


def _summary(meta: dict[str, Any], caller: Caller) -> dict[str, Any]:
    shown = _public(meta, [])
    del shown["members"]
    return {**shown, "owned": meta["ownerId"] == caller.id}


def is_member(collection_id: str, user_id: str) -> bool:
    if not _valid_id(collection_id):
        return False
    return records.get(table.member_key(collection_id, user_id)) is not None


def owner_of(collection_id: str) -> str | None:
    if not _valid_id(collection_id):
        return None
    item = records.get(table.collection_key(collection_id), consistent=False)
    return item["ownerId"] if item else None


def _public(meta: dict[str, Any], members: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": meta["id"],
        "name": meta["name"],
        "description": meta.get("description", ""),
        "ownerId": meta["ownerId"],
        "ownerName": meta.get("ownerName"),
        "createdAt": meta["createdAt"],
        "members": [
            {"userId": m["userId"], "username": m.get("username"), "addedAt": m["addedAt"]}
            for m in members
        ],
    }


def _readable(collection_id: str, may_read) -> dict[str, Any]:
    found = get(collection_id)
    if found is None:
        raise NotFound("no such collection")
    if not may_read(collection_id):
        raise Forbidden("only members of the collection may see it")
    return found


def view(collection_id: str, *, may_read) -> dict[str, Any]:
    found = _readable(collection_id, may_read)
    return _public(found["meta"], found["members"])


def _owned(caller: Caller, collection_id: str, *, may_read) -> dict[str, Any]:
    found = _readable(collection_id, may_read)
    if found["meta"]["ownerId"] != caller.id:
        raise Forbidden("only the collection's owner may manage it")
    return found


def add_member(
    caller: Caller, collection_id: str, body: dict[str, Any], *, may_read
) -> tuple[dict[str, Any], str]:
    """Add a member by user id (taken as given: the `sub` that /me shows) or by user name
    (looked up in the user pool: 404 if there is no such user). Returns the collection and
    the added member's id."""
    validation.only_fields(body, {"userId", "username"})
    if ("userId" in body) == ("username" in body):
        raise Invalid("send userId or username (one of them)")
    name = validation.text(body, "username", max_length=128, min_length=1, single_line=True)
    found = _owned(caller, collection_id, may_read=may_read)
    if name is not None:
        looked_up = directory.user_id_of(name)
        if looked_up is None:
            raise NotFound(f"there is no user named {name!r}")
        user_id = looked_up
    else:
        user_id = (
            validation.text(
                body, "userId", max_length=128, min_length=1, required=True, single_line=True
            )
            or ""
        )
    if any(member["userId"] == user_id for member in found["members"]):
        raise Conflict("that user is already a member")
    assert user_id is not None  # required=True
    member = _member(collection_id, user_id, now_iso(), caller.id)
    if name is not None:
        member["username"] = name
    records.put(member)
    return _public(found["meta"], [*found["members"], member]), user_id


def require_owner(caller: Caller, collection_id: str, *, may_read) -> None:
    """Only the owner manages a collection (its members, its share links)."""
    _owned(caller, collection_id, may_read=may_read)


def remove_member(caller: Caller, collection_id: str, user_id: str, *, may_read) -> None:
    found = _owned(caller, collection_id, may_read=may_read)
    if user_id == found["meta"]["ownerId"]:
        raise Invalid("the owner cannot be removed from their collection")
    try:
        records.delete(table.member_key(collection_id, user_id), condition="attribute_exists(pk)")
    except records.LostWrite:
        raise NotFound("that user is not a member") from None
