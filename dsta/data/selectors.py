"""Reads of the data domain."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from django.db import connections
from django.db.models import Count, Max, Min

from dsta.data.contracts import CandleBar, CandleFrame, SeriesSummary
from dsta.data.models import Candle

ALIAS = "data"

# COPY ... (FORMAT binary) of (timestamptz, 5 x float8, bool): every row has the same width, so the whole
# stream is one numpy structured array. Fields are big-endian, each preceded by its int32 length.
_FRAME_ROW = np.dtype(
    [("fields", ">i2"), ("t_len", ">i4"), ("open_time", ">i8")]
    + [item for name in ("open", "high", "low", "close", "volume") for item in ((f"{name}_len", ">i4"), (name, ">f8"))]
    + [("s_len", ">i4"), ("is_synthetic", "?")]
)
_COPY_HEADER_BYTES = 19  # signature (11), flags (4), header extension length (4, zero)
_COPY_TRAILER_BYTES = 2
_POSTGRES_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds


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
        .annotate(candles=Count("open_time"), first=Min("open_time"), last=Max("open_time"))
        .order_by("exchange", "symbol", "timeframe")
    )
    return [
        SeriesSummary(row["exchange"], row["symbol"], row["timeframe"], row["candles"], row["first"], row["last"])
        for row in rows
    ]


def candles_frame(
    *, exchange: str, symbol: str, timeframe: str, start: datetime | None = None, end: datetime | None = None
) -> CandleFrame:
    """One series as columns, read with a binary COPY straight into numpy (no per-row Python objects)."""
    conditions = ["exchange = %s", "symbol = %s", "timeframe = %s"]
    params: list[object] = [exchange, symbol, timeframe]
    if start is not None:
        conditions.append("open_time >= %s")
        params.append(start)
    if end is not None:
        conditions.append("open_time < %s")
        params.append(end)
    sql = (
        "COPY (SELECT open_time, open::float8, high::float8, low::float8, close::float8, volume::float8,"
        f" is_synthetic FROM candle WHERE {' AND '.join(conditions)} ORDER BY open_time) TO STDOUT (FORMAT binary)"
    )
    buffer = bytearray()
    with connections[ALIAS].cursor() as cursor, cursor.cursor.copy(sql, params) as copy:
        for chunk in copy:
            buffer += chunk
    body = memoryview(buffer)[_COPY_HEADER_BYTES : len(buffer) - _COPY_TRAILER_BYTES]
    rows = np.frombuffer(body, dtype=_FRAME_ROW)
    open_time = (rows["open_time"].astype(np.int64) + _POSTGRES_EPOCH_US).astype("datetime64[us]")
    columns = {name: rows[name].astype(np.float64) for name in ("open", "high", "low", "close", "volume")}
    return CandleFrame(
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        open_time=open_time,
        is_synthetic=rows["is_synthetic"].astype(bool),
        **columns,
    )
