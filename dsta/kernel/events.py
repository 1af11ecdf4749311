"""Domain events and the envelope they travel in.

A domain declares its events in `dsta/events/<domain>.py` (re-exported by `<domain>/events.py`) as frozen
dataclasses deriving from `DomainEvent`; `publish()` stores them in the domain's outbox; consumers subscribe by
class and receive an `EventEnvelope`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar, TypeVar
from uuid import UUID

E = TypeVar("E", bound="DomainEvent")


class DomainEvent:
    """Base for event payload dataclasses. Subclasses set `event_name` and `event_version`."""

    event_name: ClassVar[str]
    event_version: ClassVar[int] = 1

    def aggregate_key(self) -> str:
        """Events with the same key are delivered in the order they were committed."""
        raise NotImplementedError


def to_jsonable(value: Any) -> Any:
    """Plain JSON for a payload: Decimal as string (exact), datetime as ISO 8601, enums by value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: to_jsonable(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), separators=(",", ":"))


@dataclass(frozen=True)
class EventEnvelope:
    event_id: str
    name: str
    version: int
    source: str  # the publishing domain
    aggregate_key: str
    occurred_at: str
    payload: dict[str, Any]
    sequence: int  # position in the source outbox
    # Where the event came from: request_id, user_id, W3C traceparent (see kernel/telemetry.py). Optional, so
    # rows stored and messages queued before it existed still read.
    context: dict[str, Any] = dataclasses.field(default_factory=dict)

    def as_message(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> EventEnvelope:
        known = {key: value for key, value in message.items() if key in _ENVELOPE_FIELDS}
        return cls(**known)  # a newer sender may add envelope fields; this reader ignores them

    def decode(self, event_type: type[E]) -> E:
        """Rebuild the publisher's dataclass, converting fields back through their annotated types."""
        if event_type.event_name != self.name:
            raise ValueError(f"envelope carries {self.name}, not {event_type.event_name}")
        hints = {field.name: field.type for field in dataclasses.fields(event_type)}  # type: ignore[arg-type]
        values = {}
        for name, raw in self.payload.items():
            if name not in hints:
                continue  # a newer publisher may add fields; older consumers ignore them
            values[name] = _coerce(hints[name], raw)
        return event_type(**values)


_ENVELOPE_FIELDS = frozenset(field.name for field in dataclasses.fields(EventEnvelope))


def _coerce(annotation: Any, raw: Any) -> Any:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    if raw is None:
        return None
    if text.startswith("Decimal"):
        return Decimal(raw)
    if text.startswith("datetime"):
        return datetime.fromisoformat(raw)
    if text.startswith("UUID"):
        return UUID(raw)
    return raw
