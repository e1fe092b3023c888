"""Opaque, unguessable ids made by the server."""

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(15)}"
