"""Backtest jobs: created from a request, executed by a worker (or the CLI), stored with their trades,
metrics, equity curve and HTML report."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import structlog
from django.conf import settings
from django.db import transaction

from dsta.data.backtesting.analysis import detect_lookahead
from dsta.data.backtesting.report import render_report
from dsta.data.backtesting.runner import RunOutcome, run_request, validate
from dsta.data.contracts import BacktestRequest, BacktestStatus, BacktestSummary, BacktestTradeView
from dsta.data.models import BacktestJob, BacktestResult, BacktestTrade
from dsta.data.strategies.registry import strategy_build

log = structlog.get_logger(__name__)
ALIAS = "data"
PRICE_PLACES = Decimal("0.0000000001")
QTY_PLACES = Decimal("0.000000000000000001")


def job_create(
    request: BacktestRequest,
    *,
    user_id: int | None = None,
    kind: str = BacktestJob.Kind.SINGLE,
    parent: BacktestJob | None = None,
    options: dict[str, object] | None = None,
) -> BacktestJob:
    job = job_build(request, user_id=user_id, kind=kind, parent=parent, options=options)
    job.save(using=ALIAS, force_insert=True)
    return job


def job_build(
    request: BacktestRequest,
    *,
    user_id: int | None = None,
    kind: str = BacktestJob.Kind.SINGLE,
    parent: BacktestJob | None = None,
    options: dict[str, object] | None = None,
) -> BacktestJob:
    """A validated job, not yet saved (an optimisation inserts its trials in one statement)."""
    strategy = validate(request)
    return BacktestJob(
        kind=kind,
        parent=parent,
        user_id=user_id,
        strategy=request.strategy,
        params=strategy.params,
        exchange=request.exchange,
        symbol=request.symbol,
        symbols=list(request.symbols),
        timeframe=request.timeframe,
        start=request.start,
        end=request.end,
        initial_cash=request.initial_cash,
        commission=request.commission,
        slippage=request.slippage,
        fill_at=request.fill_at,
        engine=request.engine,
        options=options or {},
    )


def request_of(job: BacktestJob) -> BacktestRequest:
    return BacktestRequest(
        strategy=job.strategy,
        params=dict(job.params),
        exchange=job.exchange,
        symbol=job.symbol,
        timeframe=job.timeframe,
        start=job.start,
        end=job.end,
        initial_cash=job.initial_cash,
        commission=job.commission,
        slippage=job.slippage,
        fill_at=job.fill_at,
        engine=job.engine,
        symbols=tuple(job.symbols),
    )


def job_execute(
    job_id: str,
    *,
    on_progress: Callable[[float], None] | None = None,
    timings: dict[str, float] | None = None,
) -> BacktestJob:
    """Run a queued job to completion. Safe to call again after a crash: a finished job is left alone.

    A single backtest keeps everything (trades, equity curve, report, lookahead check); an optimisation
    trial keeps its metrics only, since hundreds of trials are ranked and only the best one is looked at.
    `timings` receives the seconds of "run" (bars, engine, metrics, lookahead check) and "report" (the
    HTML report and the stored results)."""
    started = time.perf_counter()
    job = BacktestJob.objects.using(ALIAS).get(pk=job_id)
    if job.status == BacktestJob.Status.SUCCEEDED:
        return job
    job.status, job.started_at, job.error = BacktestJob.Status.RUNNING, datetime.now(UTC), ""
    job.save(using=ALIAS, update_fields=["status", "started_at", "error"])
    try:
        outcome = run_request(request_of(job), on_progress=on_progress)
        analysis: dict[str, object] = {}
        full = job.kind == BacktestJob.Kind.SINGLE
        if full:
            checks = [
                detect_lookahead(strategy_build(job.strategy, job.params), bars)
                for bars in (outcome.bars_by_symbol.values() if job.symbols else [outcome.bars])
            ]
            analysis["lookahead"] = {
                "checked_points": sum(bias.checked_points for bias in checks),
                "has_bias": any(bias.has_bias for bias in checks),
                "biased_indicators": sorted({name for bias in checks for name in bias.biased_indicators}),
                "decisions_changed": sum(bias.decisions_changed for bias in checks),
            }
        traded = ", ".join(job.symbols) if job.symbols else job.symbol
        report_settings: dict[str, object] = {
            "engine": outcome.result.path,
            "commission": str(job.commission),
            "slippage": str(job.slippage),
            "fill at": job.fill_at,
            "initial cash": str(job.initial_cash),
        }
        if job.symbols:
            report_settings["portfolio"] = "one shared cash account; targets are fractions of its equity"
        reported = time.perf_counter()
        report = (
            render_report(
                title=f"{job.strategy} {job.params} on {job.exchange} {traded} {job.timeframe}",
                bars=outcome.bars,
                equity=outcome.result.equity,
                trades=outcome.result.trades,
                trade_symbols=outcome.trade_symbols or None,
                metrics=outcome.metrics.as_dict(),
                settings=report_settings,
            )
            if full
            else ""
        )
        _store(job, outcome, report, analysis, with_details=full)
        if timings is not None:
            timings["run"], timings["report"] = reported - started, time.perf_counter() - reported
    except Exception as exc:
        log.warning("backtest_failed", job_id=str(job.pk), error=repr(exc))
        job.status, job.error, job.finished_at = BacktestJob.Status.FAILED, str(exc)[:4000], datetime.now(UTC)
        job.save(using=ALIAS, update_fields=["status", "error", "finished_at"])
        raise
    return job


def _decimal(value: float, places: Decimal) -> Decimal:
    return Decimal(repr(value)).quantize(places)


def _store(
    job: BacktestJob, outcome: RunOutcome, report: str, analysis: dict[str, object], *, with_details: bool
) -> None:
    bars, result = outcome.bars, outcome.result
    times = bars.time_ms.astype("datetime64[ms]").astype(datetime)
    report_path = ""
    if report:
        directory = settings.STATE_DIR / "reports" / "backtests"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{job.pk}.html"
        path.write_text(report)
        report_path = str(path)
    with transaction.atomic(using=ALIAS):
        BacktestTrade.objects.using(ALIAS).filter(job=job).delete()
        trades = result.trades if with_details else []
        symbols = outcome.trade_symbols or [job.symbol] * len(trades)
        BacktestTrade.objects.using(ALIAS).bulk_create(
            BacktestTrade(
                job=job,
                sequence=number,
                symbol=symbols[number],
                side=trade.side,
                entry_time=times[trade.entry_index].replace(tzinfo=UTC),
                exit_time=times[trade.exit_index].replace(tzinfo=UTC),
                qty=_decimal(trade.qty, QTY_PLACES),
                entry_price=_decimal(trade.entry_price, PRICE_PLACES),
                exit_price=_decimal(trade.exit_price, PRICE_PLACES),
                pnl=_decimal(trade.pnl, PRICE_PLACES),
                return_pct=trade.return_pct,
                fees=_decimal(trade.fees, PRICE_PLACES),
                exit_reason=trade.exit_reason,
            )
            for number, trade in enumerate(trades)
        )
        BacktestResult.objects.using(ALIAS).update_or_create(
            job=job,
            defaults={
                "metrics": json_safe(outcome.metrics.as_dict()),
                "analysis": analysis,
                "equity": result.equity.astype("<f8").tobytes() if with_details else b"",
                "bar_times": bars.time_ms.astype("<i8").tobytes() if with_details else b"",
                "report_path": report_path,
            },
        )
        job.status, job.progress, job.finished_at = BacktestJob.Status.SUCCEEDED, 1.0, datetime.now(UTC)
        job.engine_used = result.path
        job.save(using=ALIAS, update_fields=["status", "progress", "finished_at", "engine_used"])


def json_safe(metrics: dict[str, float | int]) -> dict[str, float | int | str]:
    """JSON has no infinity: an infinite ratio (no losing trade) is stored as the string 'inf'."""
    return {
        key: (str(value) if isinstance(value, float) and not np.isfinite(value) else value)
        for key, value in metrics.items()
    }


def job_summary(job: BacktestJob) -> BacktestSummary:
    result = BacktestResult.objects.using(ALIAS).filter(job=job).only("metrics", "report_path").first()
    return BacktestSummary(
        job_id=str(job.pk),
        kind=job.kind,
        status=BacktestStatus(job.status),
        request=request_of(job),
        progress=job.progress,
        metrics={key: float(value) for key, value in result.metrics.items()} if result else None,
        engine_used=job.engine_used,
        error=job.error,
        created_at=job.created_at,
        finished_at=job.finished_at,
        report_available=bool(result and result.report_path),
    )


def job_trades(job: BacktestJob) -> list[BacktestTradeView]:
    return [
        BacktestTradeView(
            t.entry_time,
            t.exit_time,
            t.side,
            t.qty,
            t.entry_price,
            t.exit_price,
            t.pnl,
            t.return_pct,
            t.fees,
            t.exit_reason,
            t.symbol or job.symbol,
        )
        for t in BacktestTrade.objects.using(ALIAS).filter(job=job).order_by("sequence")
    ]
