"""The engine's fill model for callers that decide bar by bar outside a Strategy (the ml domain's trading
environment): one market fill through `accounting.rebalance`, and a whole target sequence through the
event-driven engine itself. Both do the engine's arithmetic, so an environment built on them books exactly
what a backtest of the same decisions books."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from dsta.data.backtesting.accounting import Book, Costs, rebalance
from dsta.data.backtesting.engine import BacktestConfig, run_event_driven
from dsta.data.bars import Bars
from dsta.data.contracts import SimulatedBook, TargetReplay
from dsta.data.strategies.base import HOLD, BarContext, Decision, Strategy


def fill_market(
    book: SimulatedBook, *, target: float, price: float, index: int, commission: float, slippage: float
) -> SimulatedBook:
    working = Book(**asdict(book))
    rebalance(working, target=target, price=price, index=index, costs=Costs(commission, slippage))
    return SimulatedBook(**asdict(working))


class _TargetSequence(Strategy):
    """Exposure targets given in advance, one per bar (NaN holds): decisions at t's close, as any strategy."""

    name = "target_sequence"

    def __init__(self, targets: np.ndarray) -> None:
        self.params: dict[str, Any] = {}
        self.targets = [float(value) for value in targets]

    def indicators(self, bars: Bars) -> dict[str, np.ndarray]:
        return {}

    def decide(self, context: BarContext) -> Decision:
        target = self.targets[context.index]
        return HOLD if target != target else Decision(target=target)


def replay_targets(
    *,
    open: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    targets: np.ndarray,
    initial_cash: float,
    commission: float,
    slippage: float,
) -> TargetReplay:
    count = len(close)
    if not len(open) == len(high) == len(low) == len(targets) == count or count == 0:
        raise ValueError("open, high, low, close and targets must be non-empty and of one length")
    bars = Bars(
        symbol="",
        timeframe="",
        time_ms=np.arange(count, dtype=np.int64),
        open=np.asarray(open, dtype=np.float64),
        high=np.asarray(high, dtype=np.float64),
        low=np.asarray(low, dtype=np.float64),
        close=np.asarray(close, dtype=np.float64),
        volume=np.zeros(count),
    )
    config = BacktestConfig(initial_cash=initial_cash, commission=commission, slippage=slippage)
    result = run_event_driven(_TargetSequence(np.asarray(targets, dtype=np.float64)), bars, config)
    return TargetReplay(
        equity=result.equity,
        trades=len(result.trades),
        fees=float(sum(trade.fees for trade in result.trades)),
    )
