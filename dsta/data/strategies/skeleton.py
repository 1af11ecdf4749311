"""The commented skeleton `manage.py strategy new NAME` writes (and `./dev up` puts in `strategies/`)."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATE = '''"""{name}: describe the rule in one sentence (the first line shows in `manage.py strategy list`).

This file is a strategy of your own. DSTA loads every *.py file in the directories of DSTA_STRATEGY_PATHS
(default: strategies/ in the working directory) in the web app, the workers, the scheduler and manage.py.
A file that fails to load is reported (file, line, reason) by `manage.py strategy list` and
GET /api/v1/backtest/strategies; the others load regardless.

Try it:   manage.py strategy check {name}
          manage.py backtest --strategy {name} --symbol BTC/USDT --timeframe 1h
"""

from __future__ import annotations

import numpy as np

# The stable import path: everything a strategy needs comes from dsta.sdk.
from dsta.sdk import HOLD, BarContext, Bars, Decision, Parameter, Strategy, sma


class {class_name}(Strategy):
    # The unique name you backtest and trade it by.
    name = "{name}"
    description = "Long while the close is above its SMA, flat otherwise."
    # Each parameter: name, int or float, default, minimum, maximum, help. Backtests, optimisation and
    # trading instances are checked against these ranges.
    parameters = (
        Parameter("period", int, 50, 2, 1_000, "SMA period (bars)"),
        Parameter("exposure", float, 1.0, 0.01, 1.0, "fraction of equity held when long"),
    )

    def warmup(self) -> int:
        # Bars before the first decision can mean anything (the engine does not call decide before).
        return int(self.params["period"]) - 1

    def indicators(self, bars: Bars) -> dict[str, np.ndarray]:
        # Computed once over all bars. Must be causal: the value at bar t may use bars 0..t only
        # (`strategy check` recomputes on cut-off history and fails the check otherwise).
        return {{"sma": sma(bars.close, int(self.params["period"]))}}

    def decide(self, context: BarContext) -> Decision:
        # Called at each bar's close, in backtests and live. context.index is the bar that just closed;
        # context.series[name][i] is an indicator's value; context.position the quantity held.
        i = context.index
        average = context.series["sma"][i]
        if average != average:  # NaN during warm-up
            return HOLD  # keep whatever is held
        # target: wanted exposure as a fraction of equity, in [-1, 1] (negative = short). A market order
        # fills at the next bar's open; Decision(order_type="limit", price=...) and stop_loss= /
        # take_profit= prices exist too.
        return Decision(target=float(self.params["exposure"]) if context.bars.close[i] > average else 0.0)

    # Optional fast path: the same decisions for every bar at once (NaN = hold). When present, backtests
    # use it and `strategy check` proves it gives the same trades as decide(). Delete it if you keep state.
    def target_exposures(self, bars: Bars, indicators: dict[str, np.ndarray]) -> np.ndarray:
        average = indicators["sma"]
        targets = np.where(bars.close > average, float(self.params["exposure"]), 0.0)
        targets[np.isnan(average)] = np.nan
        return targets
'''

NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def skeleton_source(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ValueError(f"{name!r}: use lower-case letters, digits and _ (starting with a letter)")
    class_name = "".join(part.capitalize() for part in name.split("_") if part) or "MyStrategy"
    return TEMPLATE.format(name=name, class_name=class_name)


def skeleton_write(directory: Path, name: str) -> Path:
    """Write `<directory>/<name>.py`; refuses to overwrite an existing file."""
    source = skeleton_source(name)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.py"
    if path.exists():
        raise FileExistsError(f"{path} exists; pick another name or edit it")
    path.write_text(source)
    return path
