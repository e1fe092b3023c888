"""Who the caller is (verified Cognito claims or an API key) and what they may do.

Every rule is here:
  read an image     its uploader; members of its collection; admins; any API key
  change/delete it  its uploader; the owner of its collection
  a collection      its members read it and upload to it; its owner manages members
  embed links       who may change an image mints, lists and revokes them; admins list
                    them; an API key mints for any image and lists and revokes its own
Without read access an image is "not found" (404), so image ids reveal nothing; a
collection that exists answers 403 to non-members, as the upstream check below does.
With ACCESS_CHECK_URL set, collection membership is decided by that upstream service
instead (200 allows; 401, 403 and 404 deny; anything else, a redirect too, is 503, never an
allow; chalicelib.upstream says how the question is asked).
"""

from typing import Any

from chalicelib import collection, records, settings, upstream
from chalicelib.callers import Caller
from chalicelib.errors import Forbidden, NotFound, NotSignedIn, Unavailable
from chalicelib.images import Image, Status


def caller_from_context(context: dict[str, Any] | None) -> Caller:
    """The caller from what the authorizer put in the request context; 401 if it put nothing.

    API Gateway's Cognito authorizer gives the ID token's claims as strings, with the groups
    as one comma- or space-separated string ("admins" or "[admins other]").
    """
    authorizer = (context or {}).get("authorizer") or {}
    claims = authorizer.get("claims") or {}
    subject = claims.get("sub") if isinstance(claims, dict) else None
    if not subject or not isinstance(subject, str):
        raise NotSignedIn("this route needs a signed-in user")
    name = claims.get("cognito:username") or claims.get("username") or subject
    return Caller(id=subject, name=str(name), groups=_groups(claims.get("cognito:groups")))


def caller_from_api_key(context: dict[str, Any] | None) -> Caller:
    authorizer = (context or {}).get("authorizer") or {}
    key_id = authorizer.get("keyId")
    if not key_id or authorizer.get("claims"):
        raise NotSignedIn("this route needs an API key")
    return Caller(
        id=f"apikey:{key_id}", name=str(authorizer.get("keyName", key_id)), api_key_id=str(key_id)
    )


def _groups(raw: Any) -> frozenset[str]:
    if isinstance(raw, list):
        return frozenset(str(group) for group in raw)
    if not isinstance(raw, str):
        return frozenset()
    return frozenset(part for part in raw.strip("[]").replace(",", " ").split() if part)


class Access:
    """One request's view of the rules; upstream answers are remembered for the request, so
    no request makes more than one upstream call per collection."""

    def __init__(self, caller: Caller, authorization: str | None = None):
        self.caller = caller
        self._authorization = authorization
        self._membership: dict[str, bool] = {}

    def is_member(self, collection_id: str) -> bool:
        if collection_id not in self._membership:
            if settings.get().access_check_url:
                self._membership[collection_id] = self._ask_upstream(collection_id)
            else:
                self._membership[collection_id] = collection.is_member(
                    collection_id, self.caller.id
                )
        return self._membership[collection_id]

    def _ask_upstream(self, collection_id: str) -> bool:
        config = settings.get()
        url = upstream.check_url(config.access_check_url, collection_id)
        try:
            status = upstream.status_of(
                url, self._authorization, config.access_check_timeout_seconds
            )
        except upstream.NoAnswer:
            raise Unavailable("the access check service did not answer; try again") from None
        if status == 200:
            return True
        if status in (401, 403, 404):
            return False
        raise Unavailable(f"the access check service answered {status}; try again")

    def can_read(self, image: Image) -> bool:
        if self.caller.api_key_id or self.caller.is_admin or image.ownerId == self.caller.id:
            return True
        if not image.collectionId:
            return False
        return self.is_member(image.collectionId)

    def can_change(self, image: Image) -> bool:
        if image.ownerId == self.caller.id:
            return True
        owner = collection.owner_of(image.collectionId) if image.collectionId else None
        return owner == self.caller.id

    def readable(self, image_id: str) -> Image:
        image = _load(image_id)
        if image is None or not self.can_read(image):
            raise NotFound("no such image")
        return image

    def changeable(self, image_id: str) -> Image:
        image = self.readable(image_id)
        if not self.can_change(image):
            raise Forbidden("only the uploader or the collection's owner may change this image")
        return image

    def links_listable(self, image_id: str) -> Image:
        """An image whose embed links the caller may list: who may change it, and admins
        (who look, but do not revoke)."""
        image = self.readable(image_id)
        if not (self.caller.is_admin or self.can_change(image)):
            raise Forbidden("only the uploader, the collection's owner or an admin may do this")
        return image

    def links_minted_by(self) -> str | None:
        """Whose embed links the caller sees and revokes: an API key only those it minted
        (None: all of the image's)."""
        return self.caller.id if self.caller.api_key_id else None

    def require_member(self, collection_id: str) -> None:
        if not self.is_member(collection_id):
            raise Forbidden("only members of the collection may do this")

    def require_admin(self) -> None:
        if not self.caller.is_admin:
            raise Forbidden("only admins may do this")


def _load(image_id: str) -> Image | None:
    if not (image_id.startswith("img_") and len(image_id) <= 64 and image_id.isascii()):
        return None
    image = records.get_image(image_id)
    if image is None or image.status == Status.DELETED:
        return None
    return image
