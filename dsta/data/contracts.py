"""Frozen dataclasses that cross the data domain's boundary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pandas as pd

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


@dataclass(frozen=True, eq=False)
class CandleFrame:
    """One series in columns, for analysis (backtests, features, metrics): float64 prices, not money.

    `open_time` is datetime64[us] in UTC; every array has the same length, in time order. Decimal stays the
    type of record (`CandleBar`); floats here only feed numerical work.
    """

    exchange: str
    symbol: str
    timeframe: str
    open_time: npt.NDArray[np.datetime64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]
    is_synthetic: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.open_time)

    def to_pandas(self) -> pd.DataFrame:
        """A DataFrame indexed by tz-aware open time (columns open, high, low, close, volume, is_synthetic)."""
        index = pd.DatetimeIndex(self.open_time, name="open_time").tz_localize("UTC")
        columns = {name: getattr(self, name) for name in ("open", "high", "low", "close", "volume", "is_synthetic")}
        return pd.DataFrame(columns, index=index, copy=False)
