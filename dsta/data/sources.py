"""Where the data domain fetches bars from: a small port, so sync and gap filling do not care whether the
bars come from the exchange domain (production) or from exchange-downloaded files (offline replay, tests)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from django.conf import settings

from dsta.data.contracts import TIMEFRAME_SECONDS, CandleBar

if TYPE_CHECKING:
    import pandas as pd


class CandleSource(Protocol):
    def fetch(self, *, exchange: str, symbol: str, timeframe: str, since: datetime, limit: int) -> list[CandleBar]:
        """Up to `limit` bars with open_time >= `since`, in time order; [] when there are none."""
        ...


class ExchangeCandleSource:
    """Bars from the exchange domain's facade (ccxt underneath)."""

    def fetch(self, *, exchange: str, symbol: str, timeframe: str, since: datetime, limit: int) -> list[CandleBar]:
        from dsta.exchange.api import ohlcv_fetch

        bars = ohlcv_fetch(venue=exchange, symbol=symbol, timeframe=timeframe, since=since, limit=limit)
        return [
            CandleBar(exchange, symbol, timeframe, bar.open_time, bar.open, bar.high, bar.low, bar.close, bar.volume)
            for bar in bars
            if bar.open_time >= since
        ]


class CsvCandleSource:
    """Bars replayed from OHLCV files named `<BASE>_<QUOTE>-<timeframe>.csv.gz` (the ../shared/data layout)."""

    def __init__(self, directory: Path):
        self.directory = directory

    def fetch(self, *, exchange: str, symbol: str, timeframe: str, since: datetime, limit: int) -> list[CandleBar]:
        table = _read_table(self.directory / f"{symbol.replace('/', '_')}-{timeframe}.csv.gz")
        since_ms = int(since.timestamp() * 1000)
        stamps = table["timestamp"].astype("int64")
        rows = table[stamps >= since_ms].head(limit)
        return [
            CandleBar(
                exchange,
                symbol,
                timeframe,
                datetime.fromtimestamp(int(ts) / 1000, tz=UTC),
                Decimal(o),
                Decimal(h),
                Decimal(lo),
                Decimal(c),
                Decimal(v),
            )
            for ts, o, h, lo, c, v in rows.itertuples(index=False)
        ]


@functools.lru_cache(maxsize=16)
def _read_table(path: Path) -> pd.DataFrame:
    import pandas as pd  # on use only: pandas costs seconds at every process start

    if not path.is_file():
        return pd.DataFrame(columns=["timestamp", "open", "high", "low", "close", "volume"])
    return pd.read_csv(path, dtype=str)  # text: the prices stay exact Decimals


def candle_source_default() -> CandleSource:
    """`DSTA_CANDLE_SOURCE`: `exchange` (default) or `csv:<directory>`."""
    setting: str = getattr(settings, "DSTA_CANDLE_SOURCE", "exchange")
    if setting.startswith("csv:"):
        return CsvCandleSource(Path(setting.removeprefix("csv:")))
    return ExchangeCandleSource()


def step(timeframe: str) -> timedelta:
    return timedelta(seconds=TIMEFRAME_SECONDS[timeframe])
