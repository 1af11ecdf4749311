"""Facade of the ml domain: features, training jobs, the model registry and predictions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from dsta.data.contracts import InputSeries
from dsta.ml import selectors, services
from dsta.ml.contracts import (
    ABSplitInfo,
    FeatureMatrixInfo,
    FeatureTable,
    MlSignalBacktest,
    ModelInfo,
    PredictionResult,
    TrainingJobInfo,
)

DEFAULT_FEATURE_SET = "core"
DEFAULT_FEATURE_SET_VERSION = 1


def features_extract(
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    feature_set: str = DEFAULT_FEATURE_SET,
    version: int = DEFAULT_FEATURE_SET_VERSION,
    start: datetime | None = None,
    end: datetime | None = None,
) -> FeatureMatrixInfo:
    """Compute and store a series' features under one feature-set version. Raises MLInputError."""
    return services.features_extract(
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        feature_set=feature_set,
        version=version,
        start=start,
        end=end,
    )


def features_get(
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    feature_set: str = DEFAULT_FEATURE_SET,
    version: int = DEFAULT_FEATURE_SET_VERSION,
    limit: int | None = None,
) -> FeatureTable | None:
    """Stored features (the last `limit` rows when given), or None when never extracted."""
    return selectors.feature_table(
        exchange=exchange, symbol=symbol, timeframe=timeframe, feature_set=feature_set, version=version, limit=limit
    )


def training_start(
    *,
    kind: str,
    model_name: str,
    exchange: str,
    symbol: str,
    timeframe: str,
    feature_set: str = DEFAULT_FEATURE_SET,
    feature_set_version: int = DEFAULT_FEATURE_SET_VERSION,
    params: dict[str, Any] | None = None,
    requested_by: int | None = None,
    wait: bool = False,
) -> TrainingJobInfo:
    """Queue a training job (or run it here with `wait`); its model registers as a new staging version."""
    from dsta.ml import actors

    info = actors.training_request(
        wait=wait,
        kind=kind,
        model_name=model_name,
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        feature_set=feature_set,
        feature_set_version=feature_set_version,
        params=params or {},
        requested_by=requested_by,
    )
    if wait:
        refreshed = selectors.training_job_get(job_id=info.job_id)
        assert refreshed is not None
        return refreshed
    return info


def training_job_get(*, job_id: str) -> TrainingJobInfo | None:
    return selectors.training_job_get(job_id=job_id)


def models_list(*, name: str | None = None) -> list[ModelInfo]:
    return selectors.models_list(name=name)


def model_get(*, model_id: int) -> ModelInfo | None:
    return selectors.model_get(model_id=model_id)


def model_promote(*, model_id: int) -> ModelInfo:
    return services.model_promote(model_id=model_id)


def model_rollback(*, name: str) -> ModelInfo:
    return services.model_rollback(name=name)


def model_delete(*, model_id: int) -> bool:
    return services.model_delete(model_id=model_id)


def predict(
    *,
    model_id: int | None = None,
    name: str | None = None,
    exchange: str | None = None,
    symbol: str | None = None,
    timeframe: str | None = None,
    at: datetime | None = None,
) -> PredictionResult:
    """A model's output at one closed bar (by id, or by name: its production version, else its latest).
    The series defaults to the model's own; `at` to the series' last stored bar. Raises MLInputError."""
    return services.predict(model_id=model_id, name=name, exchange=exchange, symbol=symbol, timeframe=timeframe, at=at)


def prediction_get(*, prediction_id: str) -> PredictionResult | None:
    return selectors.prediction_get(prediction_id=prediction_id)


def ab_split_set(*, name: str, model_a_id: int, model_b_id: int, share_b: float) -> ABSplitInfo:
    """Send a share of `name`'s predictions (by name, and live ones) to version B. Raises MLInputError."""
    split = services.ab_split_set(name=name, model_a_id=model_a_id, model_b_id=model_b_id, share_b=share_b)
    return ABSplitInfo(name=split.name, model_a_id=split.model_a_id, model_b_id=split.model_b_id, share_b=split.share_b)


def ab_split_clear(*, name: str) -> bool:
    return services.ab_split_clear(name=name)


def ml_signal_backtest(
    *,
    model_id: int | None = None,
    name: str | None = None,
    exchange: str | None = None,
    symbol: str | None = None,
    timeframe: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    params: dict[str, float] | None = None,
    retrain_every: int = 500,
    min_train: int = 1_000,
    initial_cash: Decimal = Decimal("10000"),
    commission: Decimal = Decimal("0.001"),
    slippage: Decimal = Decimal("0"),
    user_id: int | None = None,
) -> MlSignalBacktest:
    """Backtest data's `ml_signal` strategy (thresholds in `params`) on a direction model's causal predictions:
    walk-forward refits (each trained on earlier bars only) before the model was trained, the model itself
    after. Runs through data's backtest engine and stores the result there. Raises MLInputError and
    data's InvalidBacktestRequest."""
    from dsta.ml.signals import ml_signal_backtest as run

    return run(
        model_id=model_id,
        name=name,
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        start=start,
        end=end,
        params=params,
        retrain_every=retrain_every,
        min_train=min_train,
        initial_cash=initial_cash,
        commission=commission,
        slippage=slippage,
        user_id=user_id,
    )


def ml_signal_prediction(*, name: str, exchange: str, symbol: str, timeframe: str, bar_time: datetime) -> InputSeries:
    """The live input of `ml_signal` for one closed bar: the production model's p(up) at `bar_time` (the bar's
    open time), to pass as `inputs=(it,)` to `data.api.strategy_signal`. Raises MLInputError."""
    from dsta.ml.signals import live_prediction

    return live_prediction(name=name, exchange=exchange, symbol=symbol, timeframe=timeframe, bar_time=bar_time)
