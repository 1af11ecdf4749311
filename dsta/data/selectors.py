"""Reads of the data domain."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
from django.db import connections
from django.db.models import Count, Max, Min

from dsta.data import analytics, quality
from dsta.data.contracts import (
    TIMEFRAME_SECONDS,
    CandleBar,
    CandleFrame,
    CorrelationMatrix,
    EquityPoint,
    GapSpan,
    IngestionJobInfo,
    MarketKey,
    OrderBookLevel,
    PerformanceMetrics,
    QualityExample,
    QualityReport,
    QualityRule,
    ReportInfo,
    SeriesSummary,
    TickerSnapshot,
)
from dsta.data.contracts import OrderBookSnapshot as OrderBookSnapshotContract
from dsta.data.models import Candle, CandleGap, IngestionJob, OrderBookSnapshot, Report, Ticker

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


def _copy_rows(sql: str, params: list[object], row: np.dtype) -> np.ndarray:
    """The rows of a `COPY (...) TO STDOUT (FORMAT binary)` whose every row has the width of `row`: one
    structured array over the stream, header and trailer cut off."""
    buffer = bytearray()
    with connections[ALIAS].cursor() as cursor, cursor.cursor.copy(sql, params) as copy:
        for chunk in copy:
            buffer += chunk
    return np.frombuffer(memoryview(buffer)[_COPY_HEADER_BYTES : len(buffer) - _COPY_TRAILER_BYTES], dtype=row)


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


_NEWEST_BAR_SQL = """
SELECT (SELECT max(open_time) FROM candle
        WHERE candle.exchange = market.exchange COLLATE "C" AND candle.symbol = market.symbol COLLATE "C"
          AND candle.timeframe = market.timeframe COLLATE "C")
