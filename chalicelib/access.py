"""Who the caller is (verified Cognito claims or an API key) and what they may do."""

from typing import Any

from chalicelib.errors import NotFound, NotSignedIn
from chalicelib.images import Caller, Image


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
    if not key_id:
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


def require_owner(caller: Caller, image: Image | None) -> Image:
    """The image if the caller may change it; someone else's image is 'not found', not 403."""
    if image is None or image.status == "deleted" or image.ownerId != caller.id:
        raise NotFound("no such image")
    return image
