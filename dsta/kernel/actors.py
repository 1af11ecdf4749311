"""The actors the relay sends events to: one per consuming domain, each on that domain's own queue
(`events_<domain>`). A worker that runs one domain, on its own machine with only its own database, takes that
domain's queue and so only the events its handlers subscribe to (`run_worker --queues events_ml ml`)."""

from __future__ import annotations

from typing import Any

import dramatiq

from dsta.domains import DOMAINS
from dsta.kernel.events import EventEnvelope
from dsta.kernel.handlers import deliver

DeliveryActor = dramatiq.Actor[[list[dict[str, Any]]], None]


def events_queue(domain: str) -> str:
    return f"events_{domain}"  # no dot: dramatiq names a queue's delay queue "<queue>.DQ"


def _delivery_actor(domain: str) -> DeliveryActor:
    def deliver_events(messages: list[dict[str, Any]]) -> None:
        deliver([EventEnvelope.from_message(message) for message in messages], domain=domain)

    declare = dramatiq.actor(
        actor_name=f"deliver_events_{domain}",
        queue_name=events_queue(domain),
        max_retries=12,
        min_backoff=200,
        max_backoff=60_000,
    )
    return declare(deliver_events)


DELIVERY_ACTORS: dict[str, DeliveryActor] = {domain.name: _delivery_actor(domain.name) for domain in DOMAINS}
