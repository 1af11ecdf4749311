"""Market regimes: a Gaussian mixture over (return, volatility), regime 0 the calmest (`training.fit_regime`)."""

from __future__ import annotations

from typing import Any

import numpy.typing as npt

from dsta.ml import training
from dsta.ml.kinds import ModelKind, Output, Rows
from dsta.ml.kinds._params import fold_errors


def param_errors(params: dict[str, Any]) -> list[str]:
    regimes = params.get("regimes", 3)
    errors = [] if isinstance(regimes, int) and 2 <= regimes <= 8 else ["regimes must be an integer from 2 to 8"]
    return errors + fold_errors(params)


def fit(params: dict[str, Any], frame: Any, columns: list[str], values: npt.NDArray[Any]) -> training.Fitted:
    return training.fit_regime(columns, values, regimes=params.get("regimes", 3), folds=params.get("folds", 5))


def apply(artefact: dict[str, Any], rows: Rows) -> Output:
    probabilities = artefact["estimator"].predict_proba(rows)[0]
    rank_of = artefact["rank_of"]
    by_regime = {str(rank_of[component]): float(p) for component, p in enumerate(probabilities)}
    regime = max(by_regime, key=lambda key: by_regime[key])
    return f"regime_{regime}", by_regime[regime], {"regime": int(regime), "probabilities": by_regime}


KIND = ModelKind(name="regime", param_errors=param_errors, fit=fit, apply=apply)
