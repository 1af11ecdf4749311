"""Single-prediction latency through the facade (`ml.api.predict`): read the warm-up bars through the data
facade, compute the feature set, apply the cached model, store the prediction.

Run: `uv run python bench/ml_predict_latency.py` (uses `<name>_bench`; trains a direction model in process first).
Reference (same process): the model call alone (`predict_proba` on one prepared row) and the bar read alone.
Target (issue 8): p99 < 20 ms.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

from ml_env import load_hourly_data, setup_django

CALLS = 500


def percentiles(timings: list[float]) -> str:
    ordered = sorted(timings)
    p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99) - 1]
    return f"p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, mean {statistics.mean(timings) * 1000:.2f} ms"


def main() -> None:
    setup_django()
    from dsta.data import api as data
    from dsta.ml import api as ml

    load_hourly_data()
    job = ml.training_start(
        kind="direction",
        model_name="bench-direction",
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
        params={"folds": 3},
        wait=True,
    )
    assert job.model_id is not None, job.error
    bars = [datetime(2025, 3, 1, tzinfo=UTC) + timedelta(hours=hour) for hour in range(CALLS)]
    ml.predict(model_id=job.model_id, at=bars[0])  # loads the artefact into the process cache

    timings = []
    for bar in bars:
        started = time.perf_counter()
        ml.predict(model_id=job.model_id, at=bar)
        timings.append(time.perf_counter() - started)
    print(f"ml.api.predict ({CALLS} bars, BTC/USDT 1h, logistic direction model): {percentiles(timings)}")

    read = []
    for bar in bars[:100]:
        started = time.perf_counter()
        data.candles_frame(
            exchange="binance", symbol="BTC/USDT", timeframe="1h", start=bar - timedelta(hours=119), end=bar
        )
        read.append(time.perf_counter() - started)
    print(f"reference: the 120-bar read alone: {percentiles(read)}")

    import joblib
    import numpy as np

    model = ml.model_get(model_id=job.model_id)
    assert model is not None
    estimator = joblib.load(model.artefact_path)["estimator"]

    row = np.zeros((1, 12))
    model_only = []
    for _ in range(CALLS):
        started = time.perf_counter()
        estimator.predict_proba(row)
        model_only.append(time.perf_counter() - started)
    print(f"reference: predict_proba alone: {percentiles(model_only)}")
    p99 = sorted(timings)[int(len(timings) * 0.99) - 1]
    print(f"target: p99 < 20 ms -> {'met' if p99 < 0.020 else 'NOT met'}")


if __name__ == "__main__":
    main()
