"""Writes of the data domain."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from django.db import connections, transaction

from dsta.data import selectors, sources
from dsta.data.contracts import (
    TIMEFRAME_SECONDS,
    CandleBar,
    GapSpan,
    ImportReport,
    IngestionJobInfo,
    TickerSnapshot,
)
from dsta.data.contracts import OrderBookSnapshot as OrderBookSnapshotContract
from dsta.data.live import candle_closed_event
from dsta.data.models import CandleGap, IngestionJob, OrderBookSnapshot, Report, Ticker
from dsta.data.sources import CandleSource
from dsta.kernel.clock import utc_now
from dsta.kernel.outbox import publish_many
from dsta.kernel.sql import Statement

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


def _open_bytes(path: Path) -> io.BufferedIOBase:
    # Bytes straight to COPY: no decode and re-encode in Python; Postgres checks the encoding itself.
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


# Exact integer arithmetic (float8 * interval, exact up to the year 2255); to_timestamp(ts / 1000.0) went through
# numeric division and a float per row and cost about a tenth of the INSERT's CPU.
_OPEN_TIME_SQL = "timestamptz 'epoch' + {ts} * interval '1 millisecond'"


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
    open_time = _OPEN_TIME_SQL.format(ts="ts")
    own_transaction = not connection.in_atomic_block
    with transaction.atomic(using=ALIAS), connection.cursor() as cursor:
        if own_transaction:
            # The import is idempotent and re-runnable: losing its commit in a server crash costs a re-run, not
            # data, so it need not wait for the WAL flush. A caller's transaction keeps its own setting.
            cursor.execute("SET LOCAL synchronous_commit = off")
            # Room for the re-import's hash joins (about 12 MB per 120k bars) without spilling to disk.
            cursor.execute("SET LOCAL work_mem = '64MB'")
        # Dropped explicitly too: inside a caller's transaction ON COMMIT DROP would come too late.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.candle_staging")
        cursor.execute(
            # The target's exact numeric types: COPY rounds once while parsing, and the INSERT needs no coercion
            # (a third faster than casting plain numeric on the way in).
            "CREATE TEMP TABLE candle_staging (ts bigint, open numeric(28, 10), high numeric(28, 10),"
            " low numeric(28, 10), close numeric(28, 10), volume numeric(38, 12)) ON COMMIT DROP"
        )
        rows_read = _copy_csv(cursor, path, on_progress)
        # Checks and the file's span in one pass over the staged rows.
        cursor.execute(
            f"""
            SELECT count(*) FILTER (WHERE ts IS NULL OR open IS NULL OR high IS NULL OR low IS NULL
                                     OR close IS NULL OR volume IS NULL),
                   count(*) - count(DISTINCT ts),
                   {_OPEN_TIME_SQL.format(ts="min(ts)")}, {_OPEN_TIME_SQL.format(ts="max(ts)")}
            FROM candle_staging
            """  # nosec B608 (a fixed expression)
        )
        incomplete, duplicated, first_time, last_time = cursor.fetchone()
        if incomplete or duplicated:
            raise ImportFileError(f"{path}: {incomplete} incomplete rows, {duplicated} duplicate timestamps")
        # One import per series at a time; then whether the file overlaps stored bars decides the path.
        series_key = f"candles:{exchange}:{symbol}:{timeframe}"
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [series_key])
        overlaps = False
        if first_time is not None:
            # Partitions first, in a statement that touches no candle table: one that planned against `candle`
            # would hold a lock on it while waiting for another import's partition creation, which waits for
            # that lock (a deadlock seen with two files imported at once).
            cursor.execute("SELECT candle_partitions_ensure(%s, %s)", [first_time, last_time])
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM candle WHERE exchange = %s AND symbol = %s AND timeframe = %s"
                " AND open_time BETWEEN %s AND %s)",
                [exchange, symbol, timeframe, first_time, last_time],
            )
            overlaps = bool(cursor.fetchone()[0])
        # Partitioned tables have no usable xmax, so new and changed rows are counted by two statements; a
        # file over an empty range skips the conflict check altogether (the series lock keeps that safe).
        series = [exchange, symbol, timeframe]
        updated = 0
        if not overlaps:
            cursor.execute(
                f"""
                INSERT INTO candle (exchange, symbol, timeframe, open_time, open, high, low, close, volume)
                SELECT %s, %s, %s, {open_time}, open, high, low, close, volume FROM candle_staging
                """,  # nosec B608 (a fixed expression)
                series,
            )
            inserted = cursor.rowcount
        else:
            # Stored bars of the file's span, found by one hash join, are left out before the insert: an ON
            # CONFLICT probe per row cost four times as much when most bars are there. ON CONFLICT stays for
            # bars written meanwhile by `candles_upsert`, which does not take the series lock.
            stored_in_span = "c.exchange = %s AND c.symbol = %s AND c.timeframe = %s AND c.open_time BETWEEN %s AND %s"
            span = [*series, first_time, last_time]
            cursor.execute(
                f"""
                INSERT INTO candle (exchange, symbol, timeframe, open_time, open, high, low, close, volume)
                SELECT %s, %s, %s, {open_time}, open, high, low, close, volume FROM candle_staging AS s
                WHERE NOT EXISTS (SELECT FROM candle AS c WHERE {stored_in_span}
                                  AND c.open_time = {_OPEN_TIME_SQL.format(ts="s.ts")})
                ON CONFLICT (exchange, symbol, timeframe, open_time) DO NOTHING
                """,  # nosec B608 (fixed expressions)
                [*series, *span],
            )
            inserted = cursor.rowcount
            if inserted < rows_read:  # some bars were there already: replace those that differ
                cursor.execute(
                    f"""
                    UPDATE candle AS c SET open = s.open, high = s.high, low = s.low, close = s.close,
                                           volume = s.volume, is_synthetic = false
                    FROM candle_staging AS s
                    WHERE {stored_in_span} AND c.open_time = {_OPEN_TIME_SQL.format(ts="s.ts")}
                      AND (c.open, c.high, c.low, c.close, c.volume, c.is_synthetic)
                          IS DISTINCT FROM (s.open, s.high, s.low, s.close, s.volume, false)
                    """,  # nosec B608 (fixed expressions)
                    span,
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
    with _open_bytes(path) as handle:
        header_line = handle.readline()
        header = header_line.decode("utf-8", errors="replace").strip()
        if header != EXPECTED_HEADER:
            raise ImportFileError(f"{path}: header is {header!r}, expected {EXPECTED_HEADER!r}")
        # The header goes along (and COPY skips it), so the line numbers in COPY's errors are the file's own.
        copy_sql = "COPY candle_staging (ts, open, high, low, close, volume) FROM STDIN WITH (FORMAT csv, HEADER)"
        with cursor.copy(copy_sql) as copy:
            copy.write(header_line)
            last_chunk = b""
            while chunk := handle.read(COPY_CHUNK_BYTES):
                copy.write(chunk)
                added = chunk.count(b"\n")
                rows += added
                last_chunk = chunk
                if on_progress:
                    on_progress(added)
    if last_chunk and not last_chunk.endswith(b"\n"):
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
    with connections[ALIAS].cursor() as cursor:
        for statement in _upsert_statements(bars, synthetic=synthetic):
            cursor.execute(*statement)
        return int(cursor.rowcount)


def _upsert_statements(bars: Sequence[CandleBar], *, synthetic: bool) -> list[Statement]:
    """The partitions the bars need, then the bars (see `candles_upsert`)."""
    sql = _UPSERT_BARS_SQL
    if synthetic:
        sql = sql.replace("WHERE (candle.open", "WHERE candle.is_synthetic AND (candle.open", 1)
    first = min(bar.open_time for bar in bars)
    last = max(bar.open_time for bar in bars)
    columns = [
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
    ]
    return [("SELECT candle_partitions_ensure(%s, %s)", [first, last]), (sql, columns)]


def candle_close(*, bar: CandleBar) -> None:
    """Store a closed bar and publish `data.candle_closed` in the same transaction, in one trip; stream it after
    commit."""
    from dsta.data import consumers  # here: channels (the ASGI stack) stays out of commands that stream nothing

    with transaction.atomic(using=ALIAS):
        transaction.on_commit(lambda: consumers.candle_broadcast(bar), using=ALIAS, robust=True)
        publish_many([candle_closed_event(bar)], using=ALIAS, along_with=_upsert_statements([bar], synthetic=False))


# --- gaps --------------------------------------------------------------------------------------------------


def gaps_record(
    *, exchange: str, symbol: str, timeframe: str, start: datetime | None = None, end: datetime | None = None
) -> list[GapSpan]:
    """Detect the gaps of a series on its grid, record new ones, and return the open ones."""
    found = selectors.gaps_find(exchange=exchange, symbol=symbol, timeframe=timeframe, start=start, end=end)
    CandleGap.objects.using(ALIAS).bulk_create(
        [
            CandleGap(
                exchange=gap.exchange,
                symbol=gap.symbol,
                timeframe=gap.timeframe,
                first_missing=gap.first_missing,
                last_missing=gap.last_missing,
                missing=gap.missing,
            )
            for gap in found
        ],
        ignore_conflicts=True,
    )
    return found


def gaps_fill(
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    source: CandleSource,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[GapSpan]:
    """Close every gap: bars the source has are stored as real; the rest of the grid is forward-filled from
    the last real close (open = high = low = close, volume 0) and flagged `is_synthetic`."""
    step = sources.step(timeframe)
    filled = []
    for gap in gaps_record(exchange=exchange, symbol=symbol, timeframe=timeframe, start=start, end=end):
        fetched = [
            bar
            for bar in source.fetch(
                exchange=exchange, symbol=symbol, timeframe=timeframe, since=gap.first_missing, limit=gap.missing
            )
            if bar.open_time <= gap.last_missing
        ]
        have = {bar.open_time for bar in fetched}
        previous = selectors.candle_before(
            exchange=exchange, symbol=symbol, timeframe=timeframe, before=gap.first_missing
        )
        synthetic = []
        close = previous.close if previous else fetched[0].open if fetched else None
        if close is None:
            continue  # nothing before the gap and nothing from the source: no price to carry forward
        real_by_time = {bar.open_time: bar for bar in fetched}
        moment = gap.first_missing
        while moment <= gap.last_missing:
            if moment in have:
                close = real_by_time[moment].close
            else:
                zero = Decimal(0)
                synthetic.append(CandleBar(exchange, symbol, timeframe, moment, close, close, close, close, zero))
            moment += step
        with transaction.atomic(using=ALIAS):
            candles_upsert(bars=fetched)
            candles_upsert(bars=synthetic, synthetic=True)
            CandleGap.objects.using(ALIAS).filter(
                exchange=exchange, symbol=symbol, timeframe=timeframe, first_missing=gap.first_missing
            ).update(
                status=CandleGap.Status.FILLED,
                filled_from_exchange=len(fetched),
                filled_synthetic=len(synthetic),
                filled_at=utc_now(),
            )
        filled.append(replace(gap, status="filled", filled_from_exchange=len(fetched), filled_synthetic=len(synthetic)))
    return filled


# --- ingestion jobs (backfill and incremental sync) ----------------------------------------------------------


def ingestion_job_create(
    *, exchange: str, symbol: str, timeframe: str, mode: str, start: datetime | None, end: datetime | None
) -> IngestionJobInfo:
    if timeframe not in TIMEFRAME_SECONDS:
        raise ValueError(f"unknown timeframe {timeframe!r}")
    job = IngestionJob.objects.using(ALIAS).create(
        exchange=exchange, symbol=symbol, timeframe=timeframe, mode=mode, start=start, end=end
    )
    return selectors.ingestion_job_info(job)


def _first_cursor(job: IngestionJob) -> datetime:
    if job.mode == IngestionJob.Mode.INCREMENTAL:
        last = selectors.last_open_time(exchange=job.exchange, symbol=job.symbol, timeframe=job.timeframe)
        if last is not None:
            return last + sources.step(job.timeframe)
    if job.start is None:
        raise ValueError("a backfill (or the first sync of an empty series) needs a start")
    return job.start


def ingestion_job_run(
    *, job_id: str, source: CandleSource, page_size: int, max_pages: int | None = None
) -> IngestionJobInfo:
    """Fetch pages from the job's cursor until the source runs dry, `end` or the last closed bar is reached.

    Each page's bars and the cursor after them commit together: a crash loses at most the page in flight,
    and running the job again resumes there (the upsert makes a re-fetched bar harmless). Incremental jobs
    publish `data.candle_closed` for every new bar in the page's transaction. One runner per job: a second
    delivery of the job (a broker retry while the first still runs) finds the job's session lock taken and
    leaves; the lock dies with its connection, so a crashed runner never blocks the resume.
    """
    lock_key = f"ingestion_job:{job_id}"
    with connections[ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [lock_key])
        if not cursor.fetchone()[0]:
            return selectors.ingestion_job_info(IngestionJob.objects.using(ALIAS).get(id=job_id))
    try:
        return _ingestion_job_run_locked(job_id=job_id, source=source, page_size=page_size, max_pages=max_pages)
    finally:
        with connections[ALIAS].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [lock_key])


def _ingestion_job_run_locked(
    *, job_id: str, source: CandleSource, page_size: int, max_pages: int | None
) -> IngestionJobInfo:
    job = IngestionJob.objects.using(ALIAS).get(id=job_id)
    if job.status == IngestionJob.Status.DONE:
        return selectors.ingestion_job_info(job)
    step = sources.step(job.timeframe)
    try:
        if job.cursor is None:
            job.cursor = _first_cursor(job)
        job.status = IngestionJob.Status.RUNNING
        job.updated_at = utc_now()
        job.save(using=ALIAS, update_fields=["cursor", "status", "updated_at"])
        # The bar that is still forming is not fetched: it would change after we store it.
        horizon = utc_now() - step
        limit_time = min(job.end, horizon) if job.end else horizon
        pages = 0
        while job.cursor < limit_time:
            if max_pages is not None and pages >= max_pages:
                return selectors.ingestion_job_info(job)  # paused on purpose: a later run resumes at the cursor
            bars = source.fetch(
                exchange=job.exchange, symbol=job.symbol, timeframe=job.timeframe, since=job.cursor, limit=page_size
            )
            bars = [bar for bar in bars if job.cursor <= bar.open_time < limit_time]
            if not bars:
                break
            with transaction.atomic(using=ALIAS):
                written = candles_upsert(bars=bars)
                if job.mode == IngestionJob.Mode.INCREMENTAL:
                    publish_many([candle_closed_event(bar) for bar in bars], using=ALIAS)
                job.cursor = bars[-1].open_time + step
                job.pages += 1
                job.bars_written += written
                job.updated_at = utc_now()
                job.save(using=ALIAS, update_fields=["cursor", "pages", "bars_written", "updated_at"])
            pages += 1
        job.status = IngestionJob.Status.DONE
    except Exception as exc:
        job.status = IngestionJob.Status.FAILED
        job.error = f"{type(exc).__name__}: {exc}"[:2000]
        job.updated_at = utc_now()
        job.save(using=ALIAS, update_fields=["status", "error", "updated_at"])
        raise
    job.error = ""
    job.updated_at = utc_now()
    job.save(using=ALIAS, update_fields=["status", "error", "updated_at"])
    return selectors.ingestion_job_info(job)


# --- order books and tickers -------------------------------------------------------------------------------


def order_book_record(*, snapshot: OrderBookSnapshotContract) -> None:
    OrderBookSnapshot.objects.using(ALIAS).create(
        exchange=snapshot.exchange,
        symbol=snapshot.symbol,
        taken_at=snapshot.taken_at,
        bids=[[str(level.price), str(level.amount)] for level in snapshot.bids],
        asks=[[str(level.price), str(level.amount)] for level in snapshot.asks],
    )


def ticker_record(*, ticker: TickerSnapshot) -> None:
    Ticker.objects.using(ALIAS).create(
        exchange=ticker.exchange,
        symbol=ticker.symbol,
        taken_at=ticker.taken_at,
        last=ticker.last,
        bid=ticker.bid,
        ask=ticker.ask,
        base_volume=ticker.base_volume,
    )


def report_create(
    *, exchange: str, symbols: list[str], timeframe: str, start: datetime | None, end: datetime | None
) -> str:
    report = Report.objects.using(ALIAS).create(
        exchange=exchange, symbols=symbols, timeframe=timeframe, start=start, end=end
    )
    return str(report.id)
