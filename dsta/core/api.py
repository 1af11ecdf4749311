"""Facade of the core domain: other domains reach users, auth and config only through here."""

from __future__ import annotations

from dsta.core import selectors
from dsta.core.contracts import UserSummary


def user_get(*, user_id: int) -> UserSummary | None:
    """A user by id (other domains store `user_id` as a plain integer), or None if there is none."""
    return selectors.user_get(user_id=user_id)
