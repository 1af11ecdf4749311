"""Performance metrics of a backtest, from its equity curve and trades.

Per-bar simple returns r_t = E_t / E_{t-1} - 1; `periods_per_year` comes from the timeframe (8,760 for 1h).
- annualised return: (E_end / E_start) ** (periods_per_year / bars) - 1
- volatility: std(r) * sqrt(periods_per_year)
- Sharpe: mean(r - rf) / std(r) * sqrt(periods_per_year), rf the per-bar risk-free rate
- Sortino: mean(r - rf) / sqrt(mean(min(r - rf, 0) ** 2)) * sqrt(periods_per_year)
- max drawdown: min over t of E_t / max(E_0..E_t) - 1; its duration is the longest stretch below a peak
- Calmar: annualised return / |max drawdown|
- profit factor: gross profit / gross loss of closed trades; expectancy: mean pnl per trade
- SQN (van Tharp): sqrt(n) * mean(pnl) / std(pnl)
- exposure: share of bars with a position open
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dsta.data.backtesting.accounting import TradeRecord

SECONDS_PER_YEAR = 365 * 24 * 3600


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


def max_drawdown(equity: np.ndarray) -> tuple[float, int]:
    """(deepest drawdown as a negative fraction, longest number of bars spent below a previous peak)."""
    peaks = np.maximum.accumulate(equity)
    drawdowns = equity / peaks - 1
    below = drawdowns < 0
    longest = 0
    if below.any():
        # Lengths of runs of True in `below`.
        edges = np.flatnonzero(np.diff(np.concatenate(([0], below.astype(np.int8), [0]))))
        longest = int((edges[1::2] - edges[::2]).max())
    return float(drawdowns.min()), longest


def _ratio(numerator: float, denominator: float) -> float:
    if denominator == 0 or math.isnan(denominator):
        return math.inf if numerator > 0 else (0.0 if numerator == 0 else -math.inf)
    return numerator / denominator


def compute_metrics(
    *,
    equity: np.ndarray,
    closes: np.ndarray,
    trades: Sequence[TradeRecord],
    timeframe_seconds: int,
    risk_free_rate: float = 0.0,
) -> Metrics:
    per_year = periods_per_year(timeframe_seconds)
    start, final = float(equity[0]), float(equity[-1])
    bars = len(equity)
    returns = equity[1:] / equity[:-1] - 1 if bars > 1 else np.zeros(1)
    excess = returns - ((1 + risk_free_rate) ** (1 / per_year) - 1)
    std = float(returns.std(ddof=1)) if len(returns) > 1 else 0.0
    downside = float(np.sqrt(np.mean(np.minimum(excess, 0) ** 2)))
    growth = final / start
    annualised = growth ** (per_year / max(bars - 1, 1)) - 1 if growth > 0 else -1.0
    drawdown, drawdown_bars = max_drawdown(equity)
    pnls = np.array([trade.pnl for trade in trades])
    trade_pcts = np.array([trade.return_pct for trade in trades])
    wins, losses = pnls[pnls > 0], pnls[pnls < 0]
    in_market = sum(trade.exit_index - trade.entry_index + 1 for trade in trades)
    return Metrics(
        start_equity=start,
        final_equity=final,
        total_return_pct=(growth - 1) * 100,
        annualised_return_pct=annualised * 100,
        buy_and_hold_return_pct=(float(closes[-1]) / float(closes[0]) - 1) * 100,
        volatility_annualised_pct=std * math.sqrt(per_year) * 100,
        sharpe=_ratio(float(excess.mean()), std) * math.sqrt(per_year),
        sortino=_ratio(float(excess.mean()), downside) * math.sqrt(per_year),
        calmar=_ratio(annualised, abs(drawdown)),
        max_drawdown_pct=drawdown * 100,
        max_drawdown_duration_bars=drawdown_bars,
        trades=len(trades),
        win_rate_pct=len(wins) / len(pnls) * 100 if len(pnls) else 0.0,
        profit_factor=_ratio(float(wins.sum()), float(-losses.sum())) if len(pnls) else 0.0,
        expectancy=float(pnls.mean()) if len(pnls) else 0.0,
        avg_trade_pct=float(trade_pcts.mean()) if len(pnls) else 0.0,
        best_trade_pct=float(trade_pcts.max()) if len(pnls) else 0.0,
        worst_trade_pct=float(trade_pcts.min()) if len(pnls) else 0.0,
        sqn=math.sqrt(len(pnls)) * _ratio(float(pnls.mean()), float(pnls.std(ddof=1))) if len(pnls) > 1 else 0.0,
        exposure_pct=min(in_market / bars, 1.0) * 100,
        fees=float(sum(trade.fees for trade in trades)),
    )
