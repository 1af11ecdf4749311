"""Reads of the core domain."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from dsta.core import crypto
from dsta.core.contracts import UserSummary
from dsta.core.models import NotificationTemplate, Secret, UserPreferences


def user_get(*, user_id: int) -> UserSummary | None:
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        return None
    return UserSummary(
        user_id=user.pk,
        username=user.get_username(),
        email=user.email,
        is_active=user.is_active,
        is_staff=user.is_staff,
        date_joined=user.date_joined,
    )


def secret_value(*, key: str) -> str | None:
    ciphertext = Secret.objects.filter(key=key).values_list("ciphertext", flat=True).first()
    return None if ciphertext is None else crypto.decrypt(ciphertext)


def preferences_get(*, user_id: int) -> dict[str, Any]:
    values = UserPreferences.objects.filter(user_id=user_id).values_list("values", flat=True).first()
    return dict(values or {})


def templates_list() -> list[NotificationTemplate]:
    return list(NotificationTemplate.objects.order_by("name"))
