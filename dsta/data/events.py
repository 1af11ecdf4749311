"""Events the data domain publishes (versioned)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from dsta.kernel.events import DomainEvent


@dataclass(frozen=True)
class CandleClosed(DomainEvent):
    event_name = "data.candle_closed"
    event_version = 1

    exchange: str
    symbol: str
    timeframe: str
    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    def aggregate_key(self) -> str:
        return f"candles:{self.exchange}:{self.symbol}:{self.timeframe}"
