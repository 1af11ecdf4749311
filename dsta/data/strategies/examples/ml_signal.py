"""Trades an ML model's prediction: long when the model's probability that the next bar closes higher is
high enough, flat when it drops, optionally short when it is low.

Teaches: `inputs = ("prediction",)`: a per-bar series the strategy reads but does not compute. The data
domain never imports ml; ml provides the series: for a backtest `ml.api.ml_signal_backtest` makes causal
walk-forward predictions (each bar predicted by a model trained only on earlier bars) and runs this class
through the backtest engine; live, an instance names its model (`model_name`), ml predicts each closed bar
with that model's production version and publishes `ml.prediction`, and the bot (which never imports ml)
passes that value to `data.api.strategy_signal(inputs=...)` (`ml.api.ml_signal_prediction` gives the same
value on request). One decision rule for both. Vectorised."""

from __future__ import annotations

import numpy as np

from dsta.data.bars import Bars
from dsta.data.strategies.base import HOLD, BarContext, Decision, Parameter, Strategy


class MlSignal(Strategy):
    """Long when p(up) >= long_above, flat when p(up) < flat_below, short when p(up) < short_below."""

    name = "ml_signal"
    description = (
        "The production model's p(next close higher): long >= long_above, flat < flat_below, short < short_below."
    )
    inputs = ("prediction",)
    parameters = (
        Parameter("long_above", float, 0.55, 0.0, 1.0, "go long when the prediction is at least this"),
        Parameter("flat_below", float, 0.5, 0.0, 1.0, "go flat when the prediction is below this"),
        Parameter("short_below", float, 0.0, 0.0, 1.0, "go short when below this (0: never short)"),
        Parameter("exposure", float, 1.0, 0.01, 1.0, "fraction of equity long (or short)"),
    )

    @classmethod
    def check(cls, values: dict[str, int | float]) -> dict[str, str]:
        if not values["short_below"] <= values["flat_below"] <= values["long_above"]:
            return {"flat_below": "needs short_below <= flat_below <= long_above"}
        return {}

    def indicators(self, bars: Bars) -> dict[str, np.ndarray]:
        return {"prediction": self.input_series("prediction", bars)}

    def decide(self, context: BarContext) -> Decision:
        p = context.series["prediction"][context.index]
        if p != p:  # no prediction for this bar
            return HOLD
        exposure = float(self.params["exposure"])
        if p >= self.params["long_above"]:
            return Decision(target=exposure)
        if p < self.params["short_below"]:
            return Decision(target=-exposure)
        if p < self.params["flat_below"]:
            return Decision(target=0.0)
        return HOLD

    def target_exposures(self, bars: Bars, indicators: dict[str, np.ndarray]) -> np.ndarray:
        p = indicators["prediction"]
        exposure = float(self.params["exposure"])
        targets = np.full(len(bars), np.nan)
        targets[p < self.params["flat_below"]] = 0.0
        targets[p < self.params["short_below"]] = -exposure
        targets[p >= self.params["long_above"]] = exposure
        return targets
