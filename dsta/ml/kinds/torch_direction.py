"""Next bar up or down with a torch MLP over a window of feature rows (`deep.fit_torch_direction`)."""

from __future__ import annotations

from typing import Any

import numpy.typing as npt

from dsta.ml import deep, training
from dsta.ml.kinds import ModelKind, Output, Rows
from dsta.ml.kinds._params import Bounds, bounded_errors, fold_errors, latest_bars, typed_options

BOUNDS: Bounds = {
    "window": (int, 1, 64),
    "hidden": (int, 4, 512),
    "epochs": (int, 1, 500),
    "seed": (int, 0, 2**31 - 1),
    "bars": (int, 200, 10_000_000),
}


def param_errors(params: dict[str, Any]) -> list[str]:
    return fold_errors(params) + bounded_errors("torch_direction", params, BOUNDS, also_allowed=frozenset({"folds"}))


def fit(params: dict[str, Any], frame: Any, columns: list[str], values: npt.NDArray[Any]) -> training.Fitted:
    last = latest_bars(params)
    fitted: training.Fitted = deep.fit_torch_direction(
        columns, values[last], frame.close[last], folds=params.get("folds", 5), **typed_options(params, BOUNDS)
    )
    return fitted


def history_needed(artefact: dict[str, Any]) -> int:
    return int(artefact["window"])


def apply(artefact: dict[str, Any], rows: Rows) -> Output:
    return deep.apply(artefact, rows)


KIND = ModelKind(
    name="torch_direction",
    param_errors=param_errors,
    fit=fit,
    apply=apply,
    history_needed=history_needed,
    needs_torch=True,
    artefact_suffix="pt",
    save=deep.artefact_save,
    load=deep.artefact_load,
)
