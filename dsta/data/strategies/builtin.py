"""Built-in strategies."""

from __future__ import annotations

import numpy as np

from dsta.data.bars import Bars
from dsta.data.strategies.base import HOLD, BarContext, Decision, Parameter, Strategy
from dsta.kernel.ta_lib import load_talib


class SmaCross(Strategy):
    """Long while the fast simple moving average is above the slow one, flat otherwise."""

    name = "sma_cross"
    version = "1"
    description = "Long when SMA(fast) > SMA(slow), else flat."
    bar_local = True  # decide() reads the two SMAs at the bar only: the event engine may use target_exposures
    parameters = (
        Parameter("fast", int, 10, 2, 1_000, "fast SMA period (bars)"),
        Parameter("slow", int, 20, 3, 5_000, "slow SMA period (bars)"),
        Parameter("exposure", float, 1.0, 0.01, 1.0, "fraction of equity held when long"),
    )

    @classmethod
    def check(cls, values: dict[str, int | float]) -> dict[str, str]:
        return {"fast": "must be smaller than slow"} if values["fast"] >= values["slow"] else {}

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self._long, self._flat = Decision(target=float(self.params["exposure"])), Decision(target=0.0)

    def warmup(self) -> int:
        return int(self.params["slow"]) - 1

    def indicators(self, bars: Bars) -> dict[str, np.ndarray]:
        talib = load_talib()

        return {
            "sma_fast": talib.SMA(bars.close, timeperiod=int(self.params["fast"])),
            "sma_slow": talib.SMA(bars.close, timeperiod=int(self.params["slow"])),
        }

    def decide(self, context: BarContext) -> Decision:
        fast = context.series["sma_fast"][context.index]
        slow = context.series["sma_slow"][context.index]
        if fast != fast or slow != slow:  # NaN during warm-up
            return HOLD
        return self._long if fast > slow else self._flat

    def target_exposures(self, bars: Bars, indicators: dict[str, np.ndarray]) -> np.ndarray:
        fast, slow = indicators["sma_fast"], indicators["sma_slow"]
        targets = np.where(fast > slow, float(self.params["exposure"]), 0.0)
        targets[np.isnan(fast) | np.isnan(slow)] = np.nan
        return targets


class RsiReversion(Strategy):
    """Buys oversold RSI with a stop-loss and take-profit; exits when RSI recovers. Event path only."""

    name = "rsi_reversion"
    version = "1"
    description = "Long when RSI < oversold, exit when RSI > exit level, stop-loss / take-profit on entry."
    parameters = (
        Parameter("period", int, 14, 2, 500, "RSI period"),
        Parameter("oversold", float, 30.0, 1.0, 50.0, "enter below this RSI"),
        Parameter("exit_level", float, 55.0, 10.0, 99.0, "exit above this RSI"),
        Parameter("stop_loss_pct", float, 3.0, 0.1, 50.0, "stop-loss below the close, in %"),
        Parameter("take_profit_pct", float, 6.0, 0.1, 200.0, "take-profit above the close, in %"),
    )

    def warmup(self) -> int:
        return int(self.params["period"])

    def indicators(self, bars: Bars) -> dict[str, np.ndarray]:
        talib = load_talib()

        return {"rsi": talib.RSI(bars.close, timeperiod=int(self.params["period"]))}

    def decide(self, context: BarContext) -> Decision:
        rsi = context.series["rsi"][context.index]
        close = float(context.bars.close[context.index])
        if context.position == 0 and rsi < self.params["oversold"]:
            return Decision(
                target=1.0,
                stop_loss=close * (1 - self.params["stop_loss_pct"] / 100),
                take_profit=close * (1 + self.params["take_profit_pct"] / 100),
            )
        if context.position > 0 and rsi > self.params["exit_level"]:
            return Decision(target=0.0)
        return HOLD


def _builtins() -> tuple[type[Strategy], ...]:
    from dsta.data.strategies.examples.bollinger import BollingerReversion
    from dsta.data.strategies.examples.donchian import DonchianBreakout
    from dsta.data.strategies.examples.long_short import EmaLongShort
    from dsta.data.strategies.examples.macd_trend import MacdTrend
    from dsta.data.strategies.examples.ml_signal import MlSignal
    from dsta.data.strategies.examples.pairs import PairsRatio

    return (SmaCross, RsiReversion, BollingerReversion, DonchianBreakout, MacdTrend, EmaLongShort, PairsRatio, MlSignal)


STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in _builtins()}
