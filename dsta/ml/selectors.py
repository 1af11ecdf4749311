"""Reads of the ml domain."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from dsta.data import api as data_api
from dsta.ml import artefacts
from dsta.ml.contracts import FeatureMatrixInfo, FeatureTable, ModelInfo, PredictionResult, TrainingJobInfo
from dsta.ml.models import FeatureMatrix, MLModel, Prediction, TrainingJob

ALIAS = "ml"


def _utc(times: np.ndarray, index: int) -> datetime:
    moment: datetime = times[index].astype("datetime64[us]").item()
    return moment.replace(tzinfo=UTC)


def _times(row: FeatureMatrix) -> np.ndarray:
    return np.frombuffer(bytes(row.open_times), dtype="<i8").astype("datetime64[us]")


def feature_matrix_info(row: FeatureMatrix) -> FeatureMatrixInfo:
    times = _times(row)
    return FeatureMatrixInfo(
        exchange=row.exchange,
        symbol=row.symbol,
        timeframe=row.timeframe,
        feature_set=row.feature_set.name,
        feature_set_version=row.feature_set.version,
        columns=list(row.columns),
        rows=row.rows,
        first_time=_utc(times, 0) if len(times) else None,
        last_time=_utc(times, -1) if len(times) else None,
        computed_at=row.computed_at,
    )


def feature_table(
    *, exchange: str, symbol: str, timeframe: str, feature_set: str, version: int, limit: int | None = None
) -> FeatureTable | None:
    """The stored matrix, the last `limit` rows when given."""
    row = (
        FeatureMatrix.objects.using(ALIAS)
        .select_related("feature_set")
        .filter(
            exchange=exchange,
            symbol=symbol,
            timeframe=timeframe,
            feature_set__name=feature_set,
            feature_set__version=version,
        )
        .first()
    )
    if row is None:
        return None
    times = _times(row)
    values = np.frombuffer(bytes(row.values), dtype="<f4").reshape(len(times), len(row.columns))
    if limit is not None:
        times, values = times[-limit:], values[-limit:]
    return FeatureTable(info=feature_matrix_info(row), open_time=times, values=values)


def training_job_info(job: TrainingJob) -> TrainingJobInfo:
    return TrainingJobInfo(
        job_id=str(job.pk),
        kind=job.kind,
        model_name=job.model_name,
        exchange=job.exchange,
        symbol=job.symbol,
        timeframe=job.timeframe,
        feature_set=job.feature_set,
        feature_set_version=job.feature_set_version,
        params=dict(job.params),
        status=job.status,
        metrics=dict(job.metrics),
        error=job.error,
        model_id=job.model_id,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def training_job_get(*, job_id: str) -> TrainingJobInfo | None:
    job = TrainingJob.objects.using(ALIAS).filter(pk=job_id).first()
    return training_job_info(job) if job is not None else None


def model_info(model: MLModel) -> ModelInfo:
    return ModelInfo(
        model_id=model.pk,
        name=model.name,
        version=model.version,
        kind=model.kind,
        exchange=model.exchange,
        symbol=model.symbol,
        timeframe=model.timeframe,
        feature_set=model.feature_set,
        feature_set_version=model.feature_set_version,
        feature_columns=list(model.feature_columns),
        metrics=dict(model.metrics),
        artefact=artefacts.public_name(model.artefact_path),
        status=model.status,
        training_job_id=str(model.training_job_id) if model.training_job_id else None,
        created_at=model.created_at,
        promoted_at=model.promoted_at,
    )


def models_list(*, name: str | None = None) -> list[ModelInfo]:
    models = MLModel.objects.using(ALIAS).order_by("name", "-version")
    if name:
        models = models.filter(name=name)
    return [model_info(model) for model in models]


def model_get(*, model_id: int) -> ModelInfo | None:
    model = MLModel.objects.using(ALIAS).filter(pk=model_id).first()
    return model_info(model) if model is not None else None


def prediction_result(prediction: Prediction, model: MLModel) -> PredictionResult:
    return PredictionResult(
        prediction_id=str(prediction.pk),
        model_id=model.pk,
        model_name=model.name,
        model_version=model.version,
        exchange=prediction.exchange,
        symbol=prediction.symbol,
        timeframe=prediction.timeframe,
        bar_time=prediction.bar_time,
        label=prediction.label,
        probability=prediction.probability,
        output=dict(prediction.output),
        source=prediction.source,
        arm=prediction.arm,
        created_at=prediction.created_at,
    )


def prediction_get(*, prediction_id: str) -> PredictionResult | None:
    prediction = Prediction.objects.using(ALIAS).select_related("model").filter(pk=prediction_id).first()
    return prediction_result(prediction, prediction.model) if prediction is not None else None


def last_bar_time(*, exchange: str, symbol: str, timeframe: str) -> datetime | None:
    for series in data_api.series_list():
        if (series.exchange, series.symbol, series.timeframe) == (exchange, symbol, timeframe):
            return series.last_open_time
    return None
