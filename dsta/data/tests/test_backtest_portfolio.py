from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsta.data.backtesting.engine import BacktestConfig, run_event_driven
from dsta.data.backtesting.portfolio import run_portfolio, run_shared_cash
from dsta.data.backtesting.vectorized import run_vectorised
from dsta.data.bars import Bars
from dsta.data.strategies.base import HOLD, BarContext, Decision, Strategy
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


# --- one cash account shared by the symbols -----------------------------------------------------------------


class TargetsAt(Strategy):
    """Test strategy: at the close of the given bars, ask for the given exposure (market orders)."""

    name = "targets_at"

    def __init__(self, targets: dict[int, float]):
        super().__init__()
        self.targets = targets

    def indicators(self, bars: Bars) -> dict[str, np.ndarray]:
        return {}

    def decide(self, context: BarContext) -> Decision:
        return Decision(target=self.targets[context.index]) if context.index in self.targets else HOLD


def flat_bars(symbol: str, opens: list[float], start_ms: int = 0, step_ms: int = 3_600_000) -> Bars:
    prices = np.array(opens, dtype=float)
    times = start_ms + np.arange(len(prices), dtype=np.int64) * step_ms
    return Bars(symbol, "1h", times, prices, prices * 1.01, prices * 0.99, prices, np.ones(len(prices)))


@pytest.mark.parametrize("fill_at", ["next_open", "close"])
@pytest.mark.parametrize(("fast", "slow"), [(10, 20), (24, 96)])
def test_a_one_symbol_shared_cash_portfolio_is_exactly_the_single_symbol_backtest(market, fill_at, fast, slow):
    config = BacktestConfig(initial_cash=10_000, commission=0.001, slippage=0.0005, fill_at=fill_at)
    btc = market["BTC/USDT"]
    alone = run_event_driven(SmaCross(fast=fast, slow=slow), btc, config)
    together = run_shared_cash(
        strategies={"BTC/USDT": SmaCross(fast=fast, slow=slow)}, bars_by_symbol={"BTC/USDT": btc}, config=config
    )
    assert len(alone.trades) > 50
    assert together.trades == alone.trades
    assert together.trade_symbols == ["BTC/USDT"] * len(alone.trades)
    assert np.array_equal(together.equity, alone.equity)
    assert np.array_equal(together.times_ms, btc.time_ms)


def test_two_symbols_share_cash_the_second_buy_is_sized_from_what_the_first_left():
    config = BacktestConfig(initial_cash=10_000, commission=0.001)
    a = flat_bars("A/USDT", [100.0] * 6)
    b = flat_bars("B/USDT", [50.0] * 6)
    # A asks for 60% of equity at bar 1's close; B asks for 60% at bar 2's close: only ~40% is left in cash.
    result = run_shared_cash(
        strategies={"A/USDT": TargetsAt({1: 0.6, 4: 0.0}), "B/USDT": TargetsAt({2: 0.6, 4: 0.0})},
        bars_by_symbol={"A/USDT": a, "B/USDT": b},
        config=config,
    )
    cost_factor = 1.001  # commission on top of the notional
    a_qty = 6_000 / (100 * cost_factor)
    cash_after_a = 10_000 - a_qty * 100 * cost_factor
    assert result.cash[2] == pytest.approx(cash_after_a)  # A filled at bar 2's open
    b_qty = cash_after_a / (50 * cost_factor)  # capped at the cash on hand, not 60% of ~9,994
    assert result.cash[3] == pytest.approx(0, abs=1e-9)
    trades = dict(zip(result.trade_symbols, result.trades, strict=True))
    assert trades["A/USDT"].qty == pytest.approx(a_qty) and trades["B/USDT"].qty == pytest.approx(b_qty)
    assert (trades["A/USDT"].entry_index, trades["B/USDT"].entry_index) == (2, 3)
    # Each round trip's pnl is its own: flat prices, so exactly minus its two commissions.
    assert trades["A/USDT"].pnl == pytest.approx(-(a_qty * 100 * 0.001) * 2)
    assert trades["B/USDT"].pnl == pytest.approx(-(b_qty * 50 * 0.001) * 2)
    assert result.cash[-1] == pytest.approx(10_000 + trades["A/USDT"].pnl + trades["B/USDT"].pnl)
    assert result.equity[-1] == result.cash[-1]


def test_the_shared_account_never_goes_negative_and_equity_is_cash_plus_marked_positions(market):
    config = BacktestConfig(initial_cash=10_000, commission=0.001)
    symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    result = run_shared_cash(
        strategies={symbol: SmaCross(fast=10, slow=20) for symbol in symbols},  # each wants 100% when long
        bars_by_symbol={symbol: market[symbol] for symbol in symbols},
        config=config,
    )
    assert len(result.trades) > 100 and set(result.trade_symbols) == set(symbols)
    # Float rounding of an all-in buy may leave a residue of a few ulps either side of zero, never more.
    assert result.cash.min() >= -1e-9 * config.initial_cash
    assert np.all(result.equity > 0) and result.equity[-1] == result.cash[-1]
    assert result.equity[-1] == pytest.approx(config.initial_cash + sum(trade.pnl for trade in result.trades))
    assert np.all(np.diff(result.times_ms) > 0)
    with pytest.raises(ValueError, match="one strategy per symbol"):
        run_shared_cash(strategies={}, bars_by_symbol={"BTC/USDT": market["BTC/USDT"]}, config=config)
