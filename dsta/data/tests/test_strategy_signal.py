"""Live decisions come from the same strategy code as backtests, on the same stored bars."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from dsta.data import api as data
from dsta.data.bars import load_bars
from dsta.data.management.commands.load_demo_data import DEMO_DIR
from dsta.data.services import candles_import_file
from dsta.data.strategies.builtin import SmaCross

pytestmark = pytest.mark.django_db(databases=["data"])


@pytest.fixture
def btc():
    candles_import_file(path=DEMO_DIR / "BTC_USDT-1h.csv.gz", exchange="binance", symbol="BTC/USDT", timeframe="1h")
    return load_bars(exchange="binance", symbol="BTC/USDT", timeframe="1h")


def test_signal_at_each_bar_equals_the_backtest_decision(btc):
    strategy = SmaCross(fast=10, slow=30)
    targets = strategy.target_exposures(btc, strategy.indicators(btc))
    for index in np.random.default_rng(11).choice(np.arange(100, len(btc)), size=25, replace=False):
        as_of = datetime.fromtimestamp(int(btc.time_ms[index]) / 1000, tz=UTC)
        signal = data.strategy_signal(
            strategy="sma_cross",
            params={"fast": 10, "slow": 30},
            exchange="binance",
            symbol="BTC/USDT",
            timeframe="1h",
            as_of=as_of,
        )
        assert signal.bar_time == as_of
        assert signal.close == Decimal(repr(float(btc.close[index])))
        assert signal.target == Decimal(repr(float(targets[index])))


def test_strategies_are_listed_with_their_parameters():
    specs = {spec.name: spec for spec in data.strategies_list()}
    assert specs["sma_cross"].vectorised and not specs["rsi_reversion"].vectorised
    assert [p.name for p in specs["sma_cross"].parameters] == ["fast", "slow", "exposure"]


def test_signal_without_enough_history_is_refused(btc):
    with pytest.raises(ValueError, match="needs more than"):
        data.strategy_signal(
            strategy="sma_cross",
            params={},
            exchange="binance",
            symbol="BTC/USDT",
            timeframe="1h",
            as_of=datetime(2024, 9, 14, 5, tzinfo=UTC),
        )
