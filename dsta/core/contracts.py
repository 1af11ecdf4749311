"""Frozen dataclasses that cross the core domain's boundary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class UserSummary:
    user_id: int
    username: str
    email: str
    is_active: bool
    is_staff: bool
    date_joined: datetime


@dataclass(frozen=True)
class SecretMetadata:
    """What may be shown about a secret: never its value."""

    key: str
    version: int
    updated_at: datetime
