"""Dramatiq actors of the data domain: market-data sync jobs and report rendering (backtest jobs: in
dsta.data.backtesting.actors, declared by the import below)."""

from __future__ import annotations

from datetime import datetime

import dramatiq
from django.conf import settings
from django.db import transaction

from dsta.data import live, reports, selectors, services, sources
from dsta.data.backtesting import actors as backtesting_actors  # noqa: F401  (declares the backtest actors)
from dsta.data.contracts import IngestionJobInfo, MarketKey

MARKET_DATA_QUEUE = "market_data"
# The live feed's own queue: a long backfill job on `market_data` never delays a closed bar.
MARKET_FEED_QUEUE = "market_feed"


@dramatiq.actor(queue_name=MARKET_FEED_QUEUE, max_retries=0, time_limit=30_000)
def market_data_tick() -> None:
    """Sent by the scheduler: one fetch per tracked market whose next bar has closed."""
    for market in live.markets_due():
        market_data_fetch.send(market.exchange, market.symbol, market.timeframe)


# No retries: the next tick sends the fetch again while the bar is still missing.
@dramatiq.actor(queue_name=MARKET_FEED_QUEUE, max_retries=0, time_limit=600_000)
def market_data_fetch(exchange: str, symbol: str, timeframe: str) -> None:
    live.market_fetch(market=MarketKey(exchange, symbol, timeframe), page_size=settings.DSTA_SYNC_PAGE_SIZE)


@dramatiq.actor(queue_name=MARKET_DATA_QUEUE, max_retries=5, min_backoff=1_000, time_limit=3_600_000)
def ingestion_job_execute(job_id: str) -> None:
    """Run (or resume, after a crash or a retry) one ingestion job from its committed cursor."""
    services.ingestion_job_run(
        job_id=job_id, source=sources.candle_source_default(), page_size=settings.DSTA_SYNC_PAGE_SIZE
    )


@dramatiq.actor(queue_name=MARKET_DATA_QUEUE, max_retries=2, time_limit=600_000)
def report_render_job(report_id: str) -> None:
    reports.report_render(report_id=report_id)


# Requests that become jobs: the row commits first, then the message goes out (on commit), so a worker never
# picks up a job it cannot see; a message lost in between is re-sent by `ingestion_jobs_resume`.


def market_data_sync_request(
    *, exchange: str, symbol: str, timeframe: str, mode: str, start: datetime | None, end: datetime | None
) -> IngestionJobInfo:
    with transaction.atomic(using=services.ALIAS):
        job = services.ingestion_job_create(
            exchange=exchange, symbol=symbol, timeframe=timeframe, mode=mode, start=start, end=end
        )
        transaction.on_commit(lambda: ingestion_job_execute.send(job.id), using=services.ALIAS)
    return job


def ingestion_jobs_resume() -> list[str]:
    """Hand every unfinished job (pending, running when its worker died, failed) to a worker again."""
    job_ids = selectors.ingestion_jobs_unfinished()
    for job_id in job_ids:
        ingestion_job_execute.send(job_id)
    return job_ids


def report_request(
    *, exchange: str, symbols: list[str], timeframe: str, start: datetime | None, end: datetime | None
) -> str:
    with transaction.atomic(using=services.ALIAS):
        report_id = services.report_create(
            exchange=exchange, symbols=symbols, timeframe=timeframe, start=start, end=end
        )
        transaction.on_commit(lambda: report_render_job.send(report_id), using=services.ALIAS)
    return report_id
