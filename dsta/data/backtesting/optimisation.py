"""Parameter optimisation over the worker pool.

A parent job (kind `optimisation`) owns one `trial` job per parameter set. Grid search inserts every trial
at once and enqueues them in batches (`trial_batches`); each batch runs on whichever worker takes it, and
the batch that finishes last (under a row lock on the parent) ranks the trials and closes the parent.
Optuna runs its ask/tell loop inside the parent's actor, asking a batch at a time and waiting for the pool
to finish it, so more workers still finish sooner."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from django.db import transaction
from django.db.models import Count, Q

from dsta.data.backtesting import jobs, trial_batches
from dsta.data.backtesting.analysis import deflated_sharpe, grid
from dsta.data.backtesting.metrics import periods_per_year
from dsta.data.backtesting.overfitting import optimisation_overfitting
from dsta.data.backtesting.runner import BacktestInputError, validate
from dsta.data.bars import Bars
from dsta.data.contracts import TIMEFRAME_SECONDS, BacktestRequest
from dsta.data.models import BacktestJob, BacktestResult

ALIAS = "data"
OBJECTIVES = ("sharpe", "sortino", "calmar", "total_return_pct", "profit_factor", "sqn")
METHODS = ("grid", "optuna")
MAX_TRIALS = 5_000
FINISHED = (BacktestJob.Status.SUCCEEDED, BacktestJob.Status.FAILED)


def optimisation_create(
    base: BacktestRequest,
    *,
    method: str,
    space: dict[str, list[float]],
    objective: str = "sharpe",
    trials: int = 50,
    batch: int = 4,
    seed: int = 0,
    user_id: int | None = None,
) -> BacktestJob:
    """Validate and store an optimisation; `space` is a list of values per parameter for grid search, or
    [low, high] per parameter for optuna. Returns the parent job (not yet started)."""
    errors: dict[str, str] = {}
    if method not in METHODS:
        errors["method"] = f"must be one of {METHODS}"
    if objective not in OBJECTIVES:
        errors["objective"] = f"must be one of {OBJECTIVES}"
    if not space:
        errors["space"] = "give at least one parameter to vary"
    if method == "grid":
        combos = len(grid(space)) if space else 0
        if combos > MAX_TRIALS:
            errors["space"] = f"{combos} combinations; at most {MAX_TRIALS}"
        for params in grid(space)[:1]:
            _check_params(base, params, errors)
    elif method == "optuna":
        if not 1 <= trials <= MAX_TRIALS:
            errors["trials"] = f"must be between 1 and {MAX_TRIALS}"
        for name, bounds in space.items():
            if len(bounds) != 2 or bounds[0] >= bounds[1]:
                errors[f"space.{name}"] = "optuna needs [low, high] with low < high"
    if errors:
        raise BacktestInputError(errors)
    return jobs.job_create(
        base,
        user_id=user_id,
        kind=BacktestJob.Kind.OPTIMISATION,
        options={
            "method": method,
            "space": space,
            "objective": objective,
            "trials": trials,
            "batch": batch,
            "seed": seed,
        },
    )


def _check_params(base: BacktestRequest, params: dict[str, float], errors: dict[str, str]) -> None:
    try:
        validate(replace(base, params={**base.params, **params}))
    except BacktestInputError as exc:
        errors.update(exc.errors)


def trials_enqueue(
    parent: BacktestJob, parameter_sets: Sequence[dict[str, float]], send: Callable[[str], None]
) -> list[BacktestJob | None]:
    """One trial job per parameter set, in order, each handed to `send` (the trial actor); None where the
    set is invalid (e.g. fast >= slow in a grid corner: not a trial, and not an error of the optimisation)."""
    created = trial_batches.trials_create(parent, parameter_sets)
    for trial in created:
        if trial is not None:
            send(str(trial.pk))
    return created


def grid_start(parent_id: str, *, send_batch: Callable[[list[str]], None]) -> list[list[str]]:
    """Create the grid's trials and hand them to `send_batch` in batches (see trial_batches); returns them."""
    parent = BacktestJob.objects.using(ALIAS).get(pk=parent_id)
    parent.status, parent.started_at = BacktestJob.Status.RUNNING, datetime.now(UTC)
    parent.save(using=ALIAS, update_fields=["status", "started_at"])
    created = trial_batches.trials_create(parent, grid(parent.options["space"]))
    batches = trial_batches.split([str(trial.pk) for trial in created if trial is not None])
    if not batches:
        _fail(parent, "no valid parameter set in the grid")
    for batch in batches:
        send_batch(batch)
    return batches


def trial_finished(trial_id: str) -> None:
    """Called after each grid trial: the last one to finish ranks the trials and closes the parent."""
    trial = BacktestJob.objects.using(ALIAS).only("parent_id").get(pk=trial_id)
    trials_progress(str(trial.parent_id))


def trials_progress(parent_id: str, *, series: dict[tuple[object, ...], Bars] | None = None) -> None:
    """Called after each grid trial or batch of trials: the parent's progress; the last to finish ranks the
    trials and closes the parent (under a row lock on it, so exactly one does). `series`: the bars the
    caller's batches read (see trial_batches.batch_execute), which ranking's re-run of the best trial reuses."""
    with transaction.atomic(using=ALIAS):
        parent = BacktestJob.objects.using(ALIAS).select_for_update().get(pk=parent_id)
        if parent.status in FINISHED or parent.options.get("method") != "grid":
            return
        counts = (
            BacktestJob.objects.using(ALIAS)
            .filter(parent=parent)
            .aggregate(done=Count("pk", filter=Q(status__in=FINISHED)), total=Count("pk"))
        )
        done, total = counts["done"], counts["total"]
        parent.progress = done / total
        parent.save(using=ALIAS, update_fields=["progress"])
        if done == total:
            rank_and_close(parent, series=series)


