"""Dramatiq actors and event handlers of the ml domain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dramatiq
from django.db import transaction

from dsta.data.events import CandleClosed
from dsta.events.trading import BotStateChanged  # trading's event class; ml never imports trading itself
from dsta.kernel.events import EventEnvelope
from dsta.kernel.handlers import event_batch_handler, event_handler
from dsta.ml import services
from dsta.ml.contracts import TrainingJobInfo

ML_QUEUE = "ml"


@dramatiq.actor(queue_name=ML_QUEUE, max_retries=2, min_backoff=1_000, time_limit=3_600_000)
def training_job_execute(job_id: str) -> None:
    services.training_job_run(job_id=job_id)


def training_request(*, wait: bool, **job: Any) -> TrainingJobInfo:
    """The job row commits first, then its message goes out (on commit), so a worker never misses the row.
    `wait` trains in this process instead (small models, tests, the CLI)."""
    with transaction.atomic(using=services.ALIAS):
        info = services.training_job_create(**job)
        if not wait:
            transaction.on_commit(lambda: training_job_execute.send(info.job_id), using=services.ALIAS)
    if wait:
        services.training_job_run(job_id=info.job_id)
    return info


@event_batch_handler(consumer="ml.live_predictions", events=[CandleClosed], using="ml")
def predict_on_candles(envelopes: Sequence[EventEnvelope]) -> None:
    candles = [envelope.decode(CandleClosed) for envelope in envelopes]
    # one read per batch: a close of many markets mostly meets series no model predicts
    predicted = services.live_series(series={(c.exchange, c.symbol, c.timeframe) for c in candles})
    for candle in candles:  # in outbox order
        if (candle.exchange, candle.symbol, candle.timeframe) not in predicted:
            continue
        services.predictions_on_candle(
            exchange=candle.exchange,
            symbol=candle.symbol,
            timeframe=candle.timeframe,
            bar_time=candle.open_time,
            backfill=candle.backfill,
        )


@event_handler(consumer="ml.live_markets", events=[BotStateChanged], using="ml")
def follow_bot_state(envelope: EventEnvelope) -> None:
    """An ml_signal instance started somewhere its model was not trained: predict there too while it runs."""
    state = envelope.decode(BotStateChanged)
    services.live_market_follow(
        instance_id=state.instance_id,
        strategy=state.strategy,
        model_name=state.model_name,
        exchange=state.exchange,
        symbol=state.symbol,
        timeframe=state.timeframe,
        state=state.state,
    )
