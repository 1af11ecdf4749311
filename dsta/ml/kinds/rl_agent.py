"""A DQN trading agent trained on the backtest engine's fills and evaluated out of sample (`dsta.ml.rl`)."""

from __future__ import annotations

from typing import Any

import numpy.typing as npt

from dsta.ml import deep, training
from dsta.ml.kinds import ModelKind, Output, Rows
from dsta.ml.kinds._params import Bounds, bounded_errors, fold_errors, latest_bars, typed_options

BOUNDS: Bounds = {
    "window": (int, 1, 64),
    "hidden": (int, 4, 512),
    "episodes": (int, 1, 500),
    "seed": (int, 0, 2**31 - 1),
    "bars": (int, 300, 10_000_000),
    "train_fraction": (float, 0.5, 0.9),
    "commission": (float, 0.0, 0.01),
    "slippage": (float, 0.0, 0.01),
    "allow_short": (bool, 0, 1),
}


def param_errors(params: dict[str, Any]) -> list[str]:
    # The agent has no CV folds: `folds` is refused as unknown (after the range check every kind makes).
    return fold_errors(params) + bounded_errors("rl_agent", params, BOUNDS, also_allowed=frozenset())


def fit(params: dict[str, Any], frame: Any, columns: list[str], values: npt.NDArray[Any]) -> training.Fitted:
    from dsta.ml import rl

    last = latest_bars(params)
    fitted: training.Fitted = rl.fit_rl_agent(
        columns,
        values[last],
        open=frame.open[last],
        high=frame.high[last],
        low=frame.low[last],
        close=frame.close[last],
        open_time=frame.open_time[last],
        **typed_options(params, BOUNDS),
    )
    return fitted


def history_needed(artefact: dict[str, Any]) -> int:
    from dsta.ml import rl

    return int(artefact["window"]) + rl.ROLLOUT_BARS - 1  # the rollout finds the position the agent holds


def apply(artefact: dict[str, Any], rows: Rows) -> Output:
    from dsta.ml import rl

    return rl.apply(artefact, rows)


KIND = ModelKind(
    name="rl_agent",
    param_errors=param_errors,
    fit=fit,
    apply=apply,
    history_needed=history_needed,
    needs_torch=True,
    artefact_suffix="pt",
    save=deep.artefact_save,
    load=deep.artefact_load,
)
