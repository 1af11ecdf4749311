"""Transactional outbox and inbox.

Each domain owns `<schema>.outbox` and `<schema>.inbox` (concrete subclasses of the abstract models here).
`publish()` writes the event in the caller's transaction, so the event exists if and only if the state
change committed. The relay (relay.py) hands committed rows to the broker; consumers record each event in
their own inbox in the same transaction as their effect, so a redelivered event has no second effect.
"""

from __future__ import annotations

import uuid

from django.db import connections, models

from dsta.domains import DOMAIN_BY_ALIAS
from dsta.kernel.clock import utc_now
from dsta.kernel.events import DomainEvent, dumps

NOTIFY_CHANNEL = "dsta_outbox"


class OutboxError(RuntimeError):
    pass


class OutboxEventBase(models.Model):
    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120)
    version = models.PositiveSmallIntegerField(default=1)
    aggregate_key = models.CharField(max_length=200)
    payload = models.JSONField()
    occurred_at = models.DateTimeField(default=utc_now)
    available_at = models.DateTimeField(default=utc_now)
    attempts = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001  (NULL = no lease)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    dead_lettered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        abstract = True
        indexes = [
            models.Index(
                fields=["id"],
                name="%(app_label)s_outbox_pending",
                condition=models.Q(delivered_at__isnull=True, dead_lettered_at__isnull=True),
            ),
            models.Index(
                fields=["aggregate_key", "id"],
                name="%(app_label)s_outbox_agg_pending",
                condition=models.Q(delivered_at__isnull=True, dead_lettered_at__isnull=True),
            ),
            models.Index(fields=["delivered_at"], name="%(app_label)s_outbox_delivered"),
        ]

    def __str__(self) -> str:
        return f"{self.name}#{self.id} ({self.aggregate_key})"


class InboxEntryBase(models.Model):
    id = models.BigAutoField(primary_key=True)
    consumer = models.CharField(max_length=120)
    event_id = models.UUIDField()
    event_name = models.CharField(max_length=120)
    processed_at = models.DateTimeField(default=utc_now)

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(fields=["consumer", "event_id"], name="%(app_label)s_inbox_once"),
        ]

    def __str__(self) -> str:
        return f"{self.consumer} <- {self.event_name} {self.event_id}"


# One statement: insert the event and queue a NOTIFY that Postgres sends only if the transaction commits.
_INSERT_SQL = """
WITH inserted AS (
    INSERT INTO outbox (event_id, name, version, aggregate_key, payload, occurred_at, available_at,
                        attempts, last_error)
    VALUES (%s, %s, %s, %s, %s::jsonb, now(), now(), 0, '')
    RETURNING id
)
SELECT id, pg_notify(%s, %s) FROM inserted
"""


def publish(event: DomainEvent, *, using: str) -> uuid.UUID:
    """Store `event` in the outbox of the domain behind `using`, inside the caller's open transaction.

    Events sharing an aggregate key are serialised by a transaction-scoped advisory lock, so their outbox
    order is their commit order and the relay can deliver them in that order.
    """
    domain = DOMAIN_BY_ALIAS.get(using)
    if domain is None:
        raise OutboxError(f"{using!r} is not a domain database alias")
    connection = connections[using]
    if not connection.in_atomic_block:
        raise OutboxError("publish() must run inside transaction.atomic(using=...) with the state change")
    event_id = uuid.uuid4()
    aggregate_key = event.aggregate_key()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [aggregate_key])
        cursor.execute(
            _INSERT_SQL,
            [
                event_id,
                event.event_name,
                event.event_version,
                aggregate_key,
                dumps(event),
                NOTIFY_CHANNEL,
                domain.name,
            ],
        )
    return event_id
