"""The "prediction" series data's `ml_signal` strategy reads: made here, since data never imports ml.

Backtest: causal predictions over history, then data's backtest engine with them. A bar closed after the
production model was trained is predicted by that model itself (it never saw the bar), exactly as live
trading predicts it; an earlier bar is predicted walk-forward: by a model of the same kind, features and
classifier, refit every `retrain_every` bars on the bars before it only. Live: the production model's
prediction for the bar that just closed (`live_prediction`). Both feed the same `MlSignal.decide`.

Walk-forward refits exist for direction models (p(next close higher)); other kinds are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from dsta.data import api as data_api
from dsta.data.contracts import TIMEFRAME_SECONDS, BacktestRequest, InputSeries
from dsta.ml import features, services, training
from dsta.ml.contracts import MLInputError, MlSignalBacktest
from dsta.ml.models import MLModel

STRATEGY = "ml_signal"
INPUT = "prediction"


@dataclass(frozen=True)
class CausalPredictions:
    times_ms: npt.NDArray[np.int64]
    p_up: npt.NDArray[np.float64]
    walk_forward_bars: int  # predicted by a refit trained on earlier bars
    production_bars: int  # predicted by the production model itself (closed after it was trained)
    refits: int


def causal_predictions(
    model: MLModel,
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
    retrain_every: int = 500,
    min_train: int = 1_000,
    trained_at: datetime | None = None,
) -> CausalPredictions:
    """p(up) for every bar of the series in [start, end) that has features. Bar t's value uses bars <= t only:
    a refit for bars [b, b + retrain_every) is trained on rows before b (their targets end at bar b's close)."""
    if model.kind != "direction":
        raise MLInputError({"model": [f"walk-forward predictions exist for direction models, not {model.kind}"]})
    if retrain_every < 1 or min_train < 100:
        raise MLInputError({"retrain_every": ["must be >= 1 (and min_train >= 100)"]})
    step = timedelta(seconds=TIMEFRAME_SECONDS[timeframe])
    frame = services._frame(exchange=exchange, symbol=symbol, timeframe=timeframe, start=None, end=end)
    columns, values = services._compute(frame, services._definition(model.feature_set, model.feature_set_version))
    artefact = services._artefact(model)
    x_all = values[:, [columns.index(name) for name in artefact["columns"]]]
    target = training.direction_target(frame.close)
    complete = np.isfinite(x_all).all(axis=1)
    times_ms = frame.open_time.astype("datetime64[ms]").astype(np.int64)
    first = 0 if start is None else int(np.searchsorted(times_ms, int(start.timestamp() * 1000)))
    trained = trained_at or model.created_at
    # A bar whose close came after the model was trained was never part of its training data.
    unseen_from = int(
        np.searchsorted(times_ms + step // timedelta(milliseconds=1), int(trained.timestamp() * 1000), side="right")
    )
    classifier = (model.metrics or {}).get("classifier", "logistic")
    p_up = np.full(len(times_ms), np.nan)
    refits = 0
    boundary = max(first, min_train)
    while boundary < min(unseen_from, len(times_ms)):
        stop = min(boundary + retrain_every, unseen_from, len(times_ms))
        rows = np.flatnonzero(complete[:boundary])
        predict_rows = boundary + np.flatnonzero(complete[boundary:stop])
        if len(rows) >= min_train // 2 and len(np.unique(target[rows])) == 2 and len(predict_rows):
            fitted = training.direction_estimator(classifier).fit(x_all[rows], target[rows])
            p_up[predict_rows] = _p_up(fitted, x_all[predict_rows])
            refits += 1
        boundary = stop
    live_rows, live_x = _as_live(frame, model, artefact, range(max(unseen_from, first), len(times_ms)), step)
    if len(live_rows):
        p_up[live_rows] = _p_up(artefact["estimator"], live_x)
    keep = slice(first, None)
    predicted = ~np.isnan(p_up)
    return CausalPredictions(
        times_ms=times_ms[keep][predicted[keep]],
        p_up=p_up[keep][predicted[keep]],
        walk_forward_bars=int(predicted[first:unseen_from].sum()) if unseen_from > first else 0,
        production_bars=len(live_rows),
        refits=refits,
    )


def _as_live(
    frame: Any, model: MLModel, artefact: dict[str, Any], rows: range, step: timedelta
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Each row's features computed exactly as a live prediction computes them (services._predict_with): from
    the bars of the window that ends at the bar, so a bar's backtest prediction equals its live one."""
    definition = services._definition(model.feature_set, model.feature_set_version)
    open_times = frame.open_time.astype("datetime64[ms]").astype(np.int64)
    reach = int(step / timedelta(milliseconds=1)) * (features.WARMUP_BARS + 1 - 2)  # history 1 for direction
    kept, matrix = [], []
    for t in rows:
        s = int(np.searchsorted(open_times, open_times[t] - reach))
        names, values = features.compute(
            definition,
            open=frame.open[s : t + 1],
            high=frame.high[s : t + 1],
            low=frame.low[s : t + 1],
            close=frame.close[s : t + 1],
            volume=frame.volume[s : t + 1],
        )
        row = values[-1, [names.index(name) for name in artefact["columns"]]]
        if np.isfinite(row).all():
            kept.append(t)
            matrix.append(row)
    if not kept:
        return np.empty(0, dtype=np.int64), np.empty((0, len(artefact["columns"])))
    return np.array(kept, dtype=np.int64), np.array(matrix)


def _p_up(estimator: Any, rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    probabilities = estimator.predict_proba(rows)
    return np.asarray(probabilities[:, list(estimator.classes_).index(1)], dtype=np.float64)


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
    model = services.model_resolve(model_id=model_id, name=name)
    exchange, symbol, timeframe = exchange or model.exchange, symbol or model.symbol, timeframe or model.timeframe
    if timeframe not in TIMEFRAME_SECONDS:
        raise MLInputError({"timeframe": [f"unknown timeframe {timeframe!r}"]})
    predictions = causal_predictions(
        model,
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        start=start,
        end=end,
        retrain_every=retrain_every,
        min_train=min_train,
    )
    if len(predictions.times_ms) == 0:
        raise MLInputError({"start": ["no bar in the range could be predicted causally (too little history)"]})
    series = InputSeries(INPUT, tuple(predictions.times_ms.tolist()), tuple(predictions.p_up.tolist()))
    first = datetime.fromtimestamp(int(predictions.times_ms[0]) / 1000, tz=UTC)
    request = BacktestRequest(
        strategy=STRATEGY,
        params=dict(params or {}),
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        start=max(start, first) if start else first,
        end=end,
        initial_cash=initial_cash,
        commission=commission,
        slippage=slippage,
        engine="event",
        inputs=(series,),
    )
    summary = data_api.backtest_run(request=request, user_id=user_id)
    return MlSignalBacktest(
        model_id=model.pk,
        model_name=model.name,
        model_version=model.version,
        summary=summary,
        predicted_bars=len(predictions.times_ms),
        walk_forward_bars=predictions.walk_forward_bars,
        production_bars=predictions.production_bars,
        refits=predictions.refits,
    )


def live_prediction(*, name: str, exchange: str, symbol: str, timeframe: str, bar_time: datetime) -> InputSeries:
    """The production model's p(up) for the bar that opened at `bar_time`, as the input data's
    `strategy_signal` takes for ml_signal (the same value the backtest uses for a bar closed after training)."""
    result = services.predict(name=name, exchange=exchange, symbol=symbol, timeframe=timeframe, at=bar_time)
    p_up = result.output.get("p_up")
    if p_up is None:
        raise MLInputError({"model": [f"{name} v{result.model_version} gives no p_up (not a direction model)"]})
    return InputSeries(INPUT, (int(result.bar_time.timestamp() * 1000),), (float(p_up),))
