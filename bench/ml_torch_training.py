"""Torch model training on BTC/USDT 1h (bundled demo data): the whole training job in process (data facade,
feature set, time-series CV, final fit, artefact, registry), on the CPU and, when torch sees one, on CUDA.

Run: `uv run --no-sync python bench/ml_torch_training.py [--full]` (uses `<name>_bench`; needs torch, which
`./dev` installs). The MLP trains on every bar (~12.5k); the DQN agent on the last 3,000 bars for 5 episodes,
or with `--full` on every bar for 30 episodes (minutes on a CPU).
Reference (same run): the sklearn `direction` job (logistic regression) on the same bars and folds.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from ml_env import load_hourly_data, setup_django


def timed_job(ml: Any, **job: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = ml.training_start(exchange="binance", symbol="BTC/USDT", timeframe="1h", wait=True, **job)
    elapsed = time.perf_counter() - started
    assert result.status == "succeeded", result.error
    return elapsed, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="every bar, 30 agent episodes")
    full = parser.parse_args().full
    setup_django()
    load_hourly_data()
    import torch
    from django.conf import settings

    from dsta.ml import api as ml

    agent_params = {"episodes": 30} if full else {"bars": 3000, "episodes": 5}
    print(f"torch {torch.__version__}, CUDA build {torch.version.cuda}, CUDA available {torch.cuda.is_available()}")

    seconds, reference = timed_job(ml, kind="direction", model_name="bench-logistic", params={"folds": 5})
    print(
        f"reference: sklearn direction job (logistic, {reference.metrics['rows']:,} rows, 5 folds): {seconds:.2f} s;"
        f" accuracy {reference.metrics['accuracy']:.4f}"
    )
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    for device in devices:
        settings.ML_DEVICE = device
        seconds, job = timed_job(ml, kind="torch_direction", model_name=f"bench-mlp-{device}", params={})
        metrics = job.metrics
        print(
            f"torch_direction on {device} ({metrics['rows']:,} rows, {metrics['network']}, 5 folds + final fit):"
            f" {seconds:.2f} s; accuracy {metrics['accuracy']:.4f} vs logistic"
            f" {metrics['baseline_logistic_accuracy']:.4f}, majority {metrics['baseline_majority_accuracy']:.4f},"
            f" persistence {metrics['baseline_persistence_accuracy']:.4f}"
        )
        seconds, job = timed_job(ml, kind="rl_agent", model_name=f"bench-dqn-{device}", params=agent_params)
        metrics = job.metrics
        oos = metrics["oos"]
        print(
            f"rl_agent on {device} ({metrics['train_range']['bars']:,} training bars x {metrics['episodes']} episodes,"
            f" {metrics['updates']:,} updates): {seconds:.2f} s; out of sample ({metrics['test_range']['bars']:,} bars)"
            f" agent {oos['agent']['total_return']:+.2%}, buy-and-hold {oos['buy_and_hold']['total_return']:+.2%},"
            f" flat {oos['flat']['total_return']:+.2%}, random {oos['random']['total_return_mean']:+.2%}"
            f" (agent beats {oos['random']['agent_beats_share']:.0%} of random runs)"
        )
    if len(devices) == 1:
        print("no CUDA device: GPU timings not measured")


if __name__ == "__main__":
    main()
