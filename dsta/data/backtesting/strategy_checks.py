"""What `manage.py strategy check` runs on a strategy, on the bundled candles (no database needed):

- lookahead: indicators and decisions recomputed on history cut at sample bars must equal the full run's;
- recursive: indicators recomputed from only as much history as live trading loads (and twice that) must
  equal the backtest's full-history values at the same bar (freqtrade's recursive-analysis): EMA- or
  Wilder-smoothed indicators that depend on where history starts show here; a changed decision fails;
- parity: with `target_exposures`, the fast path must give exactly the event engine's trades;
- backtest: a quick event-driven run, its metrics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsta.data.bars import Bars
from dsta.data.contracts import TIMEFRAME_SECONDS
from dsta.data.strategies.base import BarContext, Decision, Strategy

DEMO_DIR = Path(__file__).resolve().parents[1] / "demo"  # dsta/data/demo
RELATIVE_TOLERANCE = 1e-7  # a running-sum SMA's rounding depends on where it started, at ~1e-9


@dataclass(frozen=True)
class CheckRow:
    check: str
    status: str  # ok | warn | fail | skip
    detail: str


def demo_bars(symbol: str = "BTC/USDT", *, bars: int | None = None) -> Bars:
    """The bundled 1h candles of `symbol` (the last `bars` of them)."""
    path = DEMO_DIR / f"{symbol.replace('/', '_')}-1h.csv.gz"
    if not path.is_file():
        known = sorted(p.name.split("-")[0].replace("_", "/") for p in DEMO_DIR.glob("*-1h.csv.gz"))
        raise ValueError(f"no bundled candles for {symbol}; bundled: {', '.join(known)}")
    series = Bars.from_csv(path, symbol=symbol, timeframe="1h")
    return series if bars is None or bars >= len(series) else _tail(series, bars)


def _tail(bars: Bars, count: int) -> Bars:
    start = len(bars) - count
    return _window(bars, start, len(bars))


def _window(bars: Bars, start: int, end: int) -> Bars:
    return Bars(
        bars.symbol,
        bars.timeframe,
        bars.time_ms[start:end],
        bars.open[start:end],
        bars.high[start:end],
        bars.low[start:end],
        bars.close[start:end],
        bars.volume[start:end],
    )


def lookahead_row(strategy: Strategy, bars: Bars) -> CheckRow:
    from dsta.data.backtesting.analysis import detect_lookahead

    report = detect_lookahead(strategy, bars)
    if report.has_bias:
        return CheckRow(
            "lookahead",
            "fail",
            f"indicators that change when the future is cut off: {report.biased_indicators or 'none'};"
            f" decisions changed: {report.decisions_changed} of {report.checked_points} bars",
        )
    return CheckRow("lookahead", "ok", f"{report.checked_points} cut points, no indicator or decision changed")


def recursive_row(strategy: Strategy, bars: Bars, *, samples: int = 20, seed: int = 0) -> CheckRow:
    """Compare each indicator at sample bars computed from all history with the value computed from the
    history live trading loads (`live.HISTORY_FACTOR` x warm-up) and from twice that."""
    history = live_history(strategy)
    lengths = (history, 2 * history)
    first = 2 * history
    if len(bars) <= first + 1:
        return CheckRow("recursive", "skip", f"needs more than {first + 1} bars, has {len(bars)}")
    full = strategy.indicators(bars)
    full_series = {name: values.tolist() for name, values in full.items()}
    generator = np.random.default_rng(seed)
    points = sorted(generator.choice(np.arange(first, len(bars)), size=min(samples, len(bars) - first), replace=False))
    worst: dict[str, float] = {name: 0.0 for name in full}
    changed = 0
    for point in points:
        for length in lengths:
            start = int(point) + 1 - length
            window = _window(bars, start, int(point) + 1)
            partial = strategy.indicators(window)
            for name, values in partial.items():
                a, b = float(values[-1]), float(full[name][point])
                if np.isnan(a) and np.isnan(b):
                    continue
                difference = abs(a - b) / max(abs(b), 1e-12) if np.isfinite(a) and np.isfinite(b) else np.inf
                worst[name] = max(worst.get(name, 0.0), difference)
            context_full = BarContext(bars=bars, indicators=full, series=full_series, index=int(point))
            series = {name: values.tolist() for name, values in partial.items()}
            context_cut = BarContext(bars=window, indicators=partial, series=series, index=len(window) - 1)
            if not same_decision(strategy.decide(context_full), strategy.decide(context_cut)):
                changed += 1
    drifting = {name: value for name, value in worst.items() if value > RELATIVE_TOLERANCE}
    detail = (
        f"{len(points)} bars x histories of {lengths[0]} and {lengths[1]} bars: "
        + (
            ", ".join(f"{name} differs by up to {value:.2e} (relative)" for name, value in sorted(drifting.items()))
            if drifting
            else "every indicator equal to the full-history value"
        )
        + f"; decisions changed: {changed}"
    )
    status = "fail" if changed else ("warn" if drifting else "ok")
    return CheckRow("recursive", status, detail)


def same_decision(a: object, b: object) -> bool:
    """Equal targets and order types, and prices equal to a millionth (a rounding is not a new decision)."""
    if not (isinstance(a, Decision) and isinstance(b, Decision)):
        return a == b
    if (a.target, a.order_type) != (b.target, b.order_type):
        return False
    for x, y in ((a.price, b.price), (a.stop_loss, b.stop_loss), (a.take_profit, b.take_profit)):
        if (x is None) != (y is None) or (x is not None and y is not None and abs(x - y) > 1e-6 * max(abs(y), 1e-12)):
            return False
    return True


def live_history(strategy: Strategy) -> int:
    from dsta.data.strategies.live import HISTORY_FACTOR

    return max(strategy.warmup(), 50) * HISTORY_FACTOR + 1


def parity_row(strategy: Strategy, bars: Bars) -> CheckRow:
    from dsta.data.backtesting.engine import BacktestConfig, run_event_driven
    from dsta.data.backtesting.vectorized import run_vectorised

    if type(strategy).target_exposures is Strategy.target_exposures:
        return CheckRow("fast vs event path", "skip", "no target_exposures (event path only)")
    config = BacktestConfig()
    event = run_event_driven(strategy, bars, config, lookup=False)  # decide() per bar, even when bar-local
    fast = run_vectorised(strategy, bars, config)
    if event.trades != fast.trades:
        first = next(
            (n for n, (a, b) in enumerate(zip(event.trades, fast.trades, strict=False)) if a != b),
            min(len(event.trades), len(fast.trades)),
        )
        return CheckRow(
            "fast vs event path",
            "fail",
            f"{len(event.trades)} event trades vs {len(fast.trades)} fast; first difference at trade {first}",
        )
    if not np.allclose(event.equity, fast.equity, rtol=1e-12, atol=1e-9):
        return CheckRow("fast vs event path", "fail", "same trades but the equity curves differ")
    return CheckRow("fast vs event path", "ok", f"{len(event.trades)} identical trades, equal equity")


def backtest_row(strategy: Strategy, bars: Bars) -> CheckRow:
    from dsta.data.backtesting.engine import BacktestConfig, run_event_driven
    from dsta.data.backtesting.metrics import compute_metrics

    started = time.perf_counter()
    result = run_event_driven(strategy, bars, BacktestConfig())
    took = time.perf_counter() - started
    metrics = compute_metrics(
        equity=result.equity,
        closes=bars.close,
        trades=result.trades,
        timeframe_seconds=TIMEFRAME_SECONDS[bars.timeframe],
    )
    return CheckRow(
        "backtest",
        "ok",
        f"{bars.symbol} {bars.timeframe}, {len(bars)} bars in {took:.2f} s: {metrics.trades} trades,"
        f" return {metrics.total_return_pct:.2f}%, Sharpe {metrics.sharpe:.2f},"
        f" max drawdown {metrics.max_drawdown_pct:.2f}%",
    )


def pairs_backtest_row(strategy_a: Strategy, strategy_b: Strategy, a: Bars, b: Bars) -> CheckRow:
    from dsta.data.backtesting.engine import BacktestConfig
    from dsta.data.backtesting.portfolio import run_shared_cash

    for peer, strategy in ((b, strategy_a), (a, strategy_b)):
        strategy.provide("peer_close", peer.time_ms, peer.close)
    run = run_shared_cash(
        strategies={a.symbol: strategy_a, b.symbol: strategy_b},
        bars_by_symbol={a.symbol: a, b.symbol: b},
        config=BacktestConfig(),
    )
    final = float(run.equity[-1])
    return CheckRow(
        "backtest",
        "ok",
        f"pair {a.symbol} / {b.symbol} 1h, {len(run.times_ms)} bars, one cash account: {len(run.trades)} trades,"
        f" return {(final / 10_000 - 1) * 100:.2f}%",
    )
