"""Writes of the data domain."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from django.db import connections, transaction

from dsta.data.contracts import TIMEFRAME_SECONDS, CandleBar, ImportReport
from dsta.data.events import CandleClosed
from dsta.kernel.outbox import publish

ALIAS = "data"
EXPECTED_HEADER = "timestamp,open,high,low,close,volume"
COPY_CHUNK_BYTES = 1 << 20


class ImportFileError(ValueError):
    pass


@dataclass(frozen=True)
class ImportSource:
    path: Path
    exchange: str
    symbol: str
    timeframe: str


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", newline="")  # type: ignore[return-value]
    return path.open("r", newline="")


def candles_import_file(
    *,
    path: Path,
    exchange: str,
    symbol: str,
    timeframe: str,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Load an OHLCV CSV (ccxt row layout, ms timestamps) with COPY; re-importing replaces changed rows.

    Rows are checked by Postgres casts and by the CHECK in the staging query: a bad row aborts the whole
    import with its line number, so nothing is half-loaded.
    """
    if timeframe not in TIMEFRAME_SECONDS:
        raise ImportFileError(f"unknown timeframe {timeframe!r}; expected one of {sorted(TIMEFRAME_SECONDS)}")
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    connection = connections[ALIAS]
    with transaction.atomic(using=ALIAS), connection.cursor() as cursor:
        # Dropped explicitly too: inside a caller's transaction ON COMMIT DROP would come too late.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.candle_staging")
        cursor.execute(
            "CREATE TEMP TABLE candle_staging (ts bigint, open numeric, high numeric, low numeric,"
            " close numeric, volume numeric) ON COMMIT DROP"
        )
        rows_read = _copy_csv(cursor, path, on_progress)
        cursor.execute(
            """
            SELECT count(*) FILTER (WHERE ts IS NULL OR open IS NULL OR high IS NULL OR low IS NULL
                                     OR close IS NULL OR volume IS NULL),
                   count(*) - count(DISTINCT ts)
            FROM candle_staging
            """
        )
        incomplete, duplicated = cursor.fetchone()
        if incomplete or duplicated:
            raise ImportFileError(f"{path}: {incomplete} incomplete rows, {duplicated} duplicate timestamps")
        # One import per series at a time; then whether the file overlaps stored bars decides the path.
        series_key = f"candles:{exchange}:{symbol}:{timeframe}"
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [series_key])
        cursor.execute(
            """
            SELECT candle_partitions_ensure(first_time, last_time),
                   EXISTS (SELECT 1 FROM candle WHERE exchange = %s AND symbol = %s AND timeframe = %s
                           AND open_time BETWEEN first_time AND last_time)
            FROM (SELECT to_timestamp(min(ts) / 1000.0) AS first_time, to_timestamp(max(ts) / 1000.0) AS last_time
                  FROM candle_staging HAVING count(*) > 0) AS span
            """,
            [exchange, symbol, timeframe],
        )
        span = cursor.fetchone()
        overlaps = bool(span and span[1])
        # Partitioned tables have no usable xmax, so new and changed rows are counted by two statements; a
        # file over an empty range skips the conflict check altogether (the series lock keeps that safe).
        cursor.execute(
            f"""
            INSERT INTO candle (exchange, symbol, timeframe, open_time, open, high, low, close, volume)
            SELECT %s, %s, %s, to_timestamp(ts / 1000.0), open, high, low, close, volume FROM candle_staging
            {"ON CONFLICT (exchange, symbol, timeframe, open_time) DO NOTHING" if overlaps else ""}
            """,
            [exchange, symbol, timeframe],
        )
        inserted = cursor.rowcount
        updated = 0
        if overlaps and inserted < rows_read:  # some bars were there already: replace those that differ
            cursor.execute(
                """
                UPDATE candle SET open = s.open, high = s.high, low = s.low, close = s.close, volume = s.volume,
                                  is_synthetic = false
                FROM candle_staging AS s
                WHERE candle.exchange = %s AND candle.symbol = %s AND candle.timeframe = %s
                  AND candle.open_time = to_timestamp(s.ts / 1000.0)
                  AND (candle.open, candle.high, candle.low, candle.close, candle.volume, candle.is_synthetic)
                      IS DISTINCT FROM (s.open, s.high, s.low, s.close, s.volume, false)
                """,
                [exchange, symbol, timeframe],
            )
            updated = cursor.rowcount
        cursor.execute("DROP TABLE candle_staging")
    return ImportReport(exchange, symbol, timeframe, rows_read, inserted, updated)


