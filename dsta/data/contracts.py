"""Frozen dataclasses that cross the data domain's boundary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

TIMEFRAME_SECONDS = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "12h": 43200,
    "1d": 86400,
}


@dataclass(frozen=True)
class CandleBar:
    exchange: str
    symbol: str
    timeframe: str
    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True)
class SeriesSummary:
    exchange: str
    symbol: str
    timeframe: str
    candles: int
    first_open_time: datetime
    last_open_time: datetime


@dataclass(frozen=True)
class ImportReport:
    exchange: str
    symbol: str
    timeframe: str
    rows_read: int
    rows_inserted: int
    rows_updated: int
