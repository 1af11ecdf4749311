"""Performance metrics, drawdowns and rolling correlations on numpy arrays.

Conventions (documented once, used everywhere):
- r_t = E_t / E_{t-1} - 1 are simple per-period returns of the equity curve E; N = len(r); P = periods per
  year, from the timeframe (365 days: crypto trades every day), e.g. 8,760 for 1h and 105,120 for 5m.
- total return = E_N / E_0 - 1; annualised return (CAGR) = (E_N / E_0) ** (P / N) - 1.
- volatility = std(r, ddof=1) * sqrt(P).
- risk-free: an annual rate rf, per period rf_p = (1 + rf) ** (1 / P) - 1; excess x_t = r_t - rf_p.
- Sharpe = mean(x) / std(r, ddof=1) * sqrt(P); Sortino = mean(x) / sqrt(mean(min(x, 0) ** 2)) * sqrt(P).
- drawdown_t = E_t / max(E_0..E_t) - 1; max drawdown = -min(drawdown) (a positive fraction); its duration is
  the longest run of periods spent below a previous peak (peak to recovery, or to the end if none).
- Calmar = annualised return / max drawdown.
- Over the periods with a non-zero return (the periods a position was held, for a strategy's equity):
  win rate = wins / (wins + losses); profit factor = sum(wins) / |sum(losses)|; expectancy = mean(r).
- exposure = share of periods with a non-zero position (given), else with a non-zero return.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dsta.data.contracts import TIMEFRAME_SECONDS

SECONDS_PER_YEAR = 365 * 24 * 3600

FloatArray = npt.NDArray[np.float64]


def periods_per_year(timeframe: str) -> float:
    return SECONDS_PER_YEAR / TIMEFRAME_SECONDS[timeframe]


@dataclass(frozen=True)
class Metrics:
    periods: int
    total_return: float
    annualised_return: float
    volatility: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_periods: int
    win_rate: float
    profit_factor: float
    expectancy: float
    exposure: float


def simple_returns(equity: FloatArray) -> FloatArray:
    return equity[1:] / equity[:-1] - 1.0


def drawdowns(equity: FloatArray) -> FloatArray:
    return equity / np.maximum.accumulate(equity) - 1.0


def longest_underwater(drawdown: FloatArray) -> int:
    """Longest run of consecutive periods with drawdown < 0."""
    under = np.concatenate([[0], (drawdown < 0).astype(np.int8), [0]])
    edges = np.diff(under)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int((ends - starts).max()) if len(starts) else 0


def safe_ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, with +-inf (or 0) instead of an error when the denominator is 0 or NaN."""
    if denominator == 0 or math.isnan(denominator):
        return math.inf if numerator > 0 else (0.0 if numerator == 0 else -math.inf)
    return numerator / denominator


def metrics(
    equity: FloatArray, *, periods_per_year: float, risk_free: float = 0.0, positions: FloatArray | None = None
) -> Metrics:
    if len(equity) < 2:
        raise ValueError("metrics need at least two equity points")
    returns = simple_returns(equity)
    n = len(returns)
    growth = equity[-1] / equity[0]
    annualised = growth ** (periods_per_year / n) - 1.0
    std = float(returns.std(ddof=1)) if n > 1 else 0.0
    excess = returns - ((1.0 + risk_free) ** (1.0 / periods_per_year) - 1.0)
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    sqrt_p = math.sqrt(periods_per_year)
    drawdown = drawdowns(equity)
    max_drawdown = float(-drawdown.min())
    active = returns[returns != 0]
    wins, losses = active[active > 0], active[active < 0]
    held = (positions[1:] != 0) if positions is not None else (returns != 0)
    return Metrics(
        periods=n,
        total_return=float(growth - 1.0),
        annualised_return=float(annualised),
        volatility=std * sqrt_p,
        sharpe=safe_ratio(float(excess.mean()), std) * sqrt_p,
        sortino=safe_ratio(float(excess.mean()), downside) * sqrt_p,
        calmar=safe_ratio(float(annualised), max_drawdown),
        max_drawdown=max_drawdown,
        max_drawdown_periods=longest_underwater(drawdown),
        win_rate=len(wins) / len(active) if len(active) else 0.0,
        profit_factor=safe_ratio(float(wins.sum()), float(-losses.sum())),
        expectancy=float(active.mean()) if len(active) else 0.0,
        exposure=float(np.mean(held)),
    )


def rolling_sharpe(returns: FloatArray, *, window: int, periods_per_year: float, risk_free: float = 0.0) -> FloatArray:
    """Sharpe of each trailing window (NaN before the first full window), from cumulative sums."""
    excess = returns - ((1.0 + risk_free) ** (1.0 / periods_per_year) - 1.0)
    mean = _rolling_sum(excess, window) / window
    mean_r = _rolling_sum(returns, window) / window
    var = (_rolling_sum(returns * returns, window) - window * mean_r * mean_r) / (window - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return mean / np.sqrt(np.maximum(var, 0.0)) * math.sqrt(periods_per_year)


def _rolling_sum(values: FloatArray, window: int) -> FloatArray:
    out = np.full(len(values), np.nan)
    if len(values) >= window:
        cumulative = np.concatenate([[0.0], np.cumsum(values)])
        out[window - 1 :] = cumulative[window:] - cumulative[:-window]
    return out


def rolling_correlation(returns: FloatArray, *, window: int) -> npt.NDArray[np.float64]:
    """Pearson correlation of every pair of columns over each trailing window: shape (T, k, k), NaN before the
    first full window. Computed from cumulative sums of x, x*y (O(T * k^2)), after centring each column on its
    overall mean so that the sums stay well-conditioned."""
    t, k = returns.shape
    out = np.full((t, k, k), np.nan)
    if t < window:
        return out
    centred = returns - returns.mean(axis=0)
    s = np.concatenate([np.zeros((1, k)), np.cumsum(centred, axis=0)])
    sum_x = s[window:] - s[:-window]  # (T - w + 1, k)
    products = centred[:, :, None] * centred[:, None, :]
    p = np.concatenate([np.zeros((1, k, k)), np.cumsum(products, axis=0)])
    sum_xy = p[window:] - p[:-window]  # (T - w + 1, k, k)
    cov = sum_xy - sum_x[:, :, None] * sum_x[:, None, :] / window
    var = np.diagonal(cov, axis1=1, axis2=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[window - 1 :] = cov / np.sqrt(var[:, :, None] * var[:, None, :])
    clipped: FloatArray = np.clip(out, -1.0, 1.0)
    return clipped