def optuna_run(parent_id: str, *, send: Callable[[str], None], poll_seconds: float = 0.1) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    parent = BacktestJob.objects.using(ALIAS).get(pk=parent_id)
    parent.status, parent.started_at = BacktestJob.Status.RUNNING, datetime.now(UTC)
    parent.save(using=ALIAS, update_fields=["status", "started_at"])
    options = parent.options
    kinds = {p.name: p.kind for p in _strategy_parameters(parent.strategy)}
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=options["seed"]))
    remaining = int(options["trials"])
    while remaining > 0:
        asked = [study.ask() for _ in range(min(int(options["batch"]), remaining))]
        parameter_sets = []
        for trial in asked:
            parameter_sets.append(
                {
                    name: (
                        trial.suggest_int(name, int(low), int(high))
                        if kinds.get(name) is int
                        else trial.suggest_float(name, float(low), float(high))
                    )
                    for name, (low, high) in options["space"].items()
                }
            )
        created = trials_enqueue(parent, parameter_sets, send)
        waiting = [str(job.pk) for job in created if job is not None]
        while BacktestJob.objects.using(ALIAS).filter(pk__in=waiting).exclude(status__in=FINISHED).exists():
            time.sleep(poll_seconds)
        for trial, job in zip(asked, created, strict=True):
            value = None if job is None else _objective_value(str(job.pk), options["objective"])
            if value is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, value)
        remaining -= len(asked)
        parent.progress = 1 - remaining / int(options["trials"])
        parent.save(using=ALIAS, update_fields=["progress"])
    rank_and_close(parent)


def _strategy_parameters(name: str):  # type: ignore[no-untyped-def]
    from dsta.data.strategies.registry import strategy_class

    return strategy_class(name).parameters


def _objective_value(job_id: str, objective: str) -> float | None:
    result = BacktestResult.objects.using(ALIAS).filter(job_id=job_id).values_list("metrics", flat=True).first()
    if result is None:
        return None
    value = float(result[objective])
    return value if math.isfinite(value) else None


def rank_and_close(parent: BacktestJob, *, series: dict[tuple[object, ...], Bars] | None = None) -> None:
    objective = parent.options["objective"]
    rows = []
    metrics_of: dict[str, dict[str, object]] = {}
    moments = []  # each trial's block moments, for the PBO, in the order the trials were read
    succeeded = BacktestJob.objects.using(ALIAS).filter(parent=parent, status=BacktestJob.Status.SUCCEEDED)
    # the four fields ranking reads, as values: no model instances for a grid of thousands of trials
    for pk, params, metrics, analysis in succeeded.values_list("pk", "params", "result__metrics", "result__analysis"):
        value = float(metrics[objective])
        metrics_of[str(pk)] = metrics
        moments.append(analysis.get("block_moments"))
        rows.append(
            {
                "job_id": str(pk),
                "params": params,
                "objective": value,
                "sharpe": float(metrics["sharpe"]),
                "total_return_pct": float(metrics["total_return_pct"]),
                "max_drawdown_pct": float(metrics["max_drawdown_pct"]),
                "trades": int(metrics["trades"]),
            }
        )
    if not rows:
        _fail(parent, "every trial failed")
        return
    overfitting = optimisation_overfitting(moments)  # PBO by CSCV (overfitting.py)
    rows.sort(key=lambda row: row["objective"] if math.isfinite(row["objective"]) else -math.inf, reverse=True)
    # Trials keep no curve: the best one's again, through the batches' own run, on the bars they read
    # when this is the worker that ran them (the same bars as a fresh read: one snapshot per optimisation).
    best_trial = BacktestJob.objects.using(ALIAS).get(pk=rows[0]["job_id"])
    _, _, best_equity = trial_batches.trial_run(jobs.request_of(best_trial), {} if series is None else series)
    scale = math.sqrt(periods_per_year(TIMEFRAME_SECONDS[parent.timeframe]))
    snooping = deflated_sharpe(best_equity[1:] / best_equity[:-1] - 1, [row["sharpe"] / scale for row in rows])
    BacktestResult.objects.using(ALIAS).update_or_create(
        job=parent,
        defaults={
            "metrics": metrics_of[rows[0]["job_id"]],
            "analysis": {
                "objective": objective,
                "best_params": rows[0]["params"],
                "trials": rows,
                "data_snooping": {
                    "trials": snooping.trials,
                    "deflated_sharpe": snooping.deflated_sharpe,
                    "expected_max_sharpe_per_bar": snooping.expected_max_sharpe_per_bar,
                    "best_sharpe_per_bar": snooping.best_sharpe_per_bar,
                    "warning": snooping.warning,
                },
                "overfitting": overfitting,
            },
        },
    )
    parent.status, parent.progress, parent.finished_at = BacktestJob.Status.SUCCEEDED, 1.0, datetime.now(UTC)
    parent.save(using=ALIAS, update_fields=["status", "progress", "finished_at"])


def _fail(parent: BacktestJob, error: str) -> None:
    parent.status, parent.error, parent.finished_at = BacktestJob.Status.FAILED, error, datetime.now(UTC)
    parent.save(using=ALIAS, update_fields=["status", "error", "finished_at"])
