"""Writes of the core domain."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from dsta.core import audit, crypto, selectors
from dsta.core.contracts import SecretMetadata
from dsta.core.models import Secret, UserPreferences


def secret_set(*, key: str, value: str, actor_id: int | None = None) -> SecretMetadata:
    if not key or len(key) > 200:
        raise ValueError("secret key must be 1..200 characters")
    with transaction.atomic():
        secret = Secret.objects.select_for_update().filter(key=key).first()
        if secret is None:
            secret = Secret(key=key, version=0)
        secret.ciphertext = crypto.encrypt(value)
        secret.version += 1
        secret.updated_by_id = actor_id
        secret.save()
        audit.record(
            actor_id=actor_id, action="config.secret_set", target=f"secret:{key}", details={"version": secret.version}
        )
    return SecretMetadata(key=secret.key, version=secret.version, updated_at=secret.updated_at)


def preferences_set(*, user_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """Replaces the user's preferences (PUT semantics)."""
    preferences, _ = UserPreferences.objects.update_or_create(user_id=user_id, defaults={"values": values})
    return dict(preferences.values)


def secret_read(*, key: str, actor_id: int, ip: str | None = None) -> str | None:
    """A secret's value for a person (the secrets endpoint): the read is audited, the value is not."""
    value = selectors.secret_value(key=key)
    audit.record(
        actor_id=actor_id,
        action="config.secret_read",
        target=f"secret:{key}",
        details={"found": value is not None},
        ip=ip,
    )
    return value
