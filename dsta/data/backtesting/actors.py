"""Dramatiq actors of backtesting: jobs run on the worker pool, so more workers finish more jobs."""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Callable
from typing import Any

import dramatiq
import structlog
from dramatiq.middleware import Middleware

from dsta.data.backtesting import fills, jobs, optimisation, overfitting, trial_batches
from dsta.data.models import BacktestJob

BACKTEST_QUEUE = "backtests"
log = structlog.get_logger(__name__)


@dramatiq.actor(queue_name=BACKTEST_QUEUE, max_retries=3, time_limit=3_600_000)
def run_backtest_job(job_id: str) -> None:
    jobs.job_execute(job_id)


# A trial is deterministic: if it fails (the failure is stored on the job) a retry would fail the same way.
@dramatiq.actor(queue_name=BACKTEST_QUEUE, max_retries=0, time_limit=3_600_000)
def run_trial(job_id: str) -> None:
    with contextlib.suppress(Exception):  # job_execute stored the error on the job
        jobs.job_execute(job_id)
    optimisation.trial_finished(job_id)


# The bars of the optimisations this worker ran batches of, by parent: its later batches of the same
# optimisation take them from here (no query at all), so every batch of one optimisation sees one snapshot.
_series_by_parent: dict[str, dict[tuple[object, ...], Any]] = {}
SERIES_PARENTS = 2  # optimisations whose bars a worker keeps (two running at once still share nothing else)
_series_lock = threading.Lock()


def _series_of(parent_id: str) -> dict[tuple[object, ...], Any]:
    with _series_lock:
        series = _series_by_parent.pop(parent_id, None)
        if series is None:
            series = {}
            while len(_series_by_parent) >= SERIES_PARENTS:
                _series_by_parent.pop(next(iter(_series_by_parent)))
        _series_by_parent[parent_id] = series  # the most recent last
        return series


@dramatiq.actor(queue_name=BACKTEST_QUEUE, max_retries=0, time_limit=6 * 3_600_000)
def run_trial_batch(trial_ids: list[str], parent_id: str) -> None:
    series = _series_of(parent_id)
    try:
        trial_batches.batch_execute(trial_ids, series=series)
    finally:
        optimisation.trials_progress(parent_id, series=series)


def _send_batch(parent_id: str) -> Callable[[list[str]], None]:
    return lambda trial_ids: run_trial_batch.send(trial_ids, parent_id)


# Optuna's ask/tell loop waits here for its trials, which other worker threads run: give the pool >= 2 threads.
@dramatiq.actor(queue_name=BACKTEST_QUEUE, max_retries=0, time_limit=6 * 3_600_000)
def run_optimisation(parent_id: str) -> None:
    options = BacktestJob.objects.using("data").values_list("options", flat=True).get(pk=parent_id)
    if options["method"] == "grid":
        optimisation.grid_start(parent_id, send_batch=_send_batch(parent_id))
    else:
        optimisation.optuna_run(parent_id, send=run_trial.send)


class FillLoopWarmUp(Middleware):
    """A worker loads numba and the compiled fill loop right after it boots, on a thread of its own, so the
    first optimisation batch it takes does not wait seconds for the compiler (web processes never load it);
    then the overfitting test's split tables, for the first ranking it does."""

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        threading.Thread(target=self._warm_up, name="fill-loop-warm-up", daemon=True).start()

    @staticmethod
    def _warm_up() -> None:
        started = time.perf_counter()
        fills.warm_up()
        log.info("fill_loop_compiled", seconds=round(time.perf_counter() - started, 2))
        overfitting.warm_up()
        gc.freeze()  # numba and the compiled loop, loaded after the worker module froze the rest (dsta/worker.py)


dramatiq.get_broker().add_middleware(FillLoopWarmUp())
