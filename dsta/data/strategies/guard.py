"""A strategy's misbehaviour turned into one clear error naming the strategy, its file and the bar: an
exception in `indicators` or `decide`, a target outside [-1, 1] or NaN, or a decision slower than the
configured limit (DSTA_STRATEGY_MAX_SECONDS_PER_BAR). The engines call these at their edges only, so the
per-bar cost is two comparisons (and two clock reads when a time limit is set)."""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from dsta.data.bars import Bars
from dsta.data.contracts import StrategyFault as StrategyFault  # re-exported for the engines
from dsta.data.strategies.base import BarContext, Decision, Strategy


def strategy_file(strategy: Strategy) -> str:
    try:
        return inspect.getsourcefile(type(strategy)) or "?"
    except TypeError:
        return "?"


def fault(strategy: Strategy, bars: Bars, index: int | None, reason: str) -> StrategyFault:
    file = strategy_file(strategy)
    where = ""
    if index is not None and 0 <= index < len(bars):
        moment = datetime.fromtimestamp(int(bars.time_ms[index]) / 1000, tz=UTC)
        where = f" at bar {index} ({bars.symbol} {bars.timeframe} {moment:%Y-%m-%d %H:%M} UTC)"
    name = getattr(strategy, "name", type(strategy).__name__)
    return StrategyFault(f"strategy {name!r} ({file}){where}: {reason}", strategy=name, file=file, bar=index)


def guarded_indicators(strategy: Strategy, bars: Bars) -> dict[str, np.ndarray]:
    try:
        indicators = strategy.indicators(bars)
    except Exception as exc:
        raise fault(strategy, bars, None, f"indicators() raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(indicators, dict):
        raise fault(strategy, bars, None, f"indicators() must return a dict, not {type(indicators).__name__}")
    return indicators


def decide_failed(strategy: Strategy, bars: Bars, index: int, exc: Exception) -> StrategyFault:
    return fault(strategy, bars, index, f"decide() raised {type(exc).__name__}: {exc}")


def bad_decision(strategy: Strategy, bars: Bars, index: int, decision: object) -> StrategyFault:
    """The error for a decision the engine refuses (called once the cheap range test has failed)."""
    if not isinstance(decision, Decision):
        return fault(strategy, bars, index, f"decide() must return a Decision (or HOLD), not {decision!r}")
    target = decision.target
    if isinstance(target, float) and math.isnan(target):
        return fault(strategy, bars, index, "target is NaN (return HOLD to keep the position)")
    return fault(strategy, bars, index, f"target {target!r} is outside [-1, 1]")


def time_limited(
    decide: Callable[[BarContext], Decision], strategy: Strategy, bars: Bars, limit: float | None
) -> Callable[[BarContext], Decision]:
    """`decide` as is without a limit; with one, a wrapper that fails the run on the first slow bar."""
    if not limit:
        return decide
    clock = time.perf_counter

    def timed(context: BarContext) -> Decision:
        started = clock()
        decision = decide(context)
        took = clock() - started
        if took > limit:
            raise fault(
                strategy, bars, context.index, f"decide() took {took:.3f} s, over the limit of {limit:g} s per bar"
            )
        return decision

    return timed


def check_targets(strategy: Strategy, bars: Bars, targets: object) -> np.ndarray:
    """A vectorised strategy's targets: one per bar, each NaN (hold) or within [-1, 1]."""
    array = np.asarray(targets, dtype=np.float64) if targets is not None else None
    if array is None or array.shape != (len(bars),):
        shape = None if array is None else array.shape
        raise fault(strategy, bars, None, f"target_exposures() must return one value per bar, got shape {shape}")
    outside = np.flatnonzero(~np.isnan(array) & ((array < -1) | (array > 1)))
    if len(outside):
        index = int(outside[0])
        raise fault(strategy, bars, index, f"target_exposures() gave {array[index]!r}, outside [-1, 1]")
    return array