def candles_import_files(*, files: Sequence[ImportSource], workers: int = 2) -> list[ImportReport]:
    """Import several series at once, one connection per worker thread: COPY parsing and index upkeep are
    CPU-bound in the Postgres backend, so separate series scale with the server's cores."""

    def import_one(source: ImportSource) -> ImportReport:
        try:
            return candles_import_file(
                path=source.path, exchange=source.exchange, symbol=source.symbol, timeframe=source.timeframe
            )
        finally:
            connections[ALIAS].close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(import_one, files))


def _copy_csv(cursor, path: Path, on_progress: Callable[[int], None] | None) -> int:  # type: ignore[no-untyped-def]
    rows = 0
    with _open_text(path) as handle:
        header = handle.readline().strip()
        if header != EXPECTED_HEADER:
            raise ImportFileError(f"{path}: header is {header!r}, expected {EXPECTED_HEADER!r}")
        copy_sql = "COPY candle_staging (ts, open, high, low, close, volume) FROM STDIN WITH (FORMAT csv)"
        with cursor.copy(copy_sql) as copy:
            last_chunk = ""
            while chunk := handle.read(COPY_CHUNK_BYTES):
                copy.write(chunk)
                added = chunk.count("\n")
                rows += added
                last_chunk = chunk
                if on_progress:
                    on_progress(added)
    if last_chunk and not last_chunk.endswith("\n"):
        rows += 1  # the final row has no line break
    return rows


_UPSERT_BARS_SQL = """
INSERT INTO candle (exchange, symbol, timeframe, open_time, open, high, low, close, volume, is_synthetic)
SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::timestamptz[], %s::numeric[],
                     %s::numeric[], %s::numeric[], %s::numeric[], %s::numeric[], %s::boolean[])
ON CONFLICT (exchange, symbol, timeframe, open_time) DO UPDATE
SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
    volume = EXCLUDED.volume, is_synthetic = EXCLUDED.is_synthetic
WHERE (candle.open, candle.high, candle.low, candle.close, candle.volume, candle.is_synthetic)
      IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume,
                        EXCLUDED.is_synthetic)
"""


def candles_upsert(*, bars: Sequence[CandleBar], synthetic: bool = False) -> int:
    """Insert or replace bars (one statement, inside the caller's transaction); returns rows written.

    A synthetic (forward-filled) bar never replaces a real one.
    """
    if not bars:
        return 0
    sql = _UPSERT_BARS_SQL
    if synthetic:
        sql = sql.replace("WHERE (candle.open", "WHERE candle.is_synthetic AND (candle.open", 1)
    with connections[ALIAS].cursor() as cursor:
        first = min(bar.open_time for bar in bars)
        last = max(bar.open_time for bar in bars)
        cursor.execute("SELECT candle_partitions_ensure(%s, %s)", [first, last])
        cursor.execute(
            sql,
            [
                [bar.exchange for bar in bars],
                [bar.symbol for bar in bars],
                [bar.timeframe for bar in bars],
                [bar.open_time for bar in bars],
                [bar.open for bar in bars],
                [bar.high for bar in bars],
                [bar.low for bar in bars],
                [bar.close for bar in bars],
                [bar.volume for bar in bars],
                [synthetic] * len(bars),
            ],
        )
        return cursor.rowcount


def candle_close(*, bar: CandleBar) -> None:
    """Store a closed bar and publish `data.candle_closed` in the same transaction; stream it after commit."""
    with transaction.atomic(using=ALIAS):
        candles_upsert(bars=[bar])
        publish(
            CandleClosed(
                exchange=bar.exchange,
                symbol=bar.symbol,
                timeframe=bar.timeframe,
                open_time=bar.open_time,
                open=bar.open,
                high=bar.high,
                low=bar.low,
                close=bar.close,
                volume=bar.volume,
            ),
            using=ALIAS,
        )
