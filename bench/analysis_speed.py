"""Walk-forward and Monte Carlo against the single backtests they are made of, and the memory of a big grid.

Run: `uv run python bench/analysis_speed.py [--repeat 3] [--memory-trials 1000]` (no database: the bars come
from ../shared/data). Figures, each the median of `--repeat` runs with the spread:
- walk-forward (SMA cross, 16-set grid, 1h BTC/USDT, 4,000 in-sample / 1,000 out-of-sample bars) against
  the reference: the same number of single fast-path backtests of the same window sizes, run one by one;
- Monte Carlo (1,000 return-bootstrap paths, and 1,000 trade shuffles) against one backtest of the bars;
- memory: peak RSS of the optimisation batch engine (the workers' code path: compiled fills and full
  metrics per trial, results kept as metrics only) over `--memory-trials` trials spread over 5 symbols x
  ~120k 5m bars, with the RSS after the bars are loaded and after every fifth of the trials.
Target (issue 19): under 2 GB per worker for 1,000 trials.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = next((up / "shared" for up in ROOT.parents if (up / "shared" / "data").is_dir()), ROOT.parent / "shared")
DATA = SHARED / "data" / "binance"
SYMBOLS = ("BTC", "ETH", "SOL", "BNB", "XRP")


def timed(repeat: int, run) -> list[float]:  # type: ignore[no-untyped-def]
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return seconds


def shown(seconds: list[float]) -> str:
    return f"{statistics.median(seconds):7.3f} s (spread {min(seconds):.3f}-{max(seconds):.3f})"


def window_of(bars, start: int, end: int):  # type: ignore[no-untyped-def]
    from dsta.data.bars import Bars

    columns = (bars.time_ms, bars.open, bars.high, bars.low, bars.close, bars.volume)
    return Bars(bars.symbol, bars.timeframe, *(column[start:end] for column in columns))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-trials", type=int, default=1_000)
    args = parser.parse_args()
    if not (DATA / "BTC_USDT-1h.csv.gz").exists():
        print(f"skipped: {DATA} is not here")
        return 0
    from dsta.data.backtesting import fills
    from dsta.data.backtesting.analysis import (
        monte_carlo_returns,
        monte_carlo_trades,
        trade_factors,
        walk_forward,
    )
    from dsta.data.backtesting.engine import BacktestConfig
    from dsta.data.backtesting.metrics import compute_metrics, metrics_from_trade_columns
    from dsta.data.backtesting.vectorized import run_vectorised, vectorised_columns
    from dsta.data.bars import Bars
    from dsta.data.strategies.builtin import SmaCross

    fills.warm_up()
    hourly = Bars.from_csv(DATA / "BTC_USDT-1h.csv.gz", symbol="BTC/USDT", timeframe="1h")
    config = BacktestConfig()
    space = {"fast": [5, 10, 20, 40], "slow": [60, 100, 150, 200]}
    in_sample, out_of_sample = 4_000, 1_000
    windows = (len(hourly) - in_sample) // out_of_sample

    def run_walk_forward():  # type: ignore[no-untyped-def]
        return walk_forward(
            build=lambda params: SmaCross(**params),
            space=space,
            bars=hourly,
            config=config,
            run=run_vectorised,
            in_sample_bars=in_sample,
            out_of_sample_bars=out_of_sample,
            timeframe_seconds=3600,
        )

    def run_singles():  # type: ignore[no-untyped-def]
        for window in range(windows):
            start = window * out_of_sample
            for fast in space["fast"]:
                for slow in space["slow"]:
                    part = window_of(hourly, start, start + in_sample)
                    single = run_vectorised(SmaCross(fast=fast, slow=slow), part, config)
                    compute_metrics(
                        equity=single.equity, closes=part.close, trades=single.trades, timeframe_seconds=3600
                    )
            oos = window_of(hourly, start + in_sample - 199, start + in_sample + out_of_sample)  # warm-up + OOS
            run_vectorised(SmaCross(fast=10, slow=200), oos, config)

    walk_seconds, single_seconds = timed(args.repeat, run_walk_forward), timed(args.repeat, run_singles)
    one = run_vectorised(SmaCross(fast=10, slow=100), hourly, config)
    backtest_seconds = timed(args.repeat, lambda: run_vectorised(SmaCross(fast=10, slow=100), hourly, config))
    factors = trade_factors(one.equity, one.trades, config.initial_cash)
    returns_seconds = timed(args.repeat, lambda: monte_carlo_returns(one.equity, simulations=1_000))
    shuffle_seconds = timed(args.repeat, lambda: monte_carlo_trades(factors, initial_cash=10_000, simulations=1_000))
    backtest = statistics.median(backtest_seconds)
    print(f"walk-forward, {windows} windows x {len(space['fast']) * len(space['slow'])} sets, {len(hourly):,} 1h bars")
    print(f"  same single backtests, one by one (reference): {shown(single_seconds)}")
    ratio = statistics.median(walk_seconds) / statistics.median(single_seconds)
    print(f"  walk_forward:                                  {shown(walk_seconds)}   {ratio:.2f}x the reference")
    print(f"one backtest of the {len(hourly):,} bars (reference):       {shown(backtest_seconds)}")
    print(
        f"Monte Carlo, 1,000 return-bootstrap paths:      {shown(returns_seconds)}"
        f"   {statistics.median(returns_seconds) / backtest:.1f}x one backtest"
    )
    print(
        f"Monte Carlo, 1,000 shuffles of {len(factors)} trades:      {shown(shuffle_seconds)}"
        f"   {statistics.median(shuffle_seconds) / backtest:.1f}x one backtest"
    )

    series = [Bars.from_csv(DATA / f"{name}_USDT-5m.csv.gz", symbol=f"{name}/USDT", timeframe="5m") for name in SYMBOLS]
    print(f"memory: {args.memory_trials:,} trials over {len(series)} symbols x ~{len(series[0]):,} 5m bars")
    print(f"  peak RSS with the bars loaded: {peak_rss_mb():,.0f} MB")
    grid = [(fast, slow) for fast in range(5, 105, 5) for slow in range(110, 610, 10)]
    kept = []
    started = time.perf_counter()
    for number in range(args.memory_trials):
        bars = series[number % len(series)]
        fast, slow = grid[(number // len(series)) % len(grid)]
        equity, trades = vectorised_columns(SmaCross(fast=fast, slow=slow), bars, config, compiled=True)
        kept.append(metrics_from_trade_columns(equity=equity, closes=bars.close, trades=trades, timeframe_seconds=300))
        if (number + 1) % max(1, args.memory_trials // 5) == 0:
            print(
                f"  after {number + 1:5,} trials: peak RSS {peak_rss_mb():,.0f} MB,"
                f" {time.perf_counter() - started:.1f} s"
            )
    ok = peak_rss_mb() < 2_048
    print("PASS" if ok else "BELOW TARGET", f"(peak RSS {peak_rss_mb():,.0f} MB, target < 2,048 MB per worker)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
