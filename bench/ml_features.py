"""Feature extraction (`ml.api.features_extract`: read through the data facade, TA-Lib feature set core v1,
store the matrix) for one year of 1h candles of five symbols.

Run: `uv run python bench/ml_features.py` (uses `<name>_bench`, importing the bundled 1h candles when missing).
Reference (same process): the same features computed with pandas rolling/ewm operations on the same frames.
Target (issue 8): < 1 s for the five symbols.
"""

from __future__ import annotations

import statistics
import time

from ml_env import ONE_YEAR, SYMBOLS, load_hourly_data, setup_django

RUNS = 5


def pandas_features(frame):  # type: ignore[no-untyped-def]
    """The core v1 set written with pandas (RSI and ATR with Wilder's smoothing as ewm)."""
    import numpy as np
    import pandas as pd

    bars = frame.to_pandas()
    close, high, low = bars["close"], bars["high"], bars["low"]
    out = pd.DataFrame(index=bars.index)
    log_return = np.log(close / close.shift(1))
    for period in (1, 4, 24):
        out[f"ret_{period}"] = np.log(close / close.shift(period))
    out["vol_24"] = log_return.rolling(24).std(ddof=0)
    change = close.diff()
    gain = change.clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean()
    loss = (-change.clip(upper=0)).ewm(alpha=1 / 14, adjust=False).mean()
    out["rsi_14"] = gain / (gain + loss)
    macd = close.ewm(span=12, adjust=False).mean() - close.ewm(span=26, adjust=False).mean()
    signal = macd.ewm(span=9, adjust=False).mean()
    out["macd"], out["macd_signal"], out["macd_hist"] = macd / close, signal / close, (macd - signal) / close
    true_range = pd.concat([high - low, (high - close.shift()).abs(), (low - close.shift()).abs()], axis=1).max(axis=1)
    out["atr_14"] = true_range.ewm(alpha=1 / 14, adjust=False).mean() / close
    middle, spread = close.rolling(20).mean(), close.rolling(20).std(ddof=0)
    out["bb_pct_20"] = (close - middle + 2 * spread) / (4 * spread)
    out["bb_width_20"] = 4 * spread / middle
    log_volume = np.log1p(bars["volume"])
    out["volume_z_24"] = (log_volume - log_volume.rolling(24).mean()) / log_volume.rolling(24).std(ddof=0)
    return out


def timed(call) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return min(timings), statistics.median(timings)


def main() -> None:
    setup_django()
    from dsta.data import api as data
    from dsta.ml import api as ml

    load_hourly_data()
    start, end = ONE_YEAR

    def extract_all() -> int:
        return sum(
            ml.features_extract(exchange="binance", symbol=symbol, timeframe="1h", start=start, end=end).rows
            for symbol in SYMBOLS
        )

    rows = extract_all()
    best, median = timed(extract_all)
    print(
        f"features_extract, 5 symbols x 1 year 1h ({rows:,} rows, 12 features, stored):"
        f" best {best:.3f} s, median {median:.3f} s"
    )

    def pandas_all() -> None:
        for symbol in SYMBOLS:
            pandas_features(data.candles_frame(exchange="binance", symbol=symbol, timeframe="1h", start=start, end=end))

    best_ref, median_ref = timed(pandas_all)
    print(
        f"reference pandas rolling/ewm (read + compute, not stored): best {best_ref:.3f} s, median {median_ref:.3f} s"
    )
    print(f"target: < 1 s -> {'met' if median < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
