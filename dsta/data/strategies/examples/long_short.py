"""EMA long/short: long while the fast EMA is above the slow one, short while it is below.

Teaches: negative targets (a short is a target below 0; -1 = short the whole equity) and a flip: going
from +x to -x closes the long and opens the short at the same fill. And a warm-up long enough for an EMA:
an EMA remembers all history, so the warm-up is 10 slow periods, after which where the history started no
longer shows in its value (live trading loads 3 warm-ups; `strategy check`'s recursive row proves it).
Vectorised."""

from __future__ import annotations

import numpy as np

from dsta.data.bars import Bars
from dsta.data.strategies.base import HOLD, BarContext, Decision, Parameter, Strategy
from dsta.data.strategies.indicators import ema


class EmaLongShort(Strategy):
    """Long exposure when EMA(fast) > EMA(slow), the same exposure short when below."""

    name = "ema_long_short"
    description = "Long when EMA(fast) > EMA(slow), short when below (always in the market after warm-up)."
    parameters = (
        Parameter("fast", int, 12, 2, 1_000, "fast EMA period"),
        Parameter("slow", int, 48, 3, 5_000, "slow EMA period"),
        Parameter("exposure", float, 0.5, 0.01, 1.0, "fraction of equity long or short"),
    )

    @classmethod
    def check(cls, values: dict[str, int | float]) -> dict[str, str]:
        return {"fast": "must be smaller than slow"} if values["fast"] >= values["slow"] else {}

    def warmup(self) -> int:
        return 10 * int(self.params["slow"])

    def indicators(self, bars: Bars) -> dict[str, np.ndarray]:
        return {"fast": ema(bars.close, int(self.params["fast"])), "slow": ema(bars.close, int(self.params["slow"]))}

    def decide(self, context: BarContext) -> Decision:
        fast, slow = context.series["fast"][context.index], context.series["slow"][context.index]
        if fast != fast or slow != slow or fast == slow:
            return HOLD
        exposure = float(self.params["exposure"])
        return Decision(target=exposure if fast > slow else -exposure)

    def target_exposures(self, bars: Bars, indicators: dict[str, np.ndarray]) -> np.ndarray:
        fast, slow = indicators["fast"], indicators["slow"]
        exposure = float(self.params["exposure"])
        targets = np.where(fast > slow, exposure, -exposure)
        targets[np.isnan(fast) | np.isnan(slow) | (fast == slow)] = np.nan
        return targets
