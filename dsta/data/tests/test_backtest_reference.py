"""Correctness reference: SMA crossover 10/20 on the shipped BTC/USDT 1h data, long or flat, 0.1% commission,
next-open fills, matches backtesting.py (an independent implementation) trade for trade."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest
import talib

from dsta.data.backtesting.engine import BacktestConfig, run_event_driven
from dsta.data.backtesting.vectorized import run_vectorised
from dsta.data.bars import Bars
from dsta.data.strategies.builtin import SmaCross

backtesting = pytest.importorskip("backtesting")
from backtesting.lib import FractionalBacktest  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "demo"


class ReferenceSmaCross(backtesting.Strategy):
    fast = 10
    slow = 20

    def init(self):
        self.sma_fast = self.I(talib.SMA, self.data.Close, self.fast)
        self.sma_slow = self.I(talib.SMA, self.data.Close, self.slow)

    def next(self):
        if self.sma_fast[-1] > self.sma_slow[-1]:
            if not self.position:
                self.buy()
        elif self.position:
            self.position.close()


def reference_trades(bars: Bars) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"Open": bars.open, "High": bars.high, "Low": bars.low, "Close": bars.close, "Volume": bars.volume},
        index=pd.to_datetime(bars.time_ms, unit="ms"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = FractionalBacktest(frame, ReferenceSmaCross, cash=10_000, commission=0.001).run()
    return stats._trades


@pytest.mark.parametrize("path", [run_event_driven, run_vectorised], ids=["event", "fast"])
def test_sma_cross_matches_backtesting_py_trade_for_trade(path):
    bars = Bars.from_csv(DEMO / "BTC_USDT-1h.csv.gz", symbol="BTC/USDT", timeframe="1h")
    reference = reference_trades(bars)
    ours = path(
        SmaCross(fast=10, slow=20), bars, BacktestConfig(initial_cash=10_000, commission=0.001, close_at_end=False)
    ).trades
    assert len(ours) == len(reference) > 300
    assert [trade.entry_index for trade in ours] == reference["EntryBar"].tolist()
    assert [trade.exit_index for trade in ours] == reference["ExitBar"].tolist()
    assert [trade.entry_price for trade in ours] == pytest.approx(reference["EntryPrice"].tolist(), rel=1e-12)
    assert [trade.exit_price for trade in ours] == pytest.approx(reference["ExitPrice"].tolist(), rel=1e-12)
    # backtesting.py trades whole satoshis; sizes agree to that rounding.
    assert [trade.qty for trade in ours] == pytest.approx(reference["Size"].tolist(), rel=1e-6)
    assert [trade.pnl for trade in ours] == pytest.approx(reference["PnL"].tolist(), rel=1e-4, abs=1e-3)
