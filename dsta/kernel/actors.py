"""The one actor the relay sends to: it runs every subscribed handler on a batch of events."""

from __future__ import annotations

from typing import Any

import dramatiq

from dsta.kernel.events import EventEnvelope
from dsta.kernel.handlers import deliver

EVENTS_QUEUE = "events"


@dramatiq.actor(queue_name=EVENTS_QUEUE, max_retries=12, min_backoff=200, max_backoff=60_000)
def deliver_events(messages: list[dict[str, Any]]) -> None:
    deliver([EventEnvelope.from_message(message) for message in messages])
