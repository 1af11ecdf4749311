"""MACD trend on fast bars with a slower trend filter (multi-timeframe): on 5m bars, long while the MACD
histogram is positive and the last closed 1h bar closed above its EMA; flat otherwise.

Teaches: `resample` (1h bars built from the strategy's own 5m bars, on the UTC clock grid) and `on_base`
(each 5m bar reads the 1h value of the last 1h bar already closed, never the one still forming: no
lookahead). Runs on any base timeframe up to the filter's; vectorised."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from dsta.data.bars import Bars
from dsta.data.strategies.base import HOLD, BarContext, Decision, Parameter, Strategy
from dsta.data.strategies.indicators import ema, macd, on_base, resample


class MacdTrend(Strategy):
    """Long when MACD histogram > 0 on the base bars and the higher-timeframe close is above its EMA."""

    name = "macd_trend"
    description = "5m MACD entries filtered by the 1h trend: long when histogram > 0 and 1h close > 1h EMA."
    trend_timeframe: ClassVar[str] = "1h"
    parameters = (
        Parameter("fast", int, 12, 2, 500, "MACD fast EMA (base bars)"),
        Parameter("slow", int, 26, 3, 1_000, "MACD slow EMA (base bars)"),
        Parameter("signal", int, 9, 2, 500, "MACD signal EMA (base bars)"),
        Parameter("trend_period", int, 50, 2, 1_000, "EMA period of the trend filter (higher-timeframe bars)"),
    )

    @classmethod
    def check(cls, values: dict[str, int | float]) -> dict[str, str]:
        return {"fast": "must be smaller than slow"} if values["fast"] >= values["slow"] else {}

    def warmup(self) -> int:
        # Enough base bars for the MACD and for `trend_period` closed bars of the filter on 5m bars.
        return max(int(self.params["slow"]) + int(self.params["signal"]), 12 * (int(self.params["trend_period"]) + 1))

    def indicators(self, bars: Bars) -> dict[str, np.ndarray]:
        _line, _signal, histogram = macd(
            bars.close, int(self.params["fast"]), int(self.params["slow"]), int(self.params["signal"])
        )
        hourly = resample(bars, self.trend_timeframe)
        trend_ema = ema(hourly.close, int(self.params["trend_period"]))
        return {
            "histogram": histogram,
            "trend_close": on_base(bars, hourly, hourly.close),
            "trend_ema": on_base(bars, hourly, trend_ema),
        }

    def decide(self, context: BarContext) -> Decision:
        i = context.index
        histogram, close, average = (context.series[name][i] for name in ("histogram", "trend_close", "trend_ema"))
        if histogram != histogram or average != average:  # NaN: not warmed up yet
            return HOLD
        return Decision(target=1.0 if histogram > 0 and close > average else 0.0)

    def target_exposures(self, bars: Bars, indicators: dict[str, np.ndarray]) -> np.ndarray:
        histogram, close, average = indicators["histogram"], indicators["trend_close"], indicators["trend_ema"]
        targets = np.where((histogram > 0) & (close > average), 1.0, 0.0)
        targets[np.isnan(histogram) | np.isnan(average)] = np.nan
        return targets
