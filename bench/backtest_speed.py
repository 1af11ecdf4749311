"""SMA crossover (10/20, long or flat, next-open fills) over 1,000,000 bars: our fast path and
event-driven engine against backtesting.py and vectorbt on the same bars, in the same process, and how far
each is from a compiled loop over the same bars (numba: both SMAs, the signal and the fills in one pass,
the physical floor of this backtest in Python's ecosystem).

Run: `uv run python bench/backtest_speed.py [--bars 1000000]`. The bars are the real BTC/USDT 5m series from
../shared/data, tiled end to end with continuous timestamps. Targets (issue 5): fast path < 0.5 s and >= 10x
faster than backtesting.py; event path < 5 s. Issue 19: fast path <= 1.0x vectorbt's time with the same trades,
event path <= 3x vectorbt. Each engine runs `--repeat` times: the best time counts, the spread is printed.
Memory: the event backtest's own peak allocation (tracemalloc, one untimed run) and the process's peak RSS.
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

import numpy as np
import pandas as pd
import talib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = next((up / "shared" for up in ROOT.parents if (up / "shared" / "data").is_dir()), ROOT.parent / "shared")
SOURCE = SHARED / "data" / "binance" / "BTC_USDT-5m.csv.gz"  # from a worktree too


SPREADS: dict[str, tuple[float, float]] = {}


def best_of(repeat: int, run, name: str = "") -> tuple[float, object]:  # type: ignore[no-untyped-def]
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - started)
    SPREADS[name] = (min(seconds), max(seconds))
    return min(seconds), result


def compiled_loop(opens, closes, fast: int, slow: int, cash: float):  # type: ignore[no-untyped-def]
    """SMA(fast) > SMA(slow): long at the next open, flat otherwise; all cash in, no fees. Returns
    (round trips, final equity)."""
    count = len(closes)
    fast_sum = slow_sum = 0.0
    qty, trades, wanted, pending = 0.0, 0, False, False
    for t in range(count):
        if pending:  # the decision of t - 1 fills at t's open
            if wanted:
                qty, cash = cash / opens[t], 0.0
            else:
                cash, qty, trades = qty * opens[t], 0.0, trades + 1
            pending = False
        fast_sum += closes[t]
        slow_sum += closes[t]
        if t >= fast:
            fast_sum -= closes[t - fast]
        if t >= slow:
            slow_sum -= closes[t - slow]
        if t >= slow - 1:
            long = fast_sum / fast > slow_sum / slow
            if long != (qty > 0):
                wanted, pending = long, t + 1 < count
    return trades, cash + qty * closes[count - 1]


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

    import resource

    import numba
    import vectorbt as vbt

    from dsta.data.backtesting import fills

    fills.warm_up()  # the compiler's load is a worker's boot cost, not a backtest's
    fast_seconds, fast = best_of(args.repeat, lambda: run_vectorised(strategy, bars, config), "fast")
    event_seconds, event = best_of(args.repeat, lambda: run_event_driven(strategy, bars, config), "event")
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import tracemalloc

    tracemalloc.start()  # one more, untimed run: what the event backtest itself allocates at its peak
    run_event_driven(strategy, bars, config)
    event_peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()

    loop = numba.njit(cache=True)(compiled_loop)
    loop(bars.open[:100], bars.close[:100], 10, 20, 10_000.0)
    loop_seconds, (loop_trades, _) = best_of(  # type: ignore[misc]
        args.repeat, lambda: loop(bars.open, bars.close, 10, 20, 10_000.0), "loop"
    )

    close_series = pd.Series(bars.close, index=pd.to_datetime(bars.time_ms, unit="ms"))

    def run_vectorbt():  # type: ignore[no-untyped-def]
        fast_ma = vbt.MA.run(close_series, 10).ma.to_numpy()
        slow_ma = vbt.MA.run(close_series, 20).ma.to_numpy()
        long = fast_ma > slow_ma
        held = np.concatenate(([False], long[:-1]))  # decided at t's close, filled at t + 1's open
        before = np.concatenate(([False], held[:-1]))
        return vbt.Portfolio.from_signals(
            close_series, held & ~before, before & ~held, price=bars.open, init_cash=10_000, fees=0.0, freq="5min"
        )

    run_vectorbt()  # untimed: vectorbt loads its compiled functions
    vbt_seconds, portfolio = best_of(args.repeat, run_vectorbt, "vectorbt")
    records = portfolio.trades.records  # type: ignore[attr-defined]
    closed = records[records["status"] == 1]
    vbt_same = np.array_equal(closed["entry_idx"], [t.entry_index for t in fast.trades]) and np.array_equal(  # type: ignore[attr-defined]
        closed["exit_idx"],
        [t.exit_index for t in fast.trades],  # type: ignore[attr-defined]
    )

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
    print(f"vectorbt {vbt.__version__} trades: {len(closed):,} closed; compiled loop: {loop_trades:,}")

    def spread(name: str) -> str:
        low, high = SPREADS[name]
        return f"(spread {low:.3f}-{high:.3f})"

    print(f"compiled loop (floor):       {loop_seconds:7.3f} s {spread('loop')}")
    print(
        f"vectorbt (reference):        {vbt_seconds:7.3f} s {spread('vectorbt')}"
        f"   {vbt_seconds / loop_seconds:6.0f}x the loop"
    )
    print(f"backtesting.py (reference):  {reference_seconds:7.3f} s")
    print(
        f"fast path:                   {fast_seconds:7.3f} s {spread('fast')}"
        f"   {fast_seconds / vbt_seconds:5.2f}x vectorbt"
        f"   {fast_seconds / loop_seconds:6.0f}x the loop   {reference_seconds / fast_seconds:6.1f}x faster than"
        " backtesting.py   targets < 0.5 s, >= 10x, <= 1.0x vectorbt"
    )
    print(
        f"event-driven path:           {event_seconds:7.3f} s {spread('event')}"
        f"   {event_seconds / vbt_seconds:5.2f}x vectorbt"
        f"   {event_seconds / loop_seconds:6.0f}x the loop   targets < 5 s, <= 3x vectorbt"
    )
    print(
        f"memory: the event backtest allocates {event_peak_mb:,.0f} MB at its peak (tracemalloc: indicators, the"
        " per-bar decisions (a bar-local strategy) or indicator lists, equity, trades; the bars not counted);"
        f" peak RSS of this process {peak_rss_mb:,.0f} MB"
        " (bars, both paths, numba, pandas and vectorbt loaded)"
    )
    same = fast.trades == event.trades  # type: ignore[attr-defined]
    print(f"fast == event trade for trade: {same}; fast == vectorbt (entry and exit bars): {vbt_same}")
    ok = (
        same
        and vbt_same
        and fast_seconds < 0.5
        and event_seconds < 5
        and reference_seconds / fast_seconds >= 10
        and fast_seconds <= vbt_seconds
        and event_seconds <= 3 * vbt_seconds
    )
    print("PASS" if ok else "BELOW TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dsta.settings")
    sys.exit(main())
