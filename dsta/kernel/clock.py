"""One place that tells the time, so tests and replays can reason about it."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def from_epoch_ms(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


def to_epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def market_now() -> datetime:
    """The time on the markets' clock: the wall clock, unless `DSTA_MARKET_CLOCK` maps a fast one.

    `scaled:<origin_ms>:<wall_start_ms>:<speed>` reads the venue's time as origin + (wall - wall_start) x speed,
    the clock of the fast-clock fake venue (dsta/exchange/tests/fast_clock.py), so the scheduler and the
    workers agree with it without asking it."""
    from django.conf import settings

    return market_time_at(getattr(settings, "DSTA_MARKET_CLOCK", ""), wall=time.time())


def market_time_at(clock: str, *, wall: float) -> datetime:
    if not clock or clock == "system":
        return datetime.fromtimestamp(wall, tz=UTC)
    kind, _, spec = clock.partition(":")
    parts = spec.split(":")
    if kind != "scaled" or len(parts) != 3:
        raise ValueError(
            f"DSTA_MARKET_CLOCK {clock!r}: expected 'system' or 'scaled:<origin_ms>:<wall_start_ms>:<speed>'"
        )
    origin_ms, wall_start_ms, speed = int(parts[0]), int(parts[1]), float(parts[2])
    return from_epoch_ms(int(origin_ms + (wall * 1000 - wall_start_ms) * speed))


def wall_seconds_for(clock: str, market_seconds: float) -> float:
    """How long `market_seconds` on the markets' clock last on the wall clock."""
    if not clock or clock == "system":
        return market_seconds
    return market_seconds / float(clock.rsplit(":", 1)[1])
