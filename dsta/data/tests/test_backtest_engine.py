"""The backtest engines: hand-checked fills, protective exits, and exact parity of the fast path with the
event-driven engine on the shipped real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsta.data.backtesting.engine import BacktestConfig, bar_decisions, run_event_driven
from dsta.data.backtesting.vectorized import NotVectorisable, run_vectorised
from dsta.data.bars import Bars
from dsta.data.strategies.base import HOLD, BarContext, Decision, InvalidParameters, Strategy
from dsta.data.strategies.builtin import RsiReversion, SmaCross

DEMO = Path(__file__).resolve().parents[1] / "demo"


def demo_bars(symbol: str = "BTC") -> Bars:
    return Bars.from_csv(DEMO / f"{symbol}_USDT-1h.csv.gz", symbol=f"{symbol}/USDT", timeframe="1h")


def make_bars(rows: list[tuple[float, float, float, float]]) -> Bars:
    columns = np.array(rows, dtype=float).T
    count = len(rows)
    return Bars(
        "TEST/USDT",
        "1h",
        np.arange(count, dtype=np.int64) * 3_600_000,
        columns[0],
        columns[1],
        columns[2],
        columns[3],
        np.ones(count),
    )


class Script(Strategy):
    """Replays a fixed list of decisions, one per bar index."""

    name = "script"

    def __init__(self, decisions: dict[int, Decision]):
        super().__init__()
        self.decisions = decisions

    def indicators(self, bars):
        return {}

    def decide(self, context: BarContext) -> Decision:
        return self.decisions.get(context.index, HOLD)


FLAT_BARS = [(100.0, 101.0, 99.0, 100.0)] * 2


def test_market_order_fills_at_next_open_with_commission_and_slippage():
    bars = make_bars([(100, 101, 99, 100), (110, 112, 108, 111), (120, 121, 119, 120), (130, 131, 129, 130)])
    config = BacktestConfig(initial_cash=1_000, commission=0.01, slippage=0.02)
    result = run_event_driven(Script({0: Decision(target=1.0), 2: Decision(target=0.0)}), bars, config)
    (trade,) = result.trades
    buy_price = 110 * 1.02
    qty = 1_000 / (buy_price * 1.01)
    sell_price = 130 * 0.98
    proceeds = qty * sell_price * (1 - 0.01)
    assert (trade.entry_index, trade.exit_index) == (1, 3)
    assert trade.entry_price == pytest.approx(buy_price) and trade.exit_price == pytest.approx(sell_price)
    assert trade.qty == pytest.approx(qty)
    assert trade.pnl == pytest.approx(proceeds - 1_000)
    assert trade.fees == pytest.approx(qty * buy_price * 0.01 + qty * sell_price * 0.01)
    assert result.equity[0] == 1_000
    assert result.equity[1] == pytest.approx(qty * 111)
    assert result.equity[-1] == pytest.approx(proceeds)


def test_fill_at_close_trades_on_the_deciding_bar():
    bars = make_bars([(100, 101, 99, 100), (110, 112, 108, 111), (120, 121, 119, 120)])
    config = BacktestConfig(initial_cash=1_000, commission=0.0, fill_at="close")
    result = run_event_driven(Script({0: Decision(target=1.0), 1: Decision(target=0.0)}), bars, config)
    (trade,) = result.trades
    assert (trade.entry_index, trade.entry_price, trade.exit_index, trade.exit_price) == (0, 100, 1, 111)
    assert result.equity[-1] == pytest.approx(1_110)


def test_fractional_quantity_and_partial_exposure():
    bars = make_bars([(100, 100, 100, 100), (100, 100, 100, 100), (100, 100, 100, 100)])
    config = BacktestConfig(initial_cash=1_000, commission=0.0)
    result = run_event_driven(Script({0: Decision(target=0.333)}), bars, config)
    (trade,) = result.trades
    assert trade.qty == pytest.approx(3.33) and trade.exit_reason == "end_of_data"


def test_stop_loss_wins_when_stop_and_target_lie_in_the_same_bar():
    bars = make_bars([(100, 100, 100, 100), (100, 101, 99, 100), (100, 120, 80, 100)])
    decision = Decision(target=1.0, stop_loss=90.0, take_profit=110.0)
    result = run_event_driven(Script({0: decision}), bars, BacktestConfig(commission=0.0))
    (trade,) = result.trades
    assert (trade.exit_index, trade.exit_reason, trade.exit_price) == (2, "stop_loss", 90.0)


def test_a_gap_through_the_stop_fills_at_the_open_and_take_profit_fills_at_its_price():
    gap = make_bars([(100, 100, 100, 100), (100, 101, 99, 100), (85, 86, 80, 84)])
    result = run_event_driven(Script({0: Decision(target=1.0, stop_loss=90.0)}), gap, BacktestConfig(commission=0))
    assert (result.trades[0].exit_price, result.trades[0].exit_reason) == (85.0, "stop_loss")
    rally = make_bars([(100, 100, 100, 100), (100, 101, 99, 100), (104, 112, 103, 111)])
    config = BacktestConfig(commission=0.0, slippage=0.01)
    result = run_event_driven(Script({0: Decision(target=1.0, take_profit=110.0)}), rally, config)
    assert (result.trades[0].exit_price, result.trades[0].exit_reason) == (110.0, "take_profit")


def test_limit_order_rests_until_the_price_is_reached_and_fills_without_slippage():
    bars = make_bars([(100, 100, 100, 100), (100, 101, 98, 99), (99, 99, 96, 97), (97, 98, 97, 98)])
    limit = Decision(target=1.0, order_type="limit", price=96.5)
    result = run_event_driven(Script({0: limit}), bars, BacktestConfig(commission=0.0, slippage=0.05))
    (trade,) = result.trades
    assert (trade.entry_index, trade.entry_price) == (2, 96.5)


def test_stop_entry_fills_when_the_high_reaches_it():
    bars = make_bars([(100, 100, 100, 100), (100, 101, 99, 100), (100, 106, 99, 105)])
    stop = Decision(target=1.0, order_type="stop", price=105.0)
    result = run_event_driven(Script({0: stop}), bars, BacktestConfig(commission=0.0))
    assert (result.trades[0].entry_index, result.trades[0].entry_price) == (2, 105.0)


def test_short_positions_profit_when_price_falls():
    bars = make_bars([(100, 100, 100, 100), (100, 100, 100, 100), (80, 80, 80, 80)])
    result = run_event_driven(
        Script({0: Decision(target=-1.0), 1: Decision(target=0.0)}),
        bars,
        BacktestConfig(initial_cash=1_000, commission=0.0),
    )
    (trade,) = result.trades
    assert trade.side == "short" and trade.pnl == pytest.approx(200.0)


@pytest.mark.parametrize("symbol", ["BTC", "ETH", "SOL"])
@pytest.mark.parametrize(("fast", "slow"), [(10, 20), (5, 50), (24, 168)])
@pytest.mark.parametrize("fill_at", ["next_open", "close"])
def test_fast_path_gives_exactly_the_event_driven_trades_on_real_data(symbol, fast, slow, fill_at):
    bars = demo_bars(symbol)
    config = BacktestConfig(commission=0.001, slippage=0.0002, fill_at=fill_at)
    strategy = SmaCross(fast=fast, slow=slow)
    event, fast_path = run_event_driven(strategy, bars, config), run_vectorised(strategy, bars, config)
    per_bar = run_event_driven(strategy, bars, config, lookup=False)  # decide() called at every bar
    assert len(event.trades) > 10
    assert fast_path.trades == event.trades == per_bar.trades
    assert np.array_equal(fast_path.equity, event.equity)
    assert np.array_equal(per_bar.equity, event.equity)


class CountingSma(SmaCross):
    """SmaCross as a user would subclass it, without declaring itself bar-local: decide() must run per bar."""

    name = "counting_sma"
    bar_local = False

    def __init__(self, **params):
        super().__init__(**params)
        self.calls = 0

    def decide(self, context: BarContext) -> Decision:
        self.calls += 1
        return super().decide(context)


@pytest.mark.parametrize("fill_at", ["next_open", "close"])
def test_a_bar_local_strategy_is_read_from_its_targets_with_the_per_bar_decide_trades(fill_at):
    bars = demo_bars("ETH")
    config = BacktestConfig(commission=0.001, slippage=0.0002, fill_at=fill_at, trade_from=500, close_at_end=True)
    looked_up = run_event_driven(SmaCross(fast=7, slow=30, exposure=0.6), bars, config)
    counting = CountingSma(fast=7, slow=30, exposure=0.6)
    called = run_event_driven(counting, bars, config)
    assert counting.calls == len(bars) - 500
    assert len(called.trades) > 10 and looked_up.trades == called.trades
    assert np.array_equal(looked_up.equity, called.equity)


def test_bar_decisions_are_hold_for_nan_and_one_object_per_target():
    strategy = SmaCross(fast=5, slow=12, exposure=0.5)
    bars = demo_bars()
    decisions = bar_decisions(strategy, bars, strategy.indicators(bars))
    assert decisions is not None and len(decisions) == len(bars)
    assert all(decision is HOLD for decision in decisions[:11])
    assert {id(decision) for decision in decisions[11:]} == {
        id(next(d for d in decisions if d.target == 0.5)),
        id(next(d for d in decisions if d.target == 0.0)),
    }
    assert bar_decisions(CountingSma(), bars, strategy.indicators(bars)) is None
    assert bar_decisions(RsiReversion(), bars, {}) is None


def test_strategies_without_a_vectorised_form_are_refused_by_the_fast_path():
    with pytest.raises(NotVectorisable):
        run_vectorised(RsiReversion(), demo_bars(), BacktestConfig())


def test_rsi_reversion_uses_its_stops_on_real_data():
    result = run_event_driven(RsiReversion(), demo_bars(), BacktestConfig())
    reasons = {trade.exit_reason for trade in result.trades}
    assert {"stop_loss", "take_profit", "signal"} <= reasons


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"fast": 30, "slow": 20}, "fast", "smaller than slow"),
        ({"fast": "ten"}, "fast", "integer"),
        ({"fast": 1}, "fast", "between"),
        ({"exposure": 2}, "exposure", "between"),
        ({"speed": 3}, "speed", "unknown"),
    ],
)
def test_invalid_parameters_name_the_field(params, field, message):
    with pytest.raises(InvalidParameters) as error:
        SmaCross(**params)
    assert message in error.value.errors[field]


def test_config_rejects_nonsense():
    with pytest.raises(ValueError):
        BacktestConfig(fill_at="tomorrow")
    with pytest.raises(ValueError):
        BacktestConfig(commission=-0.1)
