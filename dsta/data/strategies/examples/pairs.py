"""Two-symbol ratio (pairs) trading: with the z-score of log(own / peer) over a lookback, short the
expensive leg and buy the cheap one when the spread is stretched; close both when it has come back.

Teaches: an input series (`inputs = ("peer_close",)`): in a two-symbol portfolio backtest
(`--symbol A --symbol B`, one shared cash account) each leg runs its own instance and is given the other
symbol's close by bar time. The legs' z-scores are exact mirrors, so one leg goes long exactly when the
other goes short. Event path only (it needs the portfolio engine)."""

from __future__ import annotations

import numpy as np

from dsta.data.bars import Bars
from dsta.data.strategies.base import HOLD, BarContext, Decision, Parameter, Strategy
from dsta.data.strategies.indicators import sma


class PairsRatio(Strategy):
    """Mean reversion of the log price ratio of two symbols, each leg a mirror of the other."""

    name = "pairs_ratio"
    description = (
        "Two symbols: short own / long peer when z(log ratio) > entry, the reverse below -entry, flat when |z| < exit."
    )
    inputs = ("peer_close",)
    parameters = (
        Parameter("lookback", int, 48, 5, 5_000, "bars for the ratio's mean and standard deviation"),
        Parameter("entry_z", float, 2.0, 0.1, 10.0, "enter when |z| is above this"),
        Parameter("exit_z", float, 0.5, 0.0, 10.0, "exit when |z| is below this"),
        Parameter("exposure", float, 0.5, 0.01, 1.0, "fraction of the account's equity per leg"),
    )

    @classmethod
    def check(cls, values: dict[str, int | float]) -> dict[str, str]:
        return {"exit_z": "must be smaller than entry_z"} if values["exit_z"] >= values["entry_z"] else {}

    def warmup(self) -> int:
        return int(self.params["lookback"])

    def indicators(self, bars: Bars) -> dict[str, np.ndarray]:
        spread = np.log(bars.close) - np.log(self.input_series("peer_close", bars))
        period = int(self.params["lookback"])
        mean = sma(spread, period)
        variance = sma(spread * spread, period) - mean * mean
        deviation = np.sqrt(np.maximum(variance, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(deviation > 0, (spread - mean) / deviation, np.nan)
        return {"spread": spread, "z": z}

    def decide(self, context: BarContext) -> Decision:
        z = context.series["z"][context.index]
        if z != z:
            return HOLD
        exposure = float(self.params["exposure"])
        if z > self.params["entry_z"]:
            return Decision(target=-exposure)  # own leg expensive: short it (the peer's instance buys)
        if z < -self.params["entry_z"]:
            return Decision(target=exposure)
        if abs(z) < self.params["exit_z"]:
            return Decision(target=0.0)
        return HOLD
