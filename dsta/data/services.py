"""Writes of the data domain."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from pathlib import Path

from django.db import connections, transaction

from dsta.data.contracts import TIMEFRAME_SECONDS, CandleBar, ImportReport
from dsta.data.events import CandleClosed
from dsta.data.models import Candle
from dsta.kernel.outbox import publish

ALIAS = "data"
EXPECTED_HEADER = "timestamp,open,high,low,close,volume"
COPY_CHUNK_BYTES = 1 << 20


class ImportFileError(ValueError):
    pass


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
        cursor.execute(
            f"""
            WITH upserted AS (
                INSERT INTO {Candle._meta.db_table}
                    (exchange, symbol, timeframe, open_time, open, high, low, close, volume)
                SELECT %s, %s, %s, to_timestamp(ts / 1000.0), open, high, low, close, volume
                FROM candle_staging
                ON CONFLICT (exchange, symbol, timeframe, open_time) DO UPDATE
                SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
                    close = EXCLUDED.close, volume = EXCLUDED.volume
                WHERE (candle.open, candle.high, candle.low, candle.close, candle.volume)
                      IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close,
                                        EXCLUDED.volume)
                RETURNING (xmax = 0) AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted
            """,
            [exchange, symbol, timeframe],
        )
        inserted, updated = cursor.fetchone()
        cursor.execute("DROP TABLE candle_staging")
    return ImportReport(exchange, symbol, timeframe, rows_read, inserted, updated)


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


def candle_close(*, bar: CandleBar) -> None:
    """Store a closed bar and publish `data.candle_closed` in the same transaction."""
    with transaction.atomic(using=ALIAS):
        Candle.objects.using(ALIAS).update_or_create(
            exchange=bar.exchange,
            symbol=bar.symbol,
            timeframe=bar.timeframe,
            open_time=bar.open_time,
            defaults={
                "open": bar.open,
                "high": bar.high,
                "low": bar.low,
                "close": bar.close,
                "volume": bar.volume,
            },
        )
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
