"""Import speed of the five real 5m files (~600k candles) through `candles_import_file` (COPY + upsert).

Run: `uv run python bench/import_ohlcv.py` (DATABASE_URL as for the app; it uses its own `<name>_bench`).
Figures: candles/s of a fresh import into an empty table (one file at a time, and two at a time on two
connections, as `load_demo_data` does), and of an idempotent re-import (nothing changes).
Where the time goes (backend CPU, fresh import): COPY into the staging table ~20%, checks and span ~5%, the
INSERT into `candle` ~70% (about half of it the primary key's btree upkeep, then heap, BRIN, WAL); about 4 us
of backend CPU per candle on the 2-core dev machine, so one connection stays below ~250,000 candles/s even on
an idle core, and the target rests on the two connections.
Reference (same process): Django's `bulk_create` (batches of 5,000) and psycopg `executemany` on the first
50,000 rows of one file, into a scratch series. Target (issue 4): >= 200,000 candles/s for the fresh import.
"""

from __future__ import annotations

import gzip
import os
import time
from datetime import UTC, datetime
from decimal import Decimal

from market_data_env import five_minute_files, load_five_minute_data, setup_django

REFERENCE_ROWS = 50_000


def main() -> None:
    setup_django()
    from django.db import connections, transaction

    from dsta.data.models import Candle
    from dsta.data.services import candles_import_file

    files = five_minute_files()
    # The import is CPU-bound in the Postgres backends: other work on the machine moves the figures a lot.
    print(f"load average before the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    started = time.perf_counter()
    total = load_five_minute_data(fresh=True, workers=1)
    seconds = time.perf_counter() - started
    print(f"fresh import, one file at a time: {total:,} candles in {seconds:.2f} s = {total / seconds:,.0f} candles/s")
    started = time.perf_counter()
    total = load_five_minute_data(fresh=True, workers=2)
    fresh_seconds = time.perf_counter() - started
    print(
        f"fresh import, two files at a time: {total:,} candles in {fresh_seconds:.2f} s"
        f" = {total / fresh_seconds:,.0f} candles/s"
    )

    started = time.perf_counter()
    again = [candles_import_file(path=p, exchange="binance", symbol=s, timeframe="5m") for s, p in files.items()]
    seconds = time.perf_counter() - started
    read = sum(report.rows_read for report in again)
    changed = sum(report.rows_inserted + report.rows_updated for report in again)
    print(f"re-import:     {read:,} candles in {seconds:.2f} s = {read / seconds:,.0f} candles/s ({changed} changed)")

    with gzip.open(files["BTC/USDT"], "rt") as handle:
        lines = handle.read().splitlines()[1 : REFERENCE_ROWS + 1]
    rows = []
    for line in lines:
        ts, *values = line.split(",")
        rows.append((datetime.fromtimestamp(int(ts) / 1000, tz=UTC), *map(Decimal, values)))

    started = time.perf_counter()
    with transaction.atomic(using="data"):
        connections["data"].cursor().execute("SELECT candle_partitions_ensure(%s, %s)", [rows[0][0], rows[-1][0]])
        Candle.objects.using("data").bulk_create(
            [
                Candle(
                    exchange="ref",
                    symbol="ORM/USDT",
                    timeframe="5m",
                    open_time=t,
                    open=o,
                    high=h,
                    low=lo,
                    close=c,
                    volume=v,
                )
                for t, o, h, lo, c, v in rows
            ],
            batch_size=5_000,
        )
    seconds = time.perf_counter() - started
    print(f"reference ORM bulk_create:    {len(rows) / seconds:,.0f} candles/s ({len(rows):,} rows)")

    started = time.perf_counter()
    with transaction.atomic(using="data"), connections["data"].cursor() as cursor:
        cursor.executemany(
            "INSERT INTO candle (exchange, symbol, timeframe, open_time, open, high, low, close, volume)"
            " VALUES ('ref', 'MANY/USDT', '5m', %s, %s, %s, %s, %s, %s)",
            rows,
        )
    seconds = time.perf_counter() - started
    print(f"reference psycopg executemany: {len(rows) / seconds:,.0f} candles/s ({len(rows):,} rows)")
    with connections["data"].cursor() as cursor:
        cursor.execute("DELETE FROM candle WHERE exchange = 'ref'")
    print(f"target: >= 200,000 candles/s -> {'met' if total / fresh_seconds >= 200_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
