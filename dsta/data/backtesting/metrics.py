"""Performance metrics of a backtest: the equity statistics of `dsta.data.analytics` (formulas documented
there: returns, volatility, Sharpe, Sortino, drawdown, Calmar) plus the statistics of its round trips:
- win rate, profit factor (gross profit / gross loss) and expectancy (mean pnl) over closed trades
- SQN (van Tharp): sqrt(n) * mean(pnl) / std(pnl)
- exposure: share of bars with a position open
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dsta.data import analytics
from dsta.data.backtesting.accounting import TradeRecord
from dsta.data.backtesting.fills import TradeColumns

SECONDS_PER_YEAR = analytics.SECONDS_PER_YEAR


@dataclass(frozen=True)
class Metrics:
    start_equity: float
    final_equity: float
    total_return_pct: float
    annualised_return_pct: float
    buy_and_hold_return_pct: float
    volatility_annualised_pct: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown_pct: float
    max_drawdown_duration_bars: int
    trades: int
    win_rate_pct: float
    profit_factor: float
    expectancy: float
    avg_trade_pct: float
    best_trade_pct: float
    worst_trade_pct: float
    sqn: float
    exposure_pct: float
    fees: float

    def as_dict(self) -> dict[str, float | int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def periods_per_year(timeframe_seconds: int) -> float:
    return SECONDS_PER_YEAR / timeframe_seconds


def compute_metrics(
    *,
    equity: np.ndarray,
    closes: np.ndarray,
    trades: Sequence[TradeRecord],
    timeframe_seconds: int,
    risk_free_rate: float = 0.0,
) -> Metrics:
    return metrics_from_columns(
        equity=equity,
        closes=closes,
        pnls=np.array([trade.pnl for trade in trades]),
        trade_pcts=np.array([trade.return_pct for trade in trades]),
        fees=[trade.fees for trade in trades],
        in_market=sum(trade.exit_index - trade.entry_index + 1 for trade in trades),
        timeframe_seconds=timeframe_seconds,
        risk_free_rate=risk_free_rate,
    )


def metrics_from_trade_columns(
    *, equity: np.ndarray, closes: np.ndarray, trades: TradeColumns, timeframe_seconds: int
) -> Metrics:
    """The same metrics from the fast path's columns (an optimisation batch makes no trade objects)."""
    return metrics_from_columns(
        equity=equity,
        closes=closes,
        pnls=trades.pnl,
        trade_pcts=trades.return_pct,
        fees=trades.fees.tolist(),
        in_market=int((trades.exit_index - trades.entry_index + 1).sum()),
        timeframe_seconds=timeframe_seconds,
    )


def metrics_from_columns(
    *,
    equity: np.ndarray,
    closes: np.ndarray,
    pnls: np.ndarray,
    trade_pcts: np.ndarray,
    fees: list[float],
    in_market: int,
    timeframe_seconds: int,
    risk_free_rate: float = 0.0,
) -> Metrics:
    per_year = periods_per_year(timeframe_seconds)
    start, final = float(equity[0]), float(equity[-1])
    bars = len(equity)
    curve = analytics.metrics(equity, periods_per_year=per_year, risk_free=risk_free_rate) if bars > 1 else None
    wins, losses = pnls[pnls > 0], pnls[pnls < 0]
    ratio = analytics.safe_ratio
    return Metrics(
        start_equity=start,
        final_equity=final,
        total_return_pct=(final / start - 1) * 100,
        annualised_return_pct=curve.annualised_return * 100 if curve else 0.0,
        buy_and_hold_return_pct=(float(closes[-1]) / float(closes[0]) - 1) * 100,
        volatility_annualised_pct=curve.volatility * 100 if curve else 0.0,
        sharpe=curve.sharpe if curve else 0.0,
        sortino=curve.sortino if curve else 0.0,
        calmar=curve.calmar if curve else 0.0,
        max_drawdown_pct=-curve.max_drawdown * 100 if curve else 0.0,
        max_drawdown_duration_bars=curve.max_drawdown_periods if curve else 0,
        trades=len(pnls),
        win_rate_pct=len(wins) / len(pnls) * 100 if len(pnls) else 0.0,
        profit_factor=ratio(float(wins.sum()), float(-losses.sum())) if len(pnls) else 0.0,
        expectancy=float(pnls.mean()) if len(pnls) else 0.0,
        avg_trade_pct=float(trade_pcts.mean()) if len(pnls) else 0.0,
        best_trade_pct=float(trade_pcts.max()) if len(pnls) else 0.0,
        worst_trade_pct=float(trade_pcts.min()) if len(pnls) else 0.0,
        sqn=math.sqrt(len(pnls)) * ratio(float(pnls.mean()), float(pnls.std(ddof=1))) if len(pnls) > 1 else 0.0,
        exposure_pct=min(in_market / bars, 1.0) * 100,
        fees=float(sum(fees)),  # in trade order, as the account paid them
    )
