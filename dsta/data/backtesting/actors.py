"""Dramatiq actors of backtesting: jobs run on the worker pool, so more workers finish more jobs."""

from __future__ import annotations

import dramatiq

from dsta.data.backtesting import jobs

BACKTEST_QUEUE = "backtests"


@dramatiq.actor(queue_name=BACKTEST_QUEUE, max_retries=3, time_limit=3_600_000)
def run_backtest_job(job_id: str) -> None:
    jobs.job_execute(job_id)
