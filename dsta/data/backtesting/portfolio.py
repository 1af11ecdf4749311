"""Several symbols in one backtest: each symbol trades its own sleeve of the capital (fixed weights, no
cash moving between sleeves), through the same engines as a single-symbol run; the portfolio is the sum
of the sleeves, aligned on the union of bar times (a sleeve's equity holds between its own bars)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from dsta.data.backtesting.engine import BacktestConfig, EngineResult
from dsta.data.bars import Bars
from dsta.data.strategies.base import Strategy

RunEngine = Callable[[Strategy, Bars, BacktestConfig], EngineResult]


@dataclass(frozen=True)
class PortfolioResult:
    times_ms: np.ndarray
    equity: np.ndarray  # total of the sleeves at each time
    sleeves: dict[str, EngineResult]
    weights: dict[str, float]


def run_portfolio(
    *,
    build: Callable[[], Strategy],
    bars_by_symbol: Mapping[str, Bars],
    config: BacktestConfig,
    run: RunEngine,
    weights: Mapping[str, float] | None = None,
) -> PortfolioResult:
    if not bars_by_symbol:
        raise ValueError("give at least one symbol")
    weights = dict(weights or {symbol: 1 / len(bars_by_symbol) for symbol in bars_by_symbol})
    if set(weights) != set(bars_by_symbol) or any(w <= 0 for w in weights.values()):
        raise ValueError("weights must be positive and name exactly the symbols traded")
    if abs(sum(weights.values()) - 1) > 1e-9:
        raise ValueError("weights must sum to 1")
    sleeves = {
        symbol: run(build(), bars, replace(config, initial_cash=config.initial_cash * weights[symbol]))
        for symbol, bars in bars_by_symbol.items()
    }
    times = np.unique(np.concatenate([bars.time_ms for bars in bars_by_symbol.values()]))
    total = np.zeros(len(times))
    for symbol, result in sleeves.items():
        own_times = bars_by_symbol[symbol].time_ms
        # Last own bar at or before each portfolio time; before its first bar a sleeve is still all cash.
        position = np.searchsorted(own_times, times, side="right") - 1
        sleeve_cash = config.initial_cash * weights[symbol]
        total += np.where(position >= 0, result.equity[np.maximum(position, 0)], sleeve_cash)
    return PortfolioResult(times_ms=times, equity=total, sleeves=sleeves, weights=weights)
