"""Events the core domain publishes (versioned); `dsta/core/events.py` re-exports them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dsta.kernel.events import DomainEvent


@dataclass(frozen=True)
class ConfigChanged(DomainEvent):
    """A config key got a new version (a write or a rollback). Secrets never travel in events."""

    event_name = "core.config_changed"
    event_version = 1

    key: str
    version: int
    value: Any
    updated_by_id: int | None

    def aggregate_key(self) -> str:
        return f"config:{self.key}"
