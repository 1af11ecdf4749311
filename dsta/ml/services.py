"""Writes of the ml domain: feature matrices, training jobs, the model registry and predictions."""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from django.db import IntegrityError, transaction
from django.db.models import Max, Q

from dsta.data import api as data_api
from dsta.data.contracts import TIMEFRAME_SECONDS, CandleFrame
from dsta.kernel.clock import utc_now
from dsta.kernel.outbox import publish
from dsta.ml import artefacts, features, kinds, selectors
from dsta.ml.contracts import (
    MODEL_NAME_PATTERN,
    FeatureMatrixInfo,
    MLInputError,
    ModelInfo,
    PredictionResult,
    TrainingJobInfo,
)
from dsta.ml.events import PredictionMade
from dsta.ml.models import ABSplit, FeatureMatrix, FeatureSet, LiveMarket, MLModel, Prediction, TrainingJob

ALIAS = "ml"


def _definition(name: str, version: int) -> features.FeatureSetDefinition:
    try:
        return features.definition_get(name, version)
    except KeyError as exc:
        raise MLInputError({"feature_set": [str(exc.args[0])]}) from None


def _feature_set_row(definition: features.FeatureSetDefinition) -> FeatureSet:
    row, _ = FeatureSet.objects.using(ALIAS).get_or_create(
        name=definition.name, version=definition.version, defaults={"indicators": definition.as_json()}
    )
    return row


def _frame(*, exchange: str, symbol: str, timeframe: str, start: datetime | None, end: datetime | None) -> CandleFrame:
    if timeframe not in TIMEFRAME_SECONDS:
        raise MLInputError({"timeframe": [f"unknown timeframe {timeframe!r}"]})
    frame = data_api.candles_frame(exchange=exchange, symbol=symbol, timeframe=timeframe, start=start, end=end)
    if len(frame) == 0:
        raise MLInputError({"symbol": [f"no {timeframe} candles stored for {exchange} {symbol}"]})
    return frame


def _compute(frame: CandleFrame, definition: features.FeatureSetDefinition) -> tuple[list[str], npt.NDArray[Any]]:
    return features.compute(
        definition, open=frame.open, high=frame.high, low=frame.low, close=frame.close, volume=frame.volume
    )


def features_extract(
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    feature_set: str,
    version: int,
    start: datetime | None = None,
    end: datetime | None = None,
) -> FeatureMatrixInfo:
    """Compute a series' features and store them (replacing the previous matrix of that feature-set version)."""
    definition = _definition(feature_set, version)
    frame = _frame(exchange=exchange, symbol=symbol, timeframe=timeframe, start=start, end=end)
    columns, values = _compute(frame, definition)
    with transaction.atomic(using=ALIAS):
        row, _ = FeatureMatrix.objects.using(ALIAS).update_or_create(
            exchange=exchange,
            symbol=symbol,
            timeframe=timeframe,
            feature_set=_feature_set_row(definition),
            defaults={
                "columns": columns,
                "open_times": frame.open_time.astype("datetime64[us]").astype("<i8").tobytes(),
                "values": np.ascontiguousarray(values, dtype="<f4").tobytes(),
                "rows": len(frame),
                "computed_at": utc_now(),
            },
        )
    return selectors.feature_matrix_info(row)


# Training jobs -------------------------------------------------------------------------------------------------


def training_job_create(
    *,
    kind: str,
    model_name: str,
    exchange: str,
    symbol: str,
    timeframe: str,
    feature_set: str,
    feature_set_version: int,
    params: dict[str, Any],
    requested_by: int | None,
) -> TrainingJobInfo:
    errors: dict[str, list[str]] = {}
    if not re.fullmatch(MODEL_NAME_PATTERN, model_name):
        errors["model_name"] = ["letters, digits, _ . - only (at most 100), starting with a letter or digit"]
    model_kind = kinds.get(kind)
    if model_kind is None:
        errors["kind"] = [f"one of {', '.join(kinds.names())}"]
    if timeframe not in TIMEFRAME_SECONDS:
        errors["timeframe"] = [f"unknown timeframe {timeframe!r}"]
    if (feature_set, feature_set_version) not in features.FEATURE_SETS:
        errors["feature_set"] = [f"unknown feature set {feature_set} v{feature_set_version}"]
    if model_kind is not None:
        if param_errors := model_kind.param_errors(params):
            errors["params"] = param_errors
        if reason := model_kind.unavailable():
            errors["kind"] = [reason]
    if errors:
        raise MLInputError(errors)
    job = TrainingJob.objects.using(ALIAS).create(
        kind=kind,
        model_name=model_name,
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        feature_set=feature_set,
        feature_set_version=feature_set_version,
        params=params,
        requested_by=requested_by,
    )
    return selectors.training_job_info(job)


