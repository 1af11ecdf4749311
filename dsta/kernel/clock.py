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
    workers agree with it without asking it. `@<path>` in place of wall_start_ms reads it from that file once
    it exists (the clock stands at origin until then): a test starts the clock after its processes are up.
    `stepped:@<path>` reads the market time (epoch ms) from that file at every call: a test moves the clock bar
    by bar and holds it while its processes catch up (dsta/exchange/tests/stepped_clock.py)."""
    from django.conf import settings

    return market_time_at(getattr(settings, "DSTA_MARKET_CLOCK", ""), wall=time.time())


def market_time_at(clock: str, *, wall: float) -> datetime:
    if not clock or clock == "system":
        return datetime.fromtimestamp(wall, tz=UTC)
    kind, _, spec = clock.partition(":")
    if kind == "stepped":
        return from_epoch_ms(_stepped_ms(spec))
    parts = spec.split(":")
    if kind != "scaled" or len(parts) != 3:
        raise ValueError(
            f"DSTA_MARKET_CLOCK {clock!r}: expected 'system', 'scaled:<origin_ms>:<wall_start_ms>:<speed>'"
            " or 'stepped:@<path>'"
        )
    origin_ms, speed = int(parts[0]), float(parts[2])
    wall_start_ms = _wall_start(parts[1])
    if wall_start_ms is None:
        return from_epoch_ms(origin_ms)
    return from_epoch_ms(int(origin_ms + (wall * 1000 - wall_start_ms) * speed))


_started: dict[str, int] = {}


def _wall_start(spec: str) -> int | None:
    if not spec.startswith("@"):
        return int(spec)
    if spec not in _started:
        try:
            with open(spec[1:], encoding="ascii") as handle:
                _started[spec] = int(handle.read().strip())
        except (FileNotFoundError, ValueError):
            return None  # not started yet (or being written): ask again next time
    return _started[spec]


def _stepped_ms(spec: str) -> int:
    if not spec.startswith("@"):
        raise ValueError(f"DSTA_MARKET_CLOCK 'stepped:{spec}': expected 'stepped:@<path>'")
    with open(spec[1:], encoding="ascii") as handle:  # written atomically (a rename) by the test driving it
        return int(handle.read().strip())


def wall_seconds_for(clock: str, market_seconds: float) -> float:
    """How long `market_seconds` on the markets' clock last on the wall clock."""
    if not clock or clock == "system" or clock.startswith("stepped:"):
        return market_seconds  # a stepped clock has no rate: callers pace on the wall clock
    return market_seconds / float(clock.rsplit(":", 1)[1])
