"""Grid trials in batches: one worker task runs a batch of trials and writes their results in one go.

Per trial the work is a few milliseconds on the compiled fast path, so what a task per trial spent went to
its own overhead (a job fetch, a bar cache check, three writes, a lock on the parent). A batch reads its
bars once, runs each trial's strategy on them through the same engine as a single backtest (so each
trial's metrics equal `run_request`'s for its parameters), and stores every result in one transaction.
Batches are small enough that a pool of workers stays evenly busy (BATCHES_PER_GRID of them per grid)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
from django.db import transaction

from dsta.data.backtesting import jobs
from dsta.data.backtesting.metrics import Metrics, metrics_from_trade_columns
from dsta.data.backtesting.overfitting import block_moments
from dsta.data.backtesting.runner import BacktestInputError, config_for, run_request, uses_fast_path, validate
from dsta.data.backtesting.vectorized import vectorised_columns
from dsta.data.bars import Bars, load_bars
from dsta.data.contracts import TIMEFRAME_SECONDS, BacktestRequest
from dsta.data.models import BacktestJob, BacktestResult

ALIAS = "data"
BATCHES_PER_GRID = 16  # enough for a few workers to share evenly; each still many trials on a big grid
MAX_BATCH = 64  # trials per task at most: a batch's progress shows, and a crash loses little


def split(ids: Sequence[str], *, batches: int = BATCHES_PER_GRID, largest: int = MAX_BATCH) -> list[list[str]]:
    """`ids` in consecutive batches whose sizes differ by one at most."""
    count = max(math.ceil(len(ids) / largest), min(batches, len(ids)))
    if not count:
        return []
    size, extra = divmod(len(ids), count)
    bounds = [number * size + min(number, extra) for number in range(count + 1)]
    return [list(ids[start:end]) for start, end in zip(bounds, bounds[1:], strict=False)]


def trials_create(parent: BacktestJob, parameter_sets: Sequence[dict[str, float]]) -> list[BacktestJob | None]:
    """One trial job per parameter set, inserted in one statement; None where the set is invalid (e.g.
    fast >= slow in a grid corner: not a trial, and not an error of the optimisation)."""
    base = jobs.request_of(parent)
    built: list[BacktestJob | None] = []
    for params in parameter_sets:
        try:
            request = replace(base, params={**base.params, **params})
            built.append(jobs.job_build(request, user_id=parent.user_id, kind=BacktestJob.Kind.TRIAL, parent=parent))
        except BacktestInputError:
            built.append(None)
    BacktestJob.objects.using(ALIAS).bulk_create([trial for trial in built if trial is not None])
    return built


def batch_execute(trial_ids: Sequence[str], *, series: dict[tuple[object, ...], Bars] | None = None) -> int:
    """Run the batch's unfinished trials and store their metrics; returns how many succeeded. A trial
    that fails is stored failed with its error, as a single trial's job would be; the others go on.
    `series`: bars already read, by series, for a caller running several batches of one optimisation
    (the command line, a worker's batches of one optimisation); by default each batch reads (or re-checks
    in the bar cache) its own."""
    trials = list(
        BacktestJob.objects.using(ALIAS).filter(pk__in=list(trial_ids)).exclude(status=BacktestJob.Status.SUCCEEDED)
    )
    started = datetime.now(UTC)
    BacktestJob.objects.using(ALIAS).filter(pk__in=[trial.pk for trial in trials]).update(
        status=BacktestJob.Status.RUNNING, started_at=started, error=""
    )
    results: list[BacktestResult] = []
    series = {} if series is None else series
    for trial in trials:
        trial.started_at, trial.finished_at = started, None
        try:
            metrics, engine_used, equity = trial_run(jobs.request_of(trial), series)
        except Exception as exc:  # stored on the trial, as job_execute does
            trial.status, trial.error = BacktestJob.Status.FAILED, str(exc)[:4000]
        else:
            trial.status, trial.progress, trial.engine_used, trial.error = (
                BacktestJob.Status.SUCCEEDED,
                1.0,
                engine_used,
                "",
            )
            # the per-block summary the optimisation's overfitting test (PBO) reads of each trial
            analysis = {"block_moments": block_moments(equity).tolist()}
            results.append(BacktestResult(job=trial, metrics=jobs.json_safe(metrics.as_dict()), analysis=analysis))
    finished = datetime.now(UTC)
    with transaction.atomic(using=ALIAS):
        BacktestResult.objects.using(ALIAS).filter(job__in=[result.job for result in results]).delete()
        BacktestResult.objects.using(ALIAS).bulk_create(results)
        # One UPDATE per outcome (not bulk_update's CASE per row and field): the batch's results are stored
        # together, so they share `finished_at`; a failed trial keeps its own error.
        outcomes: dict[tuple[str, str], list[object]] = {}
        for trial in trials:
            trial.finished_at = finished
            if trial.status == BacktestJob.Status.SUCCEEDED:
                outcomes.setdefault((trial.status, trial.engine_used), []).append(trial.pk)
            else:
                BacktestJob.objects.using(ALIAS).filter(pk=trial.pk).update(
                    status=trial.status, error=trial.error, started_at=started, finished_at=finished
                )
        for (status, engine_used), ids in outcomes.items():
            BacktestJob.objects.using(ALIAS).filter(pk__in=ids).update(
                status=status, progress=1.0, engine_used=engine_used, error="", started_at=started, finished_at=finished
            )
    return len(results)


def trial_run(request: BacktestRequest, series: dict[tuple[object, ...], Bars]) -> tuple[Metrics, str, np.ndarray]:
    """What `run_request` computes for this request, without trade objects on the fast path. `series`
    holds the bars this batch has read: even load_bars' cache check counts the rows of the series.
    Ranking re-runs the best trial through here for its curve (the deflated Sharpe), on the same bars."""
    strategy = validate(request)
    if request.symbols or not uses_fast_path(strategy, request.engine):
        outcome = run_request(request)
        return outcome.metrics, outcome.result.path, outcome.result.equity
    key = (request.exchange, request.symbol, request.timeframe, request.start, request.end)
    if key not in series:
        series[key] = load_bars(
            exchange=request.exchange,
            symbol=request.symbol,
            timeframe=request.timeframe,
            start=request.start,
            end=request.end,
        )
    bars = series[key]
    if len(bars) <= strategy.warmup() + 1:
        outcome = run_request(request)  # raises run_request's own input error
        return outcome.metrics, "vectorised", outcome.result.equity
    equity, trades = vectorised_columns(strategy, bars, config_for(request), compiled=True)
    metrics = metrics_from_trade_columns(
        equity=equity, closes=bars.close, trades=trades, timeframe_seconds=TIMEFRAME_SECONDS[request.timeframe]
    )
    return metrics, "vectorised", equity
