"""Bars as numpy columns: what the engines and strategies compute on (floats inside, Decimal at the edges)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Bars:
    symbol: str
    timeframe: str
    time_ms: np.ndarray  # int64, bar open time in ms since the epoch (UTC)
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.close)

    def head(self, count: int) -> Bars:
        """The first `count` bars: what the world looked like at bar count-1's close."""
        return Bars(
            self.symbol,
            self.timeframe,
            self.time_ms[:count],
            self.open[:count],
            self.high[:count],
            self.low[:count],
            self.close[:count],
            self.volume[:count],
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, symbol: str, timeframe: str) -> Bars:
        """From a frame with columns timestamp (ms), open, high, low, close, volume."""
        columns = {
            name: np.ascontiguousarray(frame[name].to_numpy(dtype=np.float64))
            for name in ("open", "high", "low", "close", "volume")
        }
        return cls(symbol=symbol, timeframe=timeframe, time_ms=frame["timestamp"].to_numpy(dtype=np.int64), **columns)

    @classmethod
    def from_csv(cls, path: Path, *, symbol: str, timeframe: str) -> Bars:
        import pandas as pd  # imported here: pandas costs seconds at start-up of every worker and web process

        return cls.from_frame(pd.read_csv(path), symbol=symbol, timeframe=timeframe)

    def tiled(self, count: int, *, step_ms: int) -> Bars:
        """`count` bars made by repeating this series end to end with continuous timestamps and prices
        rescaled at each seam, for benchmarks that need more bars than exist."""
        repeats = -(-count // len(self))
        scale = np.ones(repeats)
        for index in range(1, repeats):
            scale[index] = scale[index - 1] * self.close[-1] / self.open[0]

        def tile(values: np.ndarray) -> np.ndarray:
            return (np.tile(values, repeats) * np.repeat(scale, len(self)))[:count]

        time_ms = self.time_ms[0] + np.arange(count, dtype=np.int64) * step_ms
        return Bars(
            self.symbol,
            self.timeframe,
            time_ms,
            tile(self.open),
            tile(self.high),
            tile(self.low),
            tile(self.close),
            np.tile(self.volume, repeats)[:count],
        )


_cache: dict[tuple[object, ...], Bars] = {}
CACHE_SIZE = 8


def load_bars(
    *, exchange: str, symbol: str, timeframe: str, start: datetime | None = None, end: datetime | None = None
) -> Bars:
    """Stored candles as float columns via the binary-COPY frame reader (Decimal stays in storage).

    A worker running many trials on one series reads it once: the cache key includes the series' row count
    and newest bar, checked by a cheap indexed query, so an import or a sync invalidates it."""
    from django.db import connections

    from dsta.data.selectors import candles_frame

    clauses = ["exchange = %s", "symbol = %s", "timeframe = %s"]
    params: list[str | datetime] = [exchange, symbol, timeframe]
    if start is not None:
        clauses.append("open_time >= %s")
        params.append(start)
    if end is not None:
        clauses.append("open_time < %s")
        params.append(end)
    where = " AND ".join(clauses)
    with connections["data"].cursor() as cursor:
        cursor.execute(f"SELECT count(*), max(open_time) FROM candle WHERE {where}", params)  # nosec B608
        key = (exchange, symbol, timeframe, start, end, *cursor.fetchone())
    if key in _cache:
        return _cache[key]
    frame = candles_frame(exchange=exchange, symbol=symbol, timeframe=timeframe, start=start, end=end)
    real = ~frame.is_synthetic  # forward-filled stand-ins for missing bars are not trading opportunities
    bars = Bars(
        symbol,
        timeframe,
        frame.open_time[real].astype("datetime64[ms]").astype(np.int64),
        frame.open[real],
        frame.high[real],
        frame.low[real],
        frame.close[real],
        frame.volume[real],
    )
    if len(_cache) >= CACHE_SIZE:
        _cache.pop(next(iter(_cache)))
    _cache[key] = bars
    return bars
