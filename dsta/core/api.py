"""Facade of the core domain: other domains reach users, auth and config only through here."""

from __future__ import annotations

from dsta.core import selectors, services
from dsta.core.contracts import SecretMetadata, UserSummary


def user_get(*, user_id: int) -> UserSummary | None:
    """A user by id (other domains store `user_id` as a plain integer), or None if there is none."""
    return selectors.user_get(user_id=user_id)


def secret_get(*, key: str) -> str | None:
    """Decrypted value of a stored secret (e.g. `exchange/binance/api_key`), or None. Callers must not log it."""
    return selectors.secret_value(key=key)


def secret_set(*, key: str, value: str, actor_id: int | None = None) -> SecretMetadata:
    """Store a secret encrypted under the newest Fernet key; returns its metadata, never the value."""
    return services.secret_set(key=key, value=value, actor_id=actor_id)
