"""Backtest jobs as the data facade hands them out: start, run, and read a job's summary, trades, report and
equity curve (the facade only forwards here)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import dramatiq
import numpy as np

from dsta.data.backtesting import jobs
from dsta.data.backtesting.runner import BacktestInputError
from dsta.data.contracts import BacktestRequest, BacktestSummary, BacktestTradeView, EquityCurve, InvalidBacktestRequest
from dsta.data.models import BacktestJob, BacktestResult

ALIAS = "data"


def backtest_run(*, request: BacktestRequest, user_id: int | None) -> BacktestSummary:
    job = jobs.job_create(request, user_id=user_id)
    jobs.job_execute(str(job.pk))
    job.refresh_from_db()
    return jobs.job_summary(job)


def backtest_start(*, request: BacktestRequest, user_id: int | None) -> BacktestSummary:
    """Queue the job for the worker pool; its summary at once (status `queued`)."""
    try:
        job = jobs.job_create(request, user_id=user_id)
    except BacktestInputError as exc:
        raise InvalidBacktestRequest(exc.errors) from None
    # The actor (dsta.data.backtesting.actors, declared at app start) by name, as the REST view sends it.
    dramatiq.get_broker().get_actor("run_backtest_job").send(str(job.pk))
    return jobs.job_summary(job)


def backtest_get(*, job_id: str) -> BacktestSummary | None:
    job = BacktestJob.objects.using(ALIAS).filter(pk=job_id).first()
    return None if job is None else jobs.job_summary(job)


def backtest_trades(*, job_id: str) -> list[BacktestTradeView]:
    job = BacktestJob.objects.using(ALIAS).filter(pk=job_id).first()
    return [] if job is None else jobs.job_trades(job)


def backtest_report_html(*, job_id: str) -> str | None:
    result = BacktestResult.objects.using(ALIAS).filter(job_id=uuid.UUID(job_id))
    path = result.values_list("report_path", flat=True).first()
    if not path:
        return None
    with open(path, encoding="utf-8") as report:
        return report.read()


def backtest_equity(*, job_id: str, points: int) -> EquityCurve | None:
    result = BacktestResult.objects.using(ALIAS).filter(job_id=uuid.UUID(job_id)).only("equity", "bar_times").first()
    if result is None or not result.equity:
        return None
    equity = np.frombuffer(result.equity, dtype="<f8")
    times = np.frombuffer(result.bar_times, dtype="<i8")
    stride = max(1, -(-len(equity) // max(points, 1)))
    return EquityCurve(
        job_id=job_id,
        times=tuple(datetime.fromtimestamp(int(ms) / 1000, tz=UTC) for ms in times[::stride]),
        equity=tuple(float(value) for value in equity[::stride]),
    )