def _kind(name: str, *, refused: type[Exception] = MLInputError) -> kinds.ModelKind:
    """The kind of a stored job or model, usable on this machine (else `refused` is raised)."""
    model_kind = kinds.get(name)
    reason = f"unknown model kind {name!r}" if model_kind is None else model_kind.unavailable()
    if reason is not None:
        raise MLInputError({"model": [reason]}) if refused is MLInputError else refused(reason)
    assert model_kind is not None
    return model_kind


def training_job_run(*, job_id: str) -> None:
    """Fit the job's model and register it as a new staging version; a failure is recorded on the job."""
    updated = (
        TrainingJob.objects.using(ALIAS)
        .filter(pk=job_id, status__in=[TrainingJob.Status.PENDING, TrainingJob.Status.FAILED])
        .update(status=TrainingJob.Status.RUNNING, started_at=utc_now(), error="")
    )
    if not updated:
        return  # already running elsewhere or finished: a redelivered message has nothing to do
    job = TrainingJob.objects.using(ALIAS).get(pk=job_id)
    try:
        definition = _definition(job.feature_set, job.feature_set_version)
        frame = _frame(exchange=job.exchange, symbol=job.symbol, timeframe=job.timeframe, start=None, end=None)
        columns, values = _compute(frame, definition)
        fitted = _kind(job.kind, refused=RuntimeError).fit(job.params, frame, columns, values)
        model = model_register(job=job, artefact=fitted.artefact, metrics=fitted.metrics)
    except Exception as exc:  # noqa: BLE001  (any failure ends the job as failed, with the reason kept)
        TrainingJob.objects.using(ALIAS).filter(pk=job_id).update(
            status=TrainingJob.Status.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=utc_now()
        )
        return
    TrainingJob.objects.using(ALIAS).filter(pk=job_id).update(
        status=TrainingJob.Status.SUCCEEDED, metrics=fitted.metrics, model_id=model.model_id, finished_at=utc_now()
    )


# Registry ------------------------------------------------------------------------------------------------------


