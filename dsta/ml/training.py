"""Model fitting: regime detection (Gaussian mixture) and a direction classifier, both scored with
time-series cross-validation (each fold trains on the past and tests on the bars after it, never shuffled)
against a naive baseline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

# scikit-learn is imported inside the fitting functions: every worker process imports this domain's actors,
# and only a training job needs the library (it would add seconds to each worker's start).

CLASSIFIERS = ("logistic", "gradient_boosting")
REGIME_COLUMNS = ("ret_1", "vol_24")


@dataclass
class Fitted:
    """What the registry stores as the artefact, and the metrics reported for it."""

    artefact: dict[str, Any]
    metrics: dict[str, Any]


def _complete_rows(values: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    complete: npt.NDArray[np.bool_] = np.isfinite(values).all(axis=1)  # type: ignore[assignment]
    return complete


def fit_regime(
    columns: list[str], values: npt.NDArray[np.float64], *, regimes: int = 3, folds: int = 5, seed: int = 0
) -> Fitted:
    """Gaussian mixture over (return, volatility); the baseline is one Gaussian (a market with no regimes).
    Scored by the held-out mean log-likelihood per bar."""
    from sklearn.mixture import GaussianMixture
    from sklearn.model_selection import TimeSeriesSplit
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = values[:, [columns.index(name) for name in REGIME_COLUMNS]]
    x = x[_complete_rows(x)]
    if len(x) < folds * 20:
        raise ValueError(f"{len(x)} complete rows are too few for {folds} folds")

    def mixture(components: int) -> Pipeline:
        return make_pipeline(
            StandardScaler(), GaussianMixture(n_components=components, covariance_type="full", random_state=seed)
        )

    model_scores, baseline_scores = [], []
    for train, test in TimeSeriesSplit(n_splits=folds).split(x):
        model_scores.append(float(mixture(regimes).fit(x[train]).score(x[test])))
        baseline_scores.append(float(mixture(1).fit(x[train]).score(x[test])))
    final = mixture(regimes).fit(x)
    raw_labels = final.predict(x)
    # Regime 0 is the calmest: components ordered by their mean volatility, so labels mean the same across versions.
    mean_vol = [float(x[raw_labels == k, 1].mean()) if (raw_labels == k).any() else np.inf for k in range(regimes)]
    order = np.argsort(mean_vol)
    rank_of = np.empty(regimes, dtype=int)
    rank_of[order] = np.arange(regimes)
    labels = rank_of[raw_labels]
    summary = [
        {
            "regime": int(rank),
            "share": float((labels == rank).mean()),
            "mean_return": float(x[labels == rank, 0].mean()) if (labels == rank).any() else None,
            "mean_volatility": float(x[labels == rank, 1].mean()) if (labels == rank).any() else None,
        }
        for rank in range(regimes)
    ]
    cv_score = float(np.mean(model_scores))
    baseline = float(np.mean(baseline_scores))
    metrics = {
        "rows": int(len(x)),
        "folds": folds,
        "cv_log_likelihood": cv_score,
        "cv_log_likelihood_per_fold": model_scores,
        "baseline": "single_gaussian",
        "baseline_log_likelihood": baseline,
        "improvement_over_baseline": cv_score - baseline,
        "bic": float(final[-1].bic(final[0].transform(x))),
        "regimes": summary,
    }
    artefact = {"kind": "regime", "estimator": final, "columns": list(REGIME_COLUMNS), "rank_of": rank_of.tolist()}
    return Fitted(artefact=artefact, metrics=metrics)


def direction_estimator(classifier: str, *, seed: int = 0) -> Any:
    """An unfitted direction classifier of the given kind (the training job's, and each walk-forward refit's)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if classifier == "gradient_boosting":
        return HistGradientBoostingClassifier(max_iter=100, learning_rate=0.05, random_state=seed)
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def direction_target(close: npt.NDArray[np.float64]) -> npt.NDArray[np.int_]:
    """1 where the next bar closes higher than this one (the last bar's is unknown: 0, never trained on)."""
    target = np.zeros(len(close), dtype=int)
    target[:-1] = (close[1:] > close[:-1]).astype(int)
    return target


def fit_direction(
    columns: list[str],
    values: npt.NDArray[np.float64],
    close: npt.NDArray[np.float64],
    *,
    classifier: str = "logistic",
    folds: int = 5,
    seed: int = 0,
) -> Fitted:
    """Will the next bar close higher than this one? Features at bar t, target from close[t+1] vs close[t].
    Baselines: the training fold's majority class, and persistence (the next move repeats the last one)."""
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import TimeSeriesSplit

    target = direction_target(close)
    usable = _complete_rows(values)
    usable[-1] = False  # the last bar's next move is unknown
    x, y = values[usable], target[usable]
    if len(x) < folds * 20:
        raise ValueError(f"{len(x)} complete rows are too few for {folds} folds")
    last_return = x[:, columns.index("ret_1")]

    def estimator() -> Any:
        return direction_estimator(classifier, seed=seed)

    accuracy, majority, persistence = [], [], []
    splits = list(TimeSeriesSplit(n_splits=folds).split(x))
    fitted = None
    for train, test in splits:
        fitted = estimator().fit(x[train], y[train])
        accuracy.append(float((fitted.predict(x[test]) == y[test]).mean()))
        majority_class = int(np.bincount(y[train], minlength=2).argmax())
        majority.append(float((y[test] == majority_class).mean()))
        persistence.append(float(((last_return[test] > 0).astype(int) == y[test]).mean()))
    assert fitted is not None
    last_test = splits[-1][1]
    importance = permutation_importance(
        fitted, x[last_test], y[last_test], scoring="accuracy", n_repeats=5, random_state=seed
    )
    scored = zip(columns, importance.importances_mean, importance.importances_std, strict=True)
    ranked = [
        {"feature": name, "importance": float(mean), "std": float(std)}
        for name, mean, std in sorted(scored, key=lambda item: float(item[1]), reverse=True)
    ]
    best_baseline = max(float(np.mean(majority)), float(np.mean(persistence)))
    metrics = {
        "rows": int(len(x)),
        "folds": folds,
        "classifier": classifier,
        "accuracy": float(np.mean(accuracy)),
        "accuracy_per_fold": accuracy,
        "baseline_majority_accuracy": float(np.mean(majority)),
        "baseline_persistence_accuracy": float(np.mean(persistence)),
        "edge_over_best_baseline": float(np.mean(accuracy)) - best_baseline,
        "permutation_importance": ranked,
    }
    final = estimator().fit(x, y)
    return Fitted(artefact={"kind": "direction", "estimator": final, "columns": list(columns)}, metrics=metrics)
