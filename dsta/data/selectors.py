"""Reads of the data domain."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Max, Min

from dsta.data.contracts import CandleBar, SeriesSummary
from dsta.data.models import Candle

ALIAS = "data"


def candles_list(
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
) -> list[CandleBar]:
    queryset = Candle.objects.using(ALIAS).filter(exchange=exchange, symbol=symbol, timeframe=timeframe)
    if start is not None:
        queryset = queryset.filter(open_time__gte=start)
    if end is not None:
        queryset = queryset.filter(open_time__lt=end)
    rows = queryset.order_by("open_time").values_list("open_time", "open", "high", "low", "close", "volume")
    if limit is not None:
        rows = rows[:limit]
    return [
        CandleBar(exchange, symbol, timeframe, open_time, open_, high, low, close, volume)
        for open_time, open_, high, low, close, volume in rows
    ]


def series_list() -> list[SeriesSummary]:
    rows = (
        Candle.objects.using(ALIAS)
        .values("exchange", "symbol", "timeframe")
        .annotate(candles=Count("id"), first=Min("open_time"), last=Max("open_time"))
        .order_by("exchange", "symbol", "timeframe")
    )
    return [
        SeriesSummary(row["exchange"], row["symbol"], row["timeframe"], row["candles"], row["first"], row["last"])
        for row in rows
    ]
