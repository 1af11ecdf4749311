"""Events the ml domain publishes (versioned); `dsta/ml/events.py` re-exports them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dsta.kernel.events import DomainEvent


@dataclass(frozen=True)
class PredictionMade(DomainEvent):
    """A production model's output at a closed bar: a signal a strategy may consume. `probability` is the
    model's confidence in `label` (a float: a score, not money).

    Version 2 adds `backfill`, the flag of the `data.candle_closed` the prediction was made on: a consumer
    that decides on predictions (the bot's ml_signal instances) records a back-filled bar but does not trade
    it, as it does with candles. Version 1 payloads decode with `backfill` false."""

    event_name = "ml.prediction"
    event_version = 2

    prediction_id: str
    model_id: int
    model_name: str
    model_version: int
    kind: str
    exchange: str
    symbol: str
    timeframe: str
    bar_time: datetime
    label: str
    probability: float | None
    output: dict[str, Any]
    backfill: bool = False

    def aggregate_key(self) -> str:
        return f"ml:{self.exchange}:{self.symbol}:{self.timeframe}"
