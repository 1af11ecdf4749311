"""Dramatiq actors of backtesting: jobs run on the worker pool, so more workers finish more jobs."""

from __future__ import annotations

import contextlib

import dramatiq

from dsta.data.backtesting import jobs, optimisation
from dsta.data.models import BacktestJob

BACKTEST_QUEUE = "backtests"


@dramatiq.actor(queue_name=BACKTEST_QUEUE, max_retries=3, time_limit=3_600_000)
def run_backtest_job(job_id: str) -> None:
    jobs.job_execute(job_id)


# A trial is deterministic: if it fails (the failure is stored on the job) a retry would fail the same way.
@dramatiq.actor(queue_name=BACKTEST_QUEUE, max_retries=0, time_limit=3_600_000)
def run_trial(job_id: str) -> None:
    with contextlib.suppress(Exception):  # job_execute stored the error on the job
        jobs.job_execute(job_id)
    optimisation.trial_finished(job_id)


# Optuna's ask/tell loop waits here for its trials, which other worker threads run: give the pool >= 2 threads.
@dramatiq.actor(queue_name=BACKTEST_QUEUE, max_retries=0, time_limit=6 * 3_600_000)
def run_optimisation(parent_id: str) -> None:
    options = BacktestJob.objects.using("data").values_list("options", flat=True).get(pk=parent_id)
    if options["method"] == "grid":
        optimisation.grid_start(parent_id, send=run_trial.send)
    else:
        optimisation.optuna_run(parent_id, send=run_trial.send)
