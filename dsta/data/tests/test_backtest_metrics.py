"""Metrics checked against independent hand computations on small series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dsta.data.backtesting.accounting import TradeRecord
from dsta.data.backtesting.metrics import compute_metrics


def trade(pnl: float, pct: float, entry: int, exit_: int) -> TradeRecord:
    return TradeRecord(entry, exit_, "long", 1.0, 100.0, 100.0 + pnl, 0.5, pnl, pct, "signal")


def test_drawdown_depth_and_duration():
    equity = np.array([100, 120, 90, 100, 130, 117, 117, 140.0])
    metrics = compute_metrics(equity=equity, closes=equity, trades=[], timeframe_seconds=3600)
    assert metrics.max_drawdown_pct == pytest.approx((90 / 120 - 1) * 100)
    assert metrics.max_drawdown_duration_bars == 2  # 90, 100 under the 120 peak; 117, 117 under 130 too


def test_metrics_match_hand_computation():
    equity = np.array([100.0, 110.0, 99.0, 108.9])
    closes = np.array([10.0, 11.0, 10.0, 12.0])
    trades = [trade(10.0, 10.0, 0, 1), trade(-11.0, -10.0, 1, 2), trade(9.9, 10.0, 2, 3)]
    metrics = compute_metrics(equity=equity, closes=closes, trades=trades, timeframe_seconds=86_400)
    returns = np.array([0.10, -0.10, 0.10])
    per_year = 365
    assert metrics.total_return_pct == pytest.approx(8.9)
    assert metrics.buy_and_hold_return_pct == pytest.approx(20.0)
    assert metrics.annualised_return_pct == pytest.approx((1.089 ** (per_year / 3) - 1) * 100)
    assert metrics.sharpe == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(per_year))
    assert metrics.sortino == pytest.approx(returns.mean() / math.sqrt(0.01 / 3) * math.sqrt(per_year))
    assert metrics.max_drawdown_pct == pytest.approx(-10.0)
    assert metrics.win_rate_pct == pytest.approx(200 / 3)
    assert metrics.profit_factor == pytest.approx(19.9 / 11)
    assert metrics.expectancy == pytest.approx(8.9 / 3)
    pnls = np.array([10.0, -11.0, 9.9])
    assert metrics.sqn == pytest.approx(math.sqrt(3) * pnls.mean() / pnls.std(ddof=1))
    assert metrics.trades == 3 and metrics.fees == pytest.approx(1.5)
    assert metrics.calmar == pytest.approx(metrics.annualised_return_pct / 10.0)


def test_no_trades_and_flat_equity_give_zeros_not_errors():
    metrics = compute_metrics(equity=np.full(5, 100.0), closes=np.full(5, 3.0), trades=[], timeframe_seconds=3600)
    assert (metrics.trades, metrics.total_return_pct, metrics.win_rate_pct, metrics.sqn) == (0, 0.0, 0.0, 0.0)
    assert metrics.max_drawdown_pct == 0.0 and metrics.exposure_pct == 0.0
