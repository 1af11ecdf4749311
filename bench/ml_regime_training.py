"""Regime model training on BTC/USDT 5m (~120k candles): the whole training job in process (read through the
data facade, feature set, 5-fold time-series CV of the mixture and of its baseline, final fit, artefact, registry).

Run: `uv run python bench/ml_regime_training.py` (uses `<name>_bench`; imports BTC/USDT 5m from ../shared/data).
Reference (same process): one GaussianMixture fit on the same two features, no CV.
Target (issue 8): < 30 s.
"""

from __future__ import annotations

import time

from market_data_env import five_minute_files, setup_django


def main() -> None:
    setup_django()
    from dsta.data import api as data
    from dsta.data.services import candles_import_file
    from dsta.ml import api as ml

    if not any(s.symbol == "BTC/USDT" and s.timeframe == "5m" for s in data.series_list()):
        candles_import_file(path=five_minute_files()["BTC/USDT"], exchange="binance", symbol="BTC/USDT", timeframe="5m")

    started = time.perf_counter()
    job = ml.training_start(
        kind="regime",
        model_name="bench-regime-5m",
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="5m",
        params={"regimes": 3, "folds": 5},
        wait=True,
    )
    elapsed = time.perf_counter() - started
    assert job.status == "succeeded", job.error
    metrics = job.metrics
    print(
        f"regime training job, BTC/USDT 5m ({metrics['rows']:,} rows, 5 folds + final fit): {elapsed:.2f} s;"
        f" held-out log-likelihood {metrics['cv_log_likelihood']:.3f} vs single Gaussian"
        f" {metrics['baseline_log_likelihood']:.3f}"
    )

    import numpy as np
    from sklearn.mixture import GaussianMixture
    from sklearn.preprocessing import StandardScaler

    frame = data.candles_frame(exchange="binance", symbol="BTC/USDT", timeframe="5m")
    returns = np.log(frame.close[1:] / frame.close[:-1])
    volatility = np.array([returns[max(0, i - 23) : i + 1].std() for i in range(len(returns))])
    x = StandardScaler().fit_transform(np.column_stack([returns, volatility])[24:])
    started = time.perf_counter()
    GaussianMixture(n_components=3, covariance_type="full", random_state=0).fit(x)
    print(f"reference: one GaussianMixture fit on the same features, no CV: {time.perf_counter() - started:.2f} s")
    print(f"target: < 30 s -> {'met' if elapsed < 30 else 'NOT met'}")


if __name__ == "__main__":
    main()
