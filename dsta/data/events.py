"""Events the data domain publishes (versioned)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from dsta.kernel.events import DomainEvent


@dataclass(frozen=True)
class CandleClosed(DomainEvent):
    """A bar closed and is stored; published once per bar.

    Version 2 adds `backfill`: true when a newer bar had already closed when this one was stored (a bar
    caught up after downtime, or history loaded in bulk). Consumers update state from every bar (marks,
    stops) but decide (strategies) on bars with `backfill` false only: no orders for stale bars. Version 1
    payloads decode with `backfill` false."""

    event_name = "data.candle_closed"
    event_version = 2

    exchange: str
    symbol: str
    timeframe: str
    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    backfill: bool = False

    def aggregate_key(self) -> str:
        return f"candles:{self.exchange}:{self.symbol}:{self.timeframe}"