FROM unnest(%s::text[], %s::text[], %s::text[]) WITH ORDINALITY AS market(exchange, symbol, timeframe, position)
ORDER BY market.position
"""


def newest_bar_times(*, markets: list[MarketKey]) -> list[datetime | None]:
    """The open time of each market's newest stored bar (None: none stored), in one read (the key's index
    answers each max from its last entry)."""
    if not markets:
        return []
    columns = [[market.exchange for market in markets], [market.symbol for market in markets]]
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(_NEWEST_BAR_SQL, [*columns, [market.timeframe for market in markets]])
        return [row[0] for row in cursor.fetchall()]


def candle_before(*, exchange: str, symbol: str, timeframe: str, before: datetime) -> CandleBar | None:
    bars = (
        Candle.objects.using(ALIAS)
        .filter(exchange=exchange, symbol=symbol, timeframe=timeframe, open_time__lt=before)
        .order_by("-open_time")
        .values_list("open_time", "open", "high", "low", "close", "volume")[:1]
    )
    return next((CandleBar(exchange, symbol, timeframe, *row) for row in bars), None)


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
    sql = (  # the conditions are fixed fragments; values go as %s parameters
        "COPY (SELECT open_time, open::float8, high::float8, low::float8, close::float8, volume::float8,"  # nosec B608
        f" is_synthetic FROM candle WHERE {' AND '.join(conditions)} ORDER BY open_time) TO STDOUT (FORMAT binary)"
    )
    rows = _copy_rows(sql, params, _FRAME_ROW)
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


def _series_label(exchange: str, symbol: str, timeframe: str) -> str:
    return f"{exchange} {symbol} {timeframe}"


def _us(open_time: np.ndarray) -> np.ndarray:
    return open_time.astype("datetime64[us]").astype(np.int64)


def _datetime_from_us(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC)


def quality_report_arrays(
    *,
    source: str,
    timeframe: str,
    open_time_us: np.ndarray,
    columns: dict[str, np.ndarray],
    outlier_z: float = quality.DEFAULT_OUTLIER_Z,
) -> QualityReport:
    step_us = TIMEFRAME_SECONDS[timeframe] * 1_000_000
    outcomes = quality.validate(open_time_us=open_time_us, step_us=step_us, outlier_z=outlier_z, **columns)
    rules = []
    for outcome in outcomes:
        examples = []
        for index in outcome.example_indices:
            values = ", ".join(
                f"{name}={columns[name][index]:g}" for name in ("open", "high", "low", "close", "volume")
            )
            if outcome.rule.startswith("time_") and index > 0:
                values += f", previous open_time={_datetime_from_us(int(open_time_us[index - 1])):%Y-%m-%d %H:%M}"
            examples.append(QualityExample(_datetime_from_us(int(open_time_us[index])), values))
        rules.append(QualityRule(outcome.rule, outcome.description, outcome.violations, examples))
    return QualityReport(source, timeframe, len(open_time_us), rules)


def quality_report_series(
    *, exchange: str, symbol: str, timeframe: str, outlier_z: float = quality.DEFAULT_OUTLIER_Z
) -> QualityReport:
    frame = candles_frame(exchange=exchange, symbol=symbol, timeframe=timeframe)
    columns = {name: getattr(frame, name) for name in ("open", "high", "low", "close", "volume")}
    return quality_report_arrays(
        source=_series_label(exchange, symbol, timeframe),
        timeframe=timeframe,
        open_time_us=_us(frame.open_time),
        columns=columns,
        outlier_z=outlier_z,
    )


def quality_report_file(*, path: Path, timeframe: str, outlier_z: float = quality.DEFAULT_OUTLIER_Z) -> QualityReport:
    """The same rules over an OHLCV file as it is (before import; unsorted or duplicated rows are reported)."""
    import pandas as pd  # here, not at module level: pandas costs seconds at every process start

    table = pd.read_csv(path, dtype={"timestamp": "int64"})
    columns = {name: table[name].to_numpy(dtype=np.float64) for name in ("open", "high", "low", "close", "volume")}
    return quality_report_arrays(
        source=str(path),
        timeframe=timeframe,
        open_time_us=table["timestamp"].to_numpy() * 1000,
        columns=columns,
        outlier_z=outlier_z,
    )


def gaps_find(
    *, exchange: str, symbol: str, timeframe: str, start: datetime | None = None, end: datetime | None = None
) -> list[GapSpan]:
    """Runs of bars missing on the grid between the series' first and last stored bar, or over the expected
    range [start, end) when given (synthetic bars count as present: they are the flagged fill of a gap the
    exchange could not close)."""
    frame = candles_frame(exchange=exchange, symbol=symbol, timeframe=timeframe, start=start, end=end)
    step_us = TIMEFRAME_SECONDS[timeframe] * 1_000_000
    bounds = {
        "start_us": None if start is None else int(start.timestamp() * 1_000_000),
        "end_us": None if end is None else int(end.timestamp() * 1_000_000),
    }
    return [
        GapSpan(
            exchange,
            symbol,
            timeframe,
            _datetime_from_us(gap.first_missing_us),
            _datetime_from_us(gap.last_missing_us),
            gap.missing,
        )
        for gap in quality.grid_gaps(open_time_us=_us(frame.open_time), step_us=step_us, **bounds)
    ]


def gaps_recorded(*, exchange: str, symbol: str, timeframe: str) -> list[GapSpan]:
    rows = CandleGap.objects.using(ALIAS).filter(exchange=exchange, symbol=symbol, timeframe=timeframe)
    return [
        GapSpan(
            gap.exchange,
            gap.symbol,
            gap.timeframe,
            gap.first_missing,
            gap.last_missing,
            gap.missing,
            gap.status,
            gap.filled_from_exchange,
            gap.filled_synthetic,
        )
        for gap in rows.order_by("first_missing")
    ]


def last_open_time(*, exchange: str, symbol: str, timeframe: str) -> datetime | None:
    last: datetime | None = (
        Candle.objects.using(ALIAS)
        .filter(exchange=exchange, symbol=symbol, timeframe=timeframe)
        .aggregate(last=Max("open_time"))["last"]
    )
    return last


def ingestion_job_get(*, job_id: str) -> IngestionJobInfo | None:
    job = IngestionJob.objects.using(ALIAS).filter(id=job_id).first()
    return None if job is None else ingestion_job_info(job)


def ingestion_jobs_unfinished() -> list[str]:
    unfinished = IngestionJob.objects.using(ALIAS).exclude(status=IngestionJob.Status.DONE).order_by("created_at")
    return [str(job_id) for job_id in unfinished.values_list("id", flat=True)]


def ingestion_job_info(job: IngestionJob) -> IngestionJobInfo:
    return IngestionJobInfo(
        str(job.id),
        job.exchange,
        job.symbol,
        job.timeframe,
        job.mode,
        job.status,
        job.cursor,
        job.pages,
        job.bars_written,
        job.error,
    )


def _levels(levels: list[list[str]]) -> list[OrderBookLevel]:
    return [OrderBookLevel(Decimal(price), Decimal(amount)) for price, amount in levels]


def order_book_latest(*, exchange: str, symbol: str) -> OrderBookSnapshotContract | None:
    row = OrderBookSnapshot.objects.using(ALIAS).filter(exchange=exchange, symbol=symbol).order_by("-taken_at").first()
    if row is None:
        return None
    return OrderBookSnapshotContract(row.exchange, row.symbol, row.taken_at, _levels(row.bids), _levels(row.asks))


def ticker_latest(*, exchange: str, symbol: str) -> TickerSnapshot | None:
    row = Ticker.objects.using(ALIAS).filter(exchange=exchange, symbol=symbol).order_by("-taken_at").first()
    if row is None:
        return None
    return TickerSnapshot(row.exchange, row.symbol, row.taken_at, row.last, row.bid, row.ask, row.base_volume)


def report_get(*, report_id: str) -> ReportInfo | None:
    row = Report.objects.using(ALIAS).filter(id=report_id).first()
    if row is None:
        return None
    return ReportInfo(str(row.id), row.status, row.exchange, list(row.symbols), row.timeframe, row.path, row.error)


# --- analytics over stored candles (buy and hold of a series; synthetic bars left out) ---------------------


class NotEnoughData(ValueError):
    pass


def _real_closes(
    exchange: str, symbol: str, timeframe: str, start: datetime | None, end: datetime | None
) -> tuple[np.ndarray, np.ndarray]:
    frame = candles_frame(exchange=exchange, symbol=symbol, timeframe=timeframe, start=start, end=end)
    real = ~frame.is_synthetic
    times, closes = frame.open_time[real], frame.close[real]
    if len(closes) < 3:
        raise NotEnoughData(f"{_series_label(exchange, symbol, timeframe)}: {len(closes)} real bars in range")
    return times, closes


def performance_get(
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
    risk_free: float = 0.0,
) -> PerformanceMetrics:
    times, closes = _real_closes(exchange, symbol, timeframe, start, end)
    result = analytics.metrics(closes, periods_per_year=analytics.periods_per_year(timeframe), risk_free=risk_free)
    return PerformanceMetrics(
        periods=result.periods,
        start=_datetime_from_us(int(_us(times[:1])[0])),
        end=_datetime_from_us(int(_us(times[-1:])[0])),
        total_return=result.total_return,
        annualised_return=result.annualised_return,
        volatility=result.volatility,
        sharpe=result.sharpe,
        sortino=result.sortino,
        calmar=result.calmar,
        max_drawdown=result.max_drawdown,
        max_drawdown_duration_seconds=result.max_drawdown_periods * TIMEFRAME_SECONDS[timeframe],
        win_rate=result.win_rate,
        profit_factor=result.profit_factor,
        expectancy=result.expectancy,
        exposure=result.exposure,
        risk_free=risk_free,
    )


def equity_curve_get(
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    initial: Decimal = Decimal("10000"),
    start: datetime | None = None,
    end: datetime | None = None,
    max_points: int = 2000,
) -> list[EquityPoint]:
    """Equity of `initial` held in the symbol, with its drawdown; thinned to `max_points` (last point kept)."""
    times, closes = _real_closes(exchange, symbol, timeframe, start, end)
    equity = closes / closes[0] * float(initial)
    drawdown = analytics.drawdowns(equity)
    stride = max(1, -(-len(equity) // max_points))
    picked = np.unique(np.concatenate([np.arange(0, len(equity), stride), [len(equity) - 1]]))
    micros = _us(times)
    return [
        EquityPoint(_datetime_from_us(int(micros[i])), Decimal(f"{equity[i]:.2f}"), float(drawdown[i])) for i in picked
    ]


def sharpe_get(
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    risk_free: float = 0.0,
    window: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[float, float | None]:
    """Sharpe over the range and, with `window`, over the last `window` bars."""
    _, closes = _real_closes(exchange, symbol, timeframe, start, end)
    per_year = analytics.periods_per_year(timeframe)
    overall = analytics.metrics(closes, periods_per_year=per_year, risk_free=risk_free).sharpe
    if window is None:
        return overall, None
    rolling = analytics.rolling_sharpe(
        analytics.simple_returns(closes), window=window, periods_per_year=per_year, risk_free=risk_free
    )
    last = float(rolling[-1])
    return overall, (None if np.isnan(last) else last)


_CLOSES_ROW = np.dtype(
    [("fields", ">i2"), ("k_len", ">i4"), ("series", ">i2"), ("t_len", ">i4"), ("open_time", ">i8")]
    + [("c_len", ">i4"), ("close", ">f8")]
)


def _real_closes_of(
    exchange: str, symbols: list[str], timeframe: str, start: datetime | None, end: datetime | None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Real (not forward-filled) (open times, closes) of several series, time-ordered.

    The server's scan and numeric-to-float conversion are the cost, so outside a transaction the symbols are
    split over two connections read at once (two server cores). Inside one (an atomic block, a test) another
    connection could not see its uncommitted rows, so this connection reads them all."""
    if len(symbols) < 2 or connections[ALIAS].in_atomic_block:
        return _read_real_closes(exchange, symbols, timeframe, start, end)

    def read_share(share: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        try:
            return _read_real_closes(exchange, share, timeframe, start, end)
        finally:
            connections[ALIAS].close()  # this worker thread's own connection

    with ThreadPoolExecutor(max_workers=2) as pool:
        shares = list(pool.map(read_share, [symbols[0::2], symbols[1::2]]))
    merged = shares[0] | shares[1]
    return {symbol: merged[symbol] for symbol in symbols}


def _read_real_closes(
    exchange: str, symbols: list[str], timeframe: str, start: datetime | None, end: datetime | None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """One binary COPY for all of `symbols` (no ORDER BY on the server: numpy sorts each series)."""
    conditions = ["exchange = %s", "symbol = ANY(%s)", "timeframe = %s", "NOT is_synthetic"]
    params: list[object] = [symbols, exchange, symbols, timeframe]
    if start is not None:
        conditions.append("open_time >= %s")
        params.append(start)
    if end is not None:
        conditions.append("open_time < %s")
        params.append(end)
    sql = (  # the conditions are fixed fragments; values go as %s parameters
        "COPY (SELECT array_position(%s::text[], symbol::text)::int2, open_time, close::float8 FROM candle"  # nosec B608
        f" WHERE {' AND '.join(conditions)}) TO STDOUT (FORMAT binary)"
    )
    rows = _copy_rows(sql, params, _CLOSES_ROW)
    series = rows["series"].astype(np.int64) - 1
    result = {}
    for position, symbol in enumerate(symbols):
        mine = rows[series == position]
        order = np.argsort(mine["open_time"], kind="stable")
        result[symbol] = (mine["open_time"][order].astype(np.int64), mine["close"][order].astype(np.float64))
    return result


def _aligned(series: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Inner join on open time: the common times and a (time, symbol) matrix of closes."""
    common = functools.reduce(lambda a, b: np.intersect1d(a, b, assume_unique=True), [t for t, _ in series.values()])
    columns = [closes[np.searchsorted(times, common)] for times, closes in series.values()]
    return common, np.column_stack(columns) if columns else np.empty((0, 0))


def correlation_get(
    *,
    exchange: str,
    symbols: list[str],
    timeframe: str,
    window: int,
    start: datetime | None = None,
    end: datetime | None = None,
) -> CorrelationMatrix:
    """Correlations of log returns on the bars every symbol has (inner join on open time, real bars only):
    over the trailing `window` bars (the rolling matrix at the last bar) and over the whole overlap."""
    times, closes = _aligned(_real_closes_of(exchange, symbols, timeframe, start, end))
    if len(times) < window + 1:
        raise NotEnoughData(f"{len(times)} common bars; the window needs {window + 1}")
    returns = np.diff(np.log(closes), axis=0)
    rolling = np.corrcoef(returns[-window:], rowvar=False)
    full = np.corrcoef(returns, rowvar=False)
    return CorrelationMatrix(
        exchange=exchange,
        timeframe=timeframe,
        symbols=list(symbols),
        window=window,
        as_of=_datetime_from_us(int(times[-1]) + _POSTGRES_EPOCH_US),
        bars=len(times),
        rolling=[[round(float(v), 6) for v in row] for row in rolling],
        full_period=[[round(float(v), 6) for v in row] for row in full],
    )


def candles_latest(*, exchange: str, symbol: str, timeframe: str, limit: int) -> list[CandleBar]:
    """The last `limit` bars of a series, in time order."""
    rows = (
        Candle.objects.using(ALIAS)
        .filter(exchange=exchange, symbol=symbol, timeframe=timeframe)
        .order_by("-open_time")
        .values_list("open_time", "open", "high", "low", "close", "volume")[:limit]
    )
    return [CandleBar(exchange, symbol, timeframe, *row) for row in reversed(rows)]
