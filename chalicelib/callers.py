"""Who is asking, as a value: a user from verified Cognito claims, or an external API key.

chalicelib.access makes a Caller from the request and owns what it may do. The value lives
apart so the storage modules access itself calls (collection, apikeys) can take a Caller
without importing the rules.
"""

from dataclasses import dataclass, field


@dataclass
class Caller:
    """Who is asking: a user from verified Cognito claims, or an external API key."""

    id: str
    name: str
    groups: frozenset[str] = field(default_factory=frozenset)
    api_key_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admins" in self.groups
