"""Correlation matrix of five symbols over their full 5m history (~120k candles each), as the
/api/v1/analytics/correlation endpoint computes it: the closes read by binary COPY (the symbols split over two
connections read at once), an inner join on open time in numpy, log returns, and the trailing-window (one
day = 288 bars) and full-period matrices. Also times `analytics.rolling_correlation` (the matrix at every bar).

Run: `uv run python bench/correlation.py` (imports the five 5m files into `<name>_bench` when missing).
Reference (same process, on the same aligned returns): pandas `DataFrame.rolling(288).corr()`.
Target (issue 4): < 1 s for the whole computation, reads included.
"""

from __future__ import annotations

import statistics
import time

from market_data_env import SYMBOLS, load_five_minute_data, setup_django

WINDOW = 288
RUNS = 3


def main() -> None:
    setup_django()
    import numpy as np
    import pandas as pd
    from django.db import connections

    from dsta.data import analytics, selectors

    load_five_minute_data(fresh=False)
    with connections["data"].cursor() as cursor:
        cursor.execute("ANALYZE candle")  # what autovacuum does soon after a bulk load; plans need the row counts
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        matrix = selectors.correlation_get(exchange="binance", symbols=SYMBOLS, timeframe="5m", window=WINDOW)
        timings.append(time.perf_counter() - started)
    print(
        f"correlation_get, 5 symbols x {matrix.bars:,} common 5m bars, window {WINDOW}:"
        f" best {min(timings):.3f} s, median {statistics.median(timings):.3f} s"
    )

    frames = {
        symbol: selectors.candles_frame(exchange="binance", symbol=symbol, timeframe="5m").to_pandas()["close"]
        for symbol in SYMBOLS
    }
    returns = np.log(pd.concat(frames, axis=1, join="inner")).diff().dropna()
    started = time.perf_counter()
    ours = analytics.rolling_correlation(returns.to_numpy(), window=WINDOW)
    ours_seconds = time.perf_counter() - started
    started = time.perf_counter()
    reference = returns.rolling(WINDOW).corr()
    reference_seconds = time.perf_counter() - started
    last = reference.loc[returns.index[-1]].to_numpy()
    assert np.allclose(ours[-1], last, atol=1e-9), "rolling matrices differ"
    print(
        f"rolling matrix at every bar: ours {ours_seconds:.3f} s,"
        f" reference pandas rolling().corr() {reference_seconds:.3f} s"
    )
    print(f"target: < 1 s -> {'met' if statistics.median(timings) < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
