"""SMA crossover (10/20, long or flat, next-open fills) over 1,000,000 bars: our fast path and
event-driven engine against backtesting.py on the same bars, in the same process.

Run: `uv run python bench/backtest_speed.py [--bars 1000000]`. The bars are the real BTC/USDT 5m series from
../shared/data, tiled end to end with continuous timestamps. Targets (issue 5): fast path < 0.5 s and >= 10x
faster than backtesting.py; event path < 5 s. Each engine runs `--repeat` times; the best time counts.
Commission is 0 here: with costs, 28k round trips over 1M bars grind the account to dust and backtesting.py
(whole satoshis) stops trading when it cannot afford one, so the engines would no longer do the same work.
The trade-for-trade comparison with costs is dsta/data/tests/test_backtest_reference.py.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import talib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = next((up / "shared" for up in ROOT.parents if (up / "shared" / "data").is_dir()), ROOT.parent / "shared")
SOURCE = SHARED / "data" / "binance" / "BTC_USDT-5m.csv.gz"  # from a worktree too


def best_of(repeat: int, run) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not SOURCE.exists():
        print(f"skipped: {SOURCE} is not here (the 5m data lives in ../shared/data)")
        return 0

    from backtesting import Strategy as ReferenceStrategy
    from backtesting.lib import FractionalBacktest

    from dsta.data.backtesting.engine import BacktestConfig, run_event_driven
    from dsta.data.backtesting.vectorized import run_vectorised
    from dsta.data.bars import Bars
    from dsta.data.strategies.builtin import SmaCross

    bars = Bars.from_csv(SOURCE, symbol="BTC/USDT", timeframe="5m").tiled(args.bars, step_ms=300_000)
    config = BacktestConfig(initial_cash=10_000, commission=0.0, close_at_end=False)
    strategy = SmaCross(fast=10, slow=20)

    fast_seconds, fast = best_of(args.repeat, lambda: run_vectorised(strategy, bars, config))
    event_seconds, event = best_of(args.repeat, lambda: run_event_driven(strategy, bars, config))

    class Reference(ReferenceStrategy):
        def init(self):  # type: ignore[no-untyped-def]
            self.fast = self.I(talib.SMA, self.data.Close, 10)
            self.slow = self.I(talib.SMA, self.data.Close, 20)

        def next(self):  # type: ignore[no-untyped-def]
            if self.fast[-1] > self.slow[-1]:
                if not self.position:
                    self.buy()
            elif self.position:
                self.position.close()

    frame = pd.DataFrame(
        {"Open": bars.open, "High": bars.high, "Low": bars.low, "Close": bars.close, "Volume": bars.volume},
        index=pd.to_datetime(bars.time_ms, unit="ms"),
    )

    def run_reference():  # type: ignore[no-untyped-def]
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):  # no progress bar
            warnings.simplefilter("ignore")
            return FractionalBacktest(frame, Reference, cash=10_000, commission=0.0).run()

    reference_seconds, stats = best_of(1, run_reference)
    reference_trades = len(stats._trades)  # type: ignore[attr-defined]

    print(
        f"bars: {len(bars):,}; trades: fast {len(fast.trades):,}, event {len(event.trades):,},"  # type: ignore[attr-defined]
        f" backtesting.py {reference_trades:,}"
    )
    print(f"backtesting.py (reference):  {reference_seconds:7.3f} s")
    print(
        f"fast path:                   {fast_seconds:7.3f} s   {reference_seconds / fast_seconds:6.1f}x faster"
        "   target < 0.5 s, >= 10x"
    )
    print(
        f"event-driven path:           {event_seconds:7.3f} s   {reference_seconds / event_seconds:6.1f}x faster"
        "   target < 5 s"
    )
    same = fast.trades == event.trades  # type: ignore[attr-defined]
    print(f"fast == event trade for trade: {same}")
    ok = same and fast_seconds < 0.5 and event_seconds < 5 and reference_seconds / fast_seconds >= 10
    print("PASS" if ok else "BELOW TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dsta.settings")
    sys.exit(main())
