"""Bollinger mean reversion: buy a close below the lower band, sell once price is back at the middle.

Teaches: a stateful rule written twice that agree, `decide` (HOLD between the bands keeps whatever is held)
and `target_exposures` (NaN = hold, which the fast path forward-fills exactly like HOLD)."""

from __future__ import annotations

import numpy as np

from dsta.data.bars import Bars
from dsta.data.strategies.base import HOLD, BarContext, Decision, Parameter, Strategy
from dsta.data.strategies.indicators import bollinger


class BollingerReversion(Strategy):
    """Long below the lower Bollinger band, flat again above the middle band."""

    name = "bollinger_reversion"
    description = "Long when close < lower band (SMA - k sd), exit when close > the SMA."
    parameters = (
        Parameter("period", int, 20, 2, 1_000, "band SMA period (bars)"),
        Parameter("width", float, 2.0, 0.1, 10.0, "band half-width in standard deviations"),
        Parameter("exposure", float, 1.0, 0.01, 1.0, "fraction of equity held when long"),
    )

    def warmup(self) -> int:
        return int(self.params["period"]) - 1

    def indicators(self, bars: Bars) -> dict[str, np.ndarray]:
        upper, middle, lower = bollinger(bars.close, int(self.params["period"]), float(self.params["width"]))
        return {"upper": upper, "middle": middle, "lower": lower}

    def decide(self, context: BarContext) -> Decision:
        close = context.bars.close[context.index]
        lower, middle = context.series["lower"][context.index], context.series["middle"][context.index]
        if close < lower:
            return Decision(target=float(self.params["exposure"]))
        if close > middle:
            return Decision(target=0.0)
        return HOLD  # between the bands (or NaN during warm-up, where every comparison is False)

    def target_exposures(self, bars: Bars, indicators: dict[str, np.ndarray]) -> np.ndarray:
        targets = np.full(len(bars), np.nan)
        targets[bars.close > indicators["middle"]] = 0.0
        targets[bars.close < indicators["lower"]] = float(self.params["exposure"])
        return targets
