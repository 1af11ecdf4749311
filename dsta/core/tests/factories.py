"""Users with roles and their tokens, for tests of any domain's endpoints."""

from __future__ import annotations

import itertools

from django.contrib.auth import get_user_model

from dsta.core import auth
from dsta.core.models import Role
from dsta.core.roles import ensure_built_in_roles

ROLES = ("viewer", "analyst", "trader", "admin")
PASSWORD = "correct horse battery staple"
_numbers = itertools.count()


def user_with_role(role: str | None, *, username: str | None = None):  # type: ignore[no-untyped-def]
    user = get_user_model().objects.create_user(
        username or f"{role or 'nobody'}-{next(_numbers)}", email="someone@example.test", password=PASSWORD
    )
    if role is not None:
        ensure_built_in_roles()  # a transactional test elsewhere may have flushed the seeded rows
        Role.objects.get(name=role).users.add(user)
    return user


def access_token_for(user) -> str:  # type: ignore[no-untyped-def]
    return auth.tokens_issue(user=user).access_token


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def clear_login_counters() -> None:
    client = auth.redis_client()
    for key in client.scan_iter("dsta:core:login:*"):
        client.delete(key)
