"""The fast path: a strategy's vectorised targets turned into fills with numpy, the loop running over
position changes instead of bars. Only market orders without stops qualify; the event engine does the
rest. The fills go through the same accounting code as the event engine, so both give identical trades."""

from __future__ import annotations

import numpy as np

from dsta.data.backtesting.accounting import Book, TradeRecord, close_position, rebalance
from dsta.data.backtesting.engine import BacktestConfig, EngineResult
from dsta.data.bars import Bars
from dsta.data.strategies.base import Strategy
from dsta.data.strategies.guard import check_targets, fault, guarded_indicators


class NotVectorisable(ValueError):
    pass


def held_targets(targets: np.ndarray, warmup: int) -> np.ndarray:
    """The exposure the strategy wants after each bar: its last non-NaN target, 0 before the first."""
    targets = targets.astype(np.float64, copy=True)
    targets[:warmup] = np.nan
    positions = np.where(np.isnan(targets), -1, np.arange(len(targets)))
    np.maximum.accumulate(positions, out=positions)
    return np.where(positions >= 0, targets[np.maximum(positions, 0)], 0.0)


def run_vectorised(strategy: Strategy, bars: Bars, config: BacktestConfig) -> EngineResult:
    indicators = guarded_indicators(strategy, bars)
    try:
        raw = strategy.target_exposures(bars, indicators)
    except Exception as exc:
        raise fault(strategy, bars, None, f"target_exposures() raised {type(exc).__name__}: {exc}") from exc
    if raw is None:
        raise NotVectorisable(f"{strategy.name} has no vectorised form; use the event-driven engine")
    targets = check_targets(strategy, bars, raw)
    count = len(bars)
    state = held_targets(targets, max(strategy.warmup(), config.trade_from))
    previous = np.concatenate(([0.0], state[:-1]))
    decided_at = np.flatnonzero(state != previous)
    next_open = config.fill_at == "next_open"
    fill_at = decided_at + 1 if next_open else decided_at
    keep = fill_at < count
    decided_at, fill_at = decided_at[keep], fill_at[keep]
    fill_prices = (bars.open if next_open else bars.close)[fill_at].tolist()

    costs = config.costs
    book = Book(cash=config.initial_cash)
    trades: list[TradeRecord] = []
    segment_cash, segment_qty = [book.cash], [0.0]
    for target, price, index in zip(state[decided_at].tolist(), fill_prices, fill_at.tolist(), strict=True):
        closed = rebalance(book, target=target, price=price, index=index, costs=costs)
        if closed is not None:
            trades.append(closed)
        segment_cash.append(book.cash)
        segment_qty.append(book.qty)

    lengths = np.diff(np.concatenate(([0], fill_at, [count])))
    cash = np.repeat(np.array(segment_cash), lengths)
    qty = np.repeat(np.array(segment_qty), lengths)
    equity = cash + qty * bars.close
    if config.close_at_end and book.qty != 0:
        trades.append(
            close_position(book, price=float(bars.close[-1]), index=count - 1, costs=costs, reason="end_of_data")
        )
        equity[-1] = book.cash
    return EngineResult(equity=equity, trades=trades, path="vectorised")
