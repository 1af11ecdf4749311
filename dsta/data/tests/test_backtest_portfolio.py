from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsta.data.backtesting.engine import BacktestConfig, run_event_driven
from dsta.data.backtesting.portfolio import run_portfolio
from dsta.data.backtesting.vectorized import run_vectorised
from dsta.data.bars import Bars
from dsta.data.strategies.builtin import SmaCross

DEMO = Path(__file__).resolve().parents[1] / "demo"


def bars(symbol: str) -> Bars:
    return Bars.from_csv(DEMO / f"{symbol}_USDT-1h.csv.gz", symbol=f"{symbol}/USDT", timeframe="1h")


@pytest.fixture(scope="module")
def market():
    return {f"{s}/USDT": bars(s) for s in ("BTC", "ETH", "SOL")}


def test_portfolio_is_the_sum_of_its_sleeves_each_with_its_share_of_cash(market):
    config = BacktestConfig(initial_cash=30_000, commission=0.001)
    result = run_portfolio(
        build=lambda: SmaCross(fast=24, slow=96), bars_by_symbol=market, config=config, run=run_vectorised
    )
    assert result.equity[0] == pytest.approx(30_000)
    for symbol, sleeve in result.sleeves.items():
        alone = run_vectorised(
            SmaCross(fast=24, slow=96), market[symbol], BacktestConfig(initial_cash=10_000, commission=0.001)
        )
        assert sleeve.trades == alone.trades
    finals = sum(float(sleeve.equity[-1]) for sleeve in result.sleeves.values())
    assert result.equity[-1] == pytest.approx(finals)
    assert np.all(np.diff(result.times_ms) > 0)


def test_portfolio_event_and_fast_paths_agree_and_weights_are_checked(market):
    config = BacktestConfig(commission=0.001)
    weights = {"BTC/USDT": 0.5, "ETH/USDT": 0.3, "SOL/USDT": 0.2}
    kwargs = dict(build=lambda: SmaCross(fast=10, slow=50), bars_by_symbol=market, config=config, weights=weights)
    fast, event = run_portfolio(run=run_vectorised, **kwargs), run_portfolio(run=run_event_driven, **kwargs)
    assert np.array_equal(fast.equity, event.equity)
    with pytest.raises(ValueError, match="sum to 1"):
        run_portfolio(run=run_vectorised, **{**kwargs, "weights": {**weights, "SOL/USDT": 0.5}})
    with pytest.raises(ValueError, match="name exactly"):
        run_portfolio(run=run_vectorised, **{**kwargs, "weights": {"BTC/USDT": 1.0}})
