"""Donchian breakout with ATR stops: buy a close above the highest high of the previous N bars, with a
stop-loss k ATRs below; exit on a close below the lowest low of the previous M bars (or at the stop).

Teaches: `previous` (compare with the channel of the bars *before* this one, or no close could ever
break out), a `stop_loss` price attached to the decision (the engine checks it inside each bar's range),
and `context.position` to act only when flat. The ATR here is a simple average of the true range, so it
depends on the last `atr_period` bars only and live trading (which loads a few warm-ups of history) sees
exactly the backtest's stop prices; Wilder's recursive ATR (`atr`) would differ slightly, as
`manage.py strategy check` shows. Event path only: stops need the bar-by-bar engine."""

from __future__ import annotations

import numpy as np

from dsta.data.bars import Bars
from dsta.data.strategies.base import HOLD, BarContext, Decision, Parameter, Strategy
from dsta.data.strategies.indicators import highest, lowest, previous, sma, true_range


class DonchianBreakout(Strategy):
    """Long on a breakout above the N-bar high, stop k x ATR below the entry close, exit below the M-bar low."""

    name = "donchian_breakout"
    description = (
        "Long when close > previous N-bar high; stop-loss at close - k*ATR; exit when close < previous M-bar low."
    )
    parameters = (
        Parameter("entry_period", int, 20, 2, 1_000, "breakout channel length (bars)"),
        Parameter("exit_period", int, 10, 2, 1_000, "exit channel length (bars)"),
        Parameter("atr_period", int, 14, 2, 500, "ATR period"),
        Parameter("atr_stop", float, 2.0, 0.1, 20.0, "stop-loss distance in ATRs"),
    )

    def warmup(self) -> int:
        return max(
            int(self.params["entry_period"]), int(self.params["exit_period"]), int(self.params["atr_period"]) + 1
        )

    def indicators(self, bars: Bars) -> dict[str, np.ndarray]:
        return {
            "channel_high": previous(highest(bars.high, int(self.params["entry_period"]))),
            "channel_low": previous(lowest(bars.low, int(self.params["exit_period"]))),
            "atr": sma(true_range(bars), int(self.params["atr_period"])),
        }

    def decide(self, context: BarContext) -> Decision:
        i = context.index
        close = context.bars.close[i]
        if context.position == 0:
            if close > context.series["channel_high"][i]:
                return Decision(target=1.0, stop_loss=float(close - self.params["atr_stop"] * context.series["atr"][i]))
            return HOLD
        if close < context.series["channel_low"][i]:
            return Decision(target=0.0)
        return HOLD
