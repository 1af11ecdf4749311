"""Next bar up or down with a scikit-learn classifier (`training.fit_direction`)."""

from __future__ import annotations

from typing import Any

import numpy.typing as npt

from dsta.ml import training
from dsta.ml.kinds import ModelKind, Output, Rows
from dsta.ml.kinds._params import fold_errors


def param_errors(params: dict[str, Any]) -> list[str]:
    errors = []
    if params.get("classifier", "logistic") not in training.CLASSIFIERS:
        errors.append(f"classifier must be one of {', '.join(training.CLASSIFIERS)}")
    return errors + fold_errors(params)


def fit(params: dict[str, Any], frame: Any, columns: list[str], values: npt.NDArray[Any]) -> training.Fitted:
    return training.fit_direction(
        columns, values, frame.close, classifier=params.get("classifier", "logistic"), folds=params.get("folds", 5)
    )


def apply(artefact: dict[str, Any], rows: Rows) -> Output:
    estimator = artefact["estimator"]
    probabilities = estimator.predict_proba(rows)[0]
    up = float(probabilities[list(estimator.classes_).index(1)])
    return ("up" if up >= 0.5 else "down"), max(up, 1 - up), {"p_up": up}


KIND = ModelKind(name="direction", param_errors=param_errors, fit=fit, apply=apply)
