"""Dramatiq actors and event handlers of the core domain: notification delivery, and notifications about
other domains' events. Those domains sit above core, so their event classes come from the layer-neutral
`dsta.events` package, never from the domains themselves."""

from __future__ import annotations

import dramatiq

from dsta.core import notifications
from dsta.events.exchange import FillRecorded
from dsta.events.trading import RiskViolationRaised
from dsta.kernel.events import EventEnvelope
from dsta.kernel.handlers import event_handler

NOTIFICATIONS_QUEUE = "notifications"
URGENT_NOTIFICATIONS_QUEUE = "notifications_urgent"


# Retries live inside `deliver` (tenacity, logged per attempt); dramatiq retries only a crashed run.
@dramatiq.actor(actor_name=notifications.DELIVER_ACTOR, queue_name=NOTIFICATIONS_QUEUE, priority=10, max_retries=3)
def deliver_notification(notification_id: int) -> None:
    notifications.deliver(notification_id=notification_id)


@dramatiq.actor(
    actor_name=notifications.DELIVER_URGENT_ACTOR, queue_name=URGENT_NOTIFICATIONS_QUEUE, priority=0, max_retries=3
)
def deliver_notification_urgent(notification_id: int) -> None:
    notifications.deliver(notification_id=notification_id)


@dramatiq.actor(queue_name=NOTIFICATIONS_QUEUE, priority=10, max_retries=0)
def resend_stranded_notifications() -> None:
    notifications.stranded_resend()  # the scheduler runs it again next period: no retries of its own


@event_handler(consumer="core.notify_risk_violations", events=[RiskViolationRaised], using="default")
def on_risk_violation(envelope: EventEnvelope) -> None:
    notifications.notify_event(
        event_name=envelope.name, event_id=envelope.event_id, payload=envelope.payload, priority="critical"
    )


@event_handler(consumer="core.notify_fills", events=[FillRecorded], using="default")
def on_fill(envelope: EventEnvelope) -> None:
    notifications.notify_event(
        event_name=envelope.name, event_id=envelope.event_id, payload=envelope.payload, priority="normal"
    )