def model_register(*, job: TrainingJob, artefact: dict[str, Any], metrics: dict[str, Any]) -> ModelInfo:
    """A new version of `job.model_name`, status staging; the artefact is written before the row commits."""
    for _attempt in range(5):
        latest = MLModel.objects.using(ALIAS).filter(name=job.model_name).aggregate(v=Max("version"))["v"] or 0
        version = latest + 1
        model_kind = _kind(job.kind)
        path = artefacts.artefact_path(
            model_name=job.model_name, version=version, job_id=job.pk, suffix=model_kind.artefact_suffix
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        model_kind.save(artefact, path)
        try:
            with transaction.atomic(using=ALIAS):
                model = MLModel.objects.using(ALIAS).create(
                    name=job.model_name,
                    version=version,
                    kind=job.kind,
                    exchange=job.exchange,
                    symbol=job.symbol,
                    timeframe=job.timeframe,
                    feature_set=job.feature_set,
                    feature_set_version=job.feature_set_version,
                    feature_columns=artefact["columns"],
                    metrics=metrics,
                    artefact_path=str(path),
                    training_job_id=job.pk,
                )
        except IntegrityError:  # another job took this version number meanwhile
            path.unlink(missing_ok=True)
            continue
        return selectors.model_info(model)
    raise RuntimeError(f"could not allocate a version of {job.model_name}")


def model_promote(*, model_id: int) -> ModelInfo:
    """Make this version the production one of its name; the previous production version is archived."""
    with transaction.atomic(using=ALIAS):
        model = MLModel.objects.using(ALIAS).select_for_update().filter(pk=model_id).first()
        if model is None:
            raise MLInputError({"model_id": [f"no model {model_id}"]})
        MLModel.objects.using(ALIAS).filter(name=model.name, status=MLModel.Status.PRODUCTION).exclude(
            pk=model.pk
        ).update(status=MLModel.Status.ARCHIVED)
        model.status = MLModel.Status.PRODUCTION
        model.promoted_at = utc_now()
        model.save(using=ALIAS, update_fields=["status", "promoted_at"])
    return selectors.model_info(model)


def model_rollback(*, name: str) -> ModelInfo:
    """Archive the production version of `name` and bring back the one that was in production before it."""
    with transaction.atomic(using=ALIAS):
        versions = MLModel.objects.using(ALIAS).select_for_update().filter(name=name)
        current = versions.filter(status=MLModel.Status.PRODUCTION).first()
        if current is None:
            raise MLInputError({"name": [f"{name} has no production version to roll back"]})
        previous = (
            versions.filter(
                status=MLModel.Status.ARCHIVED, promoted_at__isnull=False, promoted_at__lt=current.promoted_at
            )
            .order_by("-promoted_at")
            .first()
        )
        if previous is None:
            raise MLInputError({"name": [f"{name} has no earlier production version"]})
        current.status = MLModel.Status.ARCHIVED
        current.save(using=ALIAS, update_fields=["status"])
        previous.status = MLModel.Status.PRODUCTION
        previous.save(using=ALIAS, update_fields=["status"])  # promoted_at kept: its history stays readable
    return selectors.model_info(previous)


def model_delete(*, model_id: int) -> bool:
    model = MLModel.objects.using(ALIAS).filter(pk=model_id).first()
    if model is None:
        return False
    if model.status == MLModel.Status.PRODUCTION:
        raise MLInputError({"model_id": ["a production version cannot be deleted; promote another one first"]})
    model.delete(using=ALIAS)
    with contextlib.suppress(ValueError):  # a path outside the models folder is never deleted
        artefacts.inside(model.artefact_path).unlink(missing_ok=True)
    _ARTEFACTS.pop(model.pk, None)
    return True


# Predictions ---------------------------------------------------------------------------------------------------

_ARTEFACTS: dict[int, tuple[str, dict[str, Any]]] = {}
_ARTEFACTS_LOCK = threading.Lock()


def _artefact(model: MLModel) -> dict[str, Any]:
    """Loaded once per process and model version (artefacts never change once written)."""
    cached = _ARTEFACTS.get(model.pk)
    if cached is not None and cached[0] == model.artefact_path:
        return cached[1]
    with _ARTEFACTS_LOCK:
        try:
            path = artefacts.inside(model.artefact_path)
        except ValueError as exc:
            raise MLInputError({"model": [str(exc)]}) from None
        artefact = _kind(model.kind).load(str(path))  # a torch network is rebuilt once, on its device
        _ARTEFACTS[model.pk] = (model.artefact_path, artefact)
    return artefact


def model_resolve(*, model_id: int | None, name: str | None) -> MLModel:
    """By id; by name: its production version, else its latest non-archived one."""
    models = MLModel.objects.using(ALIAS)
    if model_id is not None:
        model = models.filter(pk=model_id).first()
    elif name:
        model = (
            models.filter(name=name, status=MLModel.Status.PRODUCTION).first()
            or models.filter(name=name).exclude(status=MLModel.Status.ARCHIVED).order_by("-version").first()
        )
    else:
        raise MLInputError({"model": ["give model_id or name"]})
    if model is None:
        raise MLInputError({"model": [f"no model {model_id if model_id is not None else name}"]})
    return model


def ab_split_set(*, name: str, model_a_id: int, model_b_id: int, share_b: float) -> ABSplit:
    errors: dict[str, list[str]] = {}
    versions = {model.pk: model for model in MLModel.objects.using(ALIAS).filter(pk__in=[model_a_id, model_b_id])}
    for field, model_id in (("model_a", model_a_id), ("model_b", model_b_id)):
        model = versions.get(model_id)
        if model is None or model.name != name:
            errors[field] = [f"no version of {name} with id {model_id}"]
    if model_a_id == model_b_id:
        errors["model_b"] = ["must differ from model_a"]
    if not 0 <= share_b <= 1:
        errors["share_b"] = ["a share from 0 to 1"]
    if errors:
        raise MLInputError(errors)
    split, _ = ABSplit.objects.using(ALIAS).update_or_create(
        name=name, defaults={"model_a_id": model_a_id, "model_b_id": model_b_id, "share_b": share_b}
    )
    return split


def ab_split_clear(*, name: str) -> bool:
    deleted, _ = ABSplit.objects.using(ALIAS).filter(name=name).delete()
    return bool(deleted)


def _arm(split: ABSplit, key: str) -> str:
    """A stable draw per request key (series and bar): replaying a bar reaches the same version."""
    digest = hashlib.blake2b(f"{split.name}|{key}".encode(), digest_size=8).digest()
    return "b" if int.from_bytes(digest, "big") / 2**64 < split.share_b else "a"


def _split_choice(split: ABSplit, *, exchange: str, symbol: str, timeframe: str, at: datetime) -> tuple[MLModel, str]:
    arm = _arm(split, f"{exchange}|{symbol}|{timeframe}|{at.isoformat()}")
    return (split.model_b if arm == "b" else split.model_a), arm


def predict(
    *,
    model_id: int | None = None,
    name: str | None = None,
    exchange: str | None = None,
    symbol: str | None = None,
    timeframe: str | None = None,
    at: datetime | None = None,
) -> PredictionResult:
    """The model's output for the bar opened at `at` (default: the series' last stored bar), from the bars up to
    and including it; by name, an A/B split (when set) picks the version. The prediction is stored."""
    split = None
    if model_id is None and name:
        split = ABSplit.objects.using(ALIAS).select_related("model_a", "model_b").filter(name=name).first()
    model = split.model_a if split is not None else model_resolve(model_id=model_id, name=name)
    exchange, symbol = exchange or model.exchange, symbol or model.symbol
    timeframe = timeframe or model.timeframe
    if timeframe not in TIMEFRAME_SECONDS:
        raise MLInputError({"timeframe": [f"unknown timeframe {timeframe!r}"]})
    if at is None:
        at = selectors.last_bar_time(exchange=exchange, symbol=symbol, timeframe=timeframe)
        if at is None:
            raise MLInputError({"symbol": [f"no {timeframe} candles stored for {exchange} {symbol}"]})
    arm = ""
    if split is not None:
        model, arm = _split_choice(split, exchange=exchange, symbol=symbol, timeframe=timeframe, at=at)
    prediction = _predict_with(
        model, exchange=exchange, symbol=symbol, timeframe=timeframe, at=at, source=Prediction.Source.REQUEST, arm=arm
    )
    return selectors.prediction_result(prediction, model)


def _predict_with(
    model: MLModel, *, exchange: str, symbol: str, timeframe: str, at: datetime, source: str, arm: str
) -> Prediction:
    step = timedelta(seconds=TIMEFRAME_SECONDS[timeframe])
    model_kind = _kind(model.kind)
    artefact = _artefact(model)
    history = model_kind.history_needed(artefact)
    frame = _frame(
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        start=at - step * (features.WARMUP_BARS + history - 2),
        end=at + step,
    )
    last_time = frame.open_time[-1].astype("datetime64[us]").item().replace(tzinfo=UTC)
    if last_time != at:
        raise MLInputError({"at": [f"no {timeframe} bar of {exchange} {symbol} opens at {at.isoformat()}"]})
    columns, values = _compute(frame, _definition(model.feature_set, model.feature_set_version))
    row = values[-history:, [columns.index(name) for name in artefact["columns"]]]
    if len(row) < history or not np.isfinite(row).all():
        raise MLInputError({"at": [f"not enough history before {at.isoformat()} for the model's features"]})
    label, probability, output = model_kind.apply(artefact, row)
    return Prediction.objects.using(ALIAS).create(
        model=model,
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        bar_time=at,
        label=label,
        probability=probability,
        output=output,
        source=source,
        arm=arm,
    )


def live_market_follow(
    *, instance_id: int, strategy: str, model_name: str, exchange: str, symbol: str, timeframe: str, state: str
) -> None:
    """Follow a trading instance's state: while an ml_signal instance is not stopped, its model predicts live on
    the instance's market too (each bar from that market's own features), whichever market it was trained on."""
    if strategy != "ml_signal" or not model_name or state == "stopped":
        LiveMarket.objects.using(ALIAS).filter(instance_id=instance_id).delete()
        return
    LiveMarket.objects.using(ALIAS).update_or_create(
        instance_id=instance_id,
        defaults={
            "model_name": model_name,
            "exchange": exchange,
            "symbol": symbol,
            "timeframe": timeframe,
            "updated_at": utc_now(),
        },
    )


def live_series(*, series: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """Which of the (exchange, symbol, timeframe) `series` have live predictions to make
    (`predictions_on_candle`): a production model trained on the series, or a model followed on it."""
    if not series:
        return set()
    exchanges, symbols = {s[0] for s in series}, {s[1] for s in series}
    near = {"exchange__in": exchanges, "symbol__in": symbols}
    followed = set(LiveMarket.objects.using(ALIAS).filter(**near).values_list("exchange", "symbol", "timeframe"))
    trained = MLModel.objects.using(ALIAS).filter(**near, status=MLModel.Status.PRODUCTION)
    return (followed | set(trained.values_list("exchange", "symbol", "timeframe"))) & series


def predictions_on_candle(
    *, exchange: str, symbol: str, timeframe: str, bar_time: datetime, backfill: bool = False
) -> int:
    """Live predictions at a closed bar: every model name with a production version trained on this series or
    followed on it by a running ml_signal instance (`live_market_follow`; its A/B split deciding the version
    when set), each stored and published as `ml.prediction` in one transaction
    (with the candle's `backfill` flag, so the bot trades the latest bar only). A bar already predicted (a
    redelivered event) or without enough history is skipped. Returns how many."""
    made = 0
    series = {"exchange": exchange, "symbol": symbol, "timeframe": timeframe}
    followed = LiveMarket.objects.using(ALIAS).filter(**series).values_list("model_name", flat=True)
    names = sorted(
        set(
            MLModel.objects.using(ALIAS)
            .filter(Q(**series) | Q(name__in=followed), status=MLModel.Status.PRODUCTION)
            .values_list("name", flat=True)
        )
    )
    for name in names:
        split = ABSplit.objects.using(ALIAS).select_related("model_a", "model_b").filter(name=name).first()
        if split is not None:
            model, arm = _split_choice(split, exchange=exchange, symbol=symbol, timeframe=timeframe, at=bar_time)
        else:
            model, arm = MLModel.objects.using(ALIAS).get(name=name, status=MLModel.Status.PRODUCTION), ""
        done = Prediction.objects.using(ALIAS).filter(
            model=model,
            source=Prediction.Source.LIVE,
            exchange=exchange,
            symbol=symbol,
            timeframe=timeframe,
            bar_time=bar_time,
        )
        if done.exists():
            continue
        try:
            with transaction.atomic(using=ALIAS):
                prediction = _predict_with(
                    model,
                    exchange=exchange,
                    symbol=symbol,
                    timeframe=timeframe,
                    at=bar_time,
                    source=Prediction.Source.LIVE,
                    arm=arm,
                )
                publish(
                    PredictionMade(
                        prediction_id=str(prediction.pk),
                        model_id=model.pk,
                        model_name=model.name,
                        model_version=model.version,
                        kind=model.kind,
                        label=prediction.label,
                        probability=prediction.probability,
                        output=prediction.output,
                        exchange=exchange,
                        symbol=symbol,
                        timeframe=timeframe,
                        bar_time=bar_time,
                        backfill=backfill,
                    ),
                    using=ALIAS,
                )
        except MLInputError:
            continue  # the series is still too short for this model's features
        made += 1
    return made
