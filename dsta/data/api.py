"""Facade of the data domain: the only entry other domains use."""

from __future__ import annotations

from datetime import datetime

from dsta.data import selectors, services
from dsta.data.contracts import (
    CandleBar,
    CandleFrame,
    GapSpan,
    OrderBookSnapshot,
    QualityReport,
    SeriesSummary,
    TickerSnapshot,
)


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


def quality_report(*, exchange: str, symbol: str, timeframe: str, outlier_z: float = 10.0) -> QualityReport:
    """Counts and first examples per validation rule over a stored series (nothing is dropped)."""
    return selectors.quality_report_series(exchange=exchange, symbol=symbol, timeframe=timeframe, outlier_z=outlier_z)


def gaps_find(
    *, exchange: str, symbol: str, timeframe: str, start: datetime | None = None, end: datetime | None = None
) -> list[GapSpan]:
    """Runs of bars missing on the series' grid: between its first and last bar, or over [start, end)."""
    return selectors.gaps_find(exchange=exchange, symbol=symbol, timeframe=timeframe, start=start, end=end)


def order_book_record(*, snapshot: OrderBookSnapshot) -> None:
    services.order_book_record(snapshot=snapshot)


def order_book_latest(*, exchange: str, symbol: str) -> OrderBookSnapshot | None:
    return selectors.order_book_latest(exchange=exchange, symbol=symbol)


def ticker_record(*, ticker: TickerSnapshot) -> None:
    services.ticker_record(ticker=ticker)


def ticker_latest(*, exchange: str, symbol: str) -> TickerSnapshot | None:
    return selectors.ticker_latest(exchange=exchange, symbol=symbol)
