"""Event handlers and their exactly-once delivery.

A domain registers a handler in its `actors.py`:

    @event_handler(consumer="trading.candles", events=[CandleClosed], using="trading")
    def on_candle(envelope: EventEnvelope) -> None: ...

A handler whose work is cheaper once per delivered batch than once per event (a portfolio revalued after
a close's marks) takes the batch's new events at once: `@event_batch_handler(...)`, same arguments.

Delivery is at-least-once (the relay may hand an event over twice); the inbox row, written in the same
transaction as the handler's effect, makes the effect happen once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import structlog
from django.db import connections, transaction

from dsta.domains import DOMAIN_BY_ALIAS
from dsta.kernel import metrics, telemetry
from dsta.kernel.events import DomainEvent, EventEnvelope

log = structlog.get_logger(__name__)

Handler = Callable[[EventEnvelope], None]
BatchHandler = Callable[[Sequence[EventEnvelope]], None]


@dataclass(frozen=True)
class Subscription:
    consumer: str
    event_names: frozenset[str]
    using: str
    handler: Handler | BatchHandler
    batch: bool = False  # the handler takes a delivered batch's new events at once, in outbox order


_subscriptions: dict[str, Subscription] = {}


def event_handler(*, consumer: str, events: Iterable[type[DomainEvent]], using: str) -> Callable[[Handler], Handler]:
    """Subscribe by event class, never by name: a misspelt class fails at import, a misspelt name would
    silently never match. A domain below the publisher imports the class from `dsta.events.<domain>`."""
    names = _subscribed_names(consumer, events, using)

    def register(handler: Handler) -> Handler:
        _register(Subscription(consumer, names, using, handler))
        return handler

    return register


def event_batch_handler(
    *, consumer: str, events: Iterable[type[DomainEvent]], using: str
) -> Callable[[BatchHandler], BatchHandler]:
    """`event_handler` for a handler called once per delivered batch with its new events (never an empty list),
    in outbox order, in the transaction that records them in the inbox."""
    names = _subscribed_names(consumer, events, using)

    def register(handler: BatchHandler) -> BatchHandler:
        _register(Subscription(consumer, names, using, handler, batch=True))
        return handler

    return register


def _subscribed_names(consumer: str, events: Iterable[type[DomainEvent]], using: str) -> frozenset[str]:
    if using not in DOMAIN_BY_ALIAS:
        raise ValueError(f"{using!r} is not a domain database alias")
    events = list(events)
    refused = [event for event in events if not (isinstance(event, type) and issubclass(event, DomainEvent))]
    if refused:
        raise TypeError(f"subscribe to DomainEvent classes, not {refused!r} (import them from dsta.events)")
    if not events:
        raise ValueError(f"consumer {consumer!r} subscribes to no event")
    return frozenset(event.event_name for event in events)


def _register(subscription: Subscription) -> None:
    existing = _subscriptions.get(subscription.consumer)
    if existing is not None and existing.handler.__qualname__ != subscription.handler.__qualname__:
        raise ValueError(f"consumer {subscription.consumer!r} is already registered")
    _subscriptions[subscription.consumer] = subscription


def subscriptions() -> list[Subscription]:
    return list(_subscriptions.values())


class DeliveryFailed(RuntimeError):
    """Some events failed; the broker retries the message and the inbox skips what already succeeded."""


def consumer_domains(event_name: str) -> set[str]:
    """The domains with a handler subscribed to `event_name` (the relay sends the event to each one's queue)."""
    return {
        DOMAIN_BY_ALIAS[subscription.using].name
        for subscription in _subscriptions.values()
        if event_name in subscription.event_names
    }


def deliver(envelopes: Sequence[EventEnvelope], *, domain: str | None = None) -> int:
    """Apply every subscribed handler (of `domain` only, when given) to `envelopes` exactly once. Returns the
    number of new effects."""
    applied = 0
    failures: list[str] = []
    for subscription in _subscriptions.values():
        if domain is not None and DOMAIN_BY_ALIAS[subscription.using].name != domain:
            continue
        wanted = [envelope for envelope in envelopes if envelope.name in subscription.event_names]
        if not wanted:
            continue
        try:
            applied += _apply_batch(subscription, wanted)
        except Exception:
            # Retry one by one, so a single poisoned event does not hold back the rest of the batch.
            for envelope in wanted:
                try:
                    applied += _apply_batch(subscription, [envelope])
                except Exception as exc:
                    metrics.EVENT_HANDLER_FAILURES.labels(subscription.consumer).inc()
                    log.exception(
                        "event_handler_failed",
                        consumer=subscription.consumer,
                        event_id=envelope.event_id,
                        event_name=envelope.name,
                        request_id=envelope.context.get("request_id"),
                    )
                    failures.append(f"{subscription.consumer}:{envelope.event_id}: {exc!r}")
    if failures:
        raise DeliveryFailed("; ".join(failures[:10]))
    return applied


_CLAIM_SQL = """
INSERT INTO inbox (consumer, event_id, event_name, processed_at)
SELECT %s, ids.event_id, ids.event_name, now()
FROM unnest(%s::uuid[], %s::text[]) AS ids(event_id, event_name)
ON CONFLICT (consumer, event_id) DO NOTHING
RETURNING event_id
"""


def _apply_batch(subscription: Subscription, envelopes: Sequence[EventEnvelope]) -> int:
    with transaction.atomic(using=subscription.using):
        with connections[subscription.using].cursor() as cursor:
            cursor.execute(
                _CLAIM_SQL,
                [
                    subscription.consumer,
                    [envelope.event_id for envelope in envelopes],
                    [envelope.name for envelope in envelopes],
                ],
            )
            fresh = {str(row[0]) for row in cursor.fetchall()}
        new = [envelope for envelope in envelopes if envelope.event_id in fresh]  # in outbox order
        if subscription.batch:
            if not new:
                return 0
            with telemetry.inbound_context(
                new[0].context,
                span_name=f"handle {len(new)} x {new[0].name}",
                attributes={"consumer": subscription.consumer, "event_id": new[0].event_id, "events": len(new)},
            ):
                subscription.handler(new)  # type: ignore[arg-type]
        else:
            for envelope in new:  # so per-aggregate order holds within a batch
                # The publisher's request id / user id / trace parent: the handler's logs and span join them.
                with telemetry.inbound_context(
                    envelope.context,
                    span_name=f"handle {envelope.name}",
                    attributes={"consumer": subscription.consumer, "event_id": envelope.event_id},
                ):
                    subscription.handler(envelope)  # type: ignore[arg-type]
    for envelope in envelopes:
        if envelope.event_id in fresh:
            metrics.EVENTS_HANDLED.labels(subscription.consumer, envelope.name).inc()
    return len(fresh)
