"""One place that tells the time, so tests and replays can reason about it."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def from_epoch_ms(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


def to_epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
