"""Facade of the data domain: the only entry other domains use."""

from __future__ import annotations

from datetime import datetime

from dsta.data import selectors, services
from dsta.data.contracts import CandleBar, CandleFrame, SeriesSummary


def candles_get(
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
) -> list[CandleBar]:
    """Bars of one series in time order, `start` inclusive and `end` exclusive."""
    return selectors.candles_list(
        exchange=exchange, symbol=symbol, timeframe=timeframe, start=start, end=end, limit=limit
    )


def candles_frame(
    *, exchange: str, symbol: str, timeframe: str, start: datetime | None = None, end: datetime | None = None
) -> CandleFrame:
    """One series as numpy columns (float64, for analysis), `start` inclusive and `end` exclusive."""
    return selectors.candles_frame(exchange=exchange, symbol=symbol, timeframe=timeframe, start=start, end=end)


def series_list() -> list[SeriesSummary]:
    """Every stored (exchange, symbol, timeframe) series with its size and time range."""
    return selectors.series_list()


def candle_close(*, bar: CandleBar) -> None:
    """Record a closed bar; publishes `data.candle_closed` atomically with the write."""
    services.candle_close(bar=bar)
