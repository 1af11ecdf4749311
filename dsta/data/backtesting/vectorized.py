"""The fast path: a strategy's vectorised targets turned into fills in one pass over the bars (`fills`,
compiled for long series). Only market orders without stops qualify; the event engine does the rest. The
fills do the accounting module's arithmetic operation for operation, so both paths give identical trades."""

from __future__ import annotations

import numpy as np

from dsta.data.backtesting.engine import BacktestConfig, EngineResult
from dsta.data.backtesting.fills import TradeColumns, run_fills
from dsta.data.bars import Bars
from dsta.data.strategies.base import Strategy


class NotVectorisable(ValueError):
    pass


def held_targets(targets: np.ndarray, warmup: int) -> np.ndarray:
    """The exposure the strategy wants after each bar: its last non-NaN target, 0 before the first."""
    targets = targets.astype(np.float64, copy=True)
    targets[:warmup] = np.nan
    positions = np.where(np.isnan(targets), -1, np.arange(len(targets)))
    np.maximum.accumulate(positions, out=positions)
    return np.where(positions >= 0, targets[np.maximum(positions, 0)], 0.0)


def vectorised_columns(
    strategy: Strategy, bars: Bars, config: BacktestConfig, *, compiled: bool | None = None
) -> tuple[np.ndarray, TradeColumns]:
    """The fast path's equity and round trips as columns (what an optimisation batch ranks on)."""
    indicators = strategy.indicators(bars)
    targets = strategy.target_exposures(bars, indicators)
    if targets is None:
        raise NotVectorisable(f"{strategy.name} has no vectorised form; use the event-driven engine")
    return run_fills(
        targets,
        bars.open,
        bars.close,
        warmup=max(strategy.warmup(), config.trade_from),
        next_open=config.fill_at == "next_open",
        initial_cash=config.initial_cash,
        commission=config.commission,
        slippage=config.slippage,
        close_at_end=config.close_at_end,
        compiled=compiled,
    )


def run_vectorised(strategy: Strategy, bars: Bars, config: BacktestConfig) -> EngineResult:
    equity, trades = vectorised_columns(strategy, bars, config)
    return EngineResult(equity=equity, trades=trades.records(), path="vectorised")
