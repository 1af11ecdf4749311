"""Frozen dataclasses that cross the ml domain's boundary: features, training jobs, models, predictions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from dsta.data.contracts import BacktestSummary
from dsta.kernel.errors import InputError

# A model name is also its artefacts' folder name: a letter or digit first (so never `.` or `..`), no separators.
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class MLInputError(InputError):
    """Bad input to an ml facade function; `errors` maps a field to its messages (HTTP 400)."""


@dataclass(frozen=True)
class FeatureMatrixInfo:
    exchange: str
    symbol: str
    timeframe: str
    feature_set: str
    feature_set_version: int
    columns: list[str]
    rows: int
    first_time: datetime | None
    last_time: datetime | None
    computed_at: datetime


@dataclass(frozen=True)
class FeatureTable:
    """Stored features in columns: `open_time` datetime64[us] UTC, `values` (rows x columns) float32."""

    info: FeatureMatrixInfo
    open_time: npt.NDArray[np.datetime64]
    values: npt.NDArray[np.float32]


@dataclass(frozen=True)
class TrainingJobInfo:
    job_id: str
    kind: str
    model_name: str
    exchange: str
    symbol: str
    timeframe: str
    feature_set: str
    feature_set_version: int
    params: dict[str, Any]
    status: str
    metrics: dict[str, Any]
    error: str
    model_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class ModelInfo:
    model_id: int
    name: str
    version: int
    kind: str
    exchange: str
    symbol: str
    timeframe: str
    feature_set: str
    feature_set_version: int
    feature_columns: list[str]
    metrics: dict[str, Any]
    artefact: str  # the artefact file relative to the models folder; never an absolute server path
    status: str
    training_job_id: str | None
    created_at: datetime
    promoted_at: datetime | None


@dataclass(frozen=True)
class PredictionResult:
    prediction_id: str
    model_id: int
    model_name: str
    model_version: int
    exchange: str
    symbol: str
    timeframe: str
    bar_time: datetime
    label: str
    probability: float | None
    output: dict[str, Any]
    source: str  # "request" or "live"
    arm: str  # "a" or "b" when an A/B split chose the version, else ""
    created_at: datetime


@dataclass(frozen=True)
class ABSplitInfo:
    name: str
    model_a_id: int
    model_b_id: int
    share_b: float


@dataclass(frozen=True)
class MlSignalBacktest:
    """data's backtest of the `ml_signal` strategy on causal predictions of one model (see ml.signals)."""

    model_id: int
    model_name: str
    model_version: int
    summary: BacktestSummary
    predicted_bars: int
    walk_forward_bars: int  # bars predicted by refits trained only on earlier bars
    production_bars: int  # bars closed after the model was trained: predicted by it, exactly as live
    refits: int
