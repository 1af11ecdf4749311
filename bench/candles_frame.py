"""Reading one symbol's full 5m history (~120k candles) into columns: `data.api.candles_frame` (binary COPY
straight into numpy) and its DataFrame.

Run: `uv run python bench/candles_frame.py` (imports the five 5m files into `<name>_bench` when missing).
Reference (same process): `pandas.read_sql` of the same query over the data alias's connection, and the
ORM path `data.api.candles_get` (Decimal objects per field). Target (issue 4): < 0.5 s per symbol.
"""

from __future__ import annotations

import statistics
import time
import warnings

from market_data_env import load_five_minute_data, setup_django

RUNS = 5


def best_and_median(call) -> tuple[float, float, object]:
    timings, result = [], None
    for _ in range(RUNS):
        started = time.perf_counter()
        result = call()
        timings.append(time.perf_counter() - started)
    return min(timings), statistics.median(timings), result


def main() -> None:
    setup_django()
    import pandas as pd
    from django.db import connections

    from dsta.data import api as data

    load_five_minute_data(fresh=False)
    query = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "5m"}

    best, median, frame = best_and_median(lambda: data.candles_frame(**query).to_pandas())
    print(f"candles_frame -> DataFrame: {len(frame):,} candles, best {best:.3f} s, median {median:.3f} s")

    sql = (
        "SELECT open_time, open::float8, high::float8, low::float8, close::float8, volume::float8, is_synthetic"
        " FROM candle WHERE exchange = %s AND symbol = %s AND timeframe = %s ORDER BY open_time"
    )
    connection = connections["data"]
    connection.ensure_connection()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pandas prefers SQLAlchemy; a DB-API connection works
        best_ref, median_ref, reference = best_and_median(
            lambda: pd.read_sql(sql, connection.connection, params=list(query.values()), index_col="open_time")
        )
    print(f"reference pandas.read_sql:  {len(reference):,} candles, best {best_ref:.3f} s, median {median_ref:.3f} s")

    started = time.perf_counter()
    bars = data.candles_get(**query)
    print(f"reference candles_get (ORM, Decimal): {len(bars):,} candles in {time.perf_counter() - started:.3f} s")
    print(f"target: < 0.5 s -> {'met' if median < 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
