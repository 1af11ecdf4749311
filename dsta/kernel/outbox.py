"""Transactional outbox and inbox.

Each domain owns `<schema>.outbox` and `<schema>.inbox` (concrete subclasses of the abstract models here).
`publish()` writes the event in the caller's transaction, so the event exists if and only if the state
change committed. The relay (relay.py) hands committed rows to the broker; consumers record each event in
their own inbox in the same transaction as their effect, so a redelivered event has no second effect.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, migrations, models

from dsta.domains import DOMAIN_BY_ALIAS
from dsta.kernel import telemetry
from dsta.kernel.clock import utc_now
from dsta.kernel.events import DomainEvent, to_jsonable
from dsta.kernel.sql import Statement, execute_pipelined, table_storage

NOTIFY_CHANNEL = "dsta_outbox"
# The publisher's context (request id, user id, trace parent) rides in the stored payload under this key;
# the relay moves it to `EventEnvelope.context`, so consumers never see it in the payload.
CONTEXT_KEY = "_context"

PublishListener = Callable[[DomainEvent], None]
_publish_listeners: list[PublishListener] = []


def add_publish_listener(listener: PublishListener) -> None:
    """Call `listener(event)` for every event published (metrics). It runs in the publisher's transaction and
    must be cheap and never raise."""
    if listener not in _publish_listeners:
        _publish_listeners.append(listener)


def _stored_payload(event: DomainEvent, context: dict[str, Any]) -> str:
    payload = to_jsonable(event)
    if context:
        payload[CONTEXT_KEY] = context
    return json.dumps(payload, separators=(",", ":"))


def split_stored_payload(payload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(event payload, publisher context) of a stored row; rows stored without a context give {}."""
    if CONTEXT_KEY not in payload:
        return payload, {}
    payload = dict(payload)
    context = payload.pop(CONTEXT_KEY)
    return payload, context if isinstance(context, dict) else {}


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
                name="%(app_label)s_outbox_in_flight",
                condition=models.Q(delivered_at__isnull=True, dead_lettered_at__isnull=True, attempts__gt=0),
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


def tune_outbox_storage() -> migrations.RunSQL:
    """Migration step for each domain: an outbox is a queue whose rows are updated twice and then purged,
    so vacuum it early and often, or dead row versions pile up under the claim query's index scans."""
    return table_storage(
        "outbox",
        autovacuum_vacuum_scale_factor=0.0,
        autovacuum_vacuum_threshold=2000,
        autovacuum_vacuum_cost_delay=0,
        fillfactor=70,
    )


# One round trip: take the aggregate's transaction-scoped advisory lock, then insert (the INSERT reads from
# the lock's row, so the id is drawn after the lock is held), then queue a NOTIFY that Postgres sends only
# if the transaction commits.
_INSERT_SQL = """
WITH locked AS (SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0))),
inserted AS (
    INSERT INTO outbox (event_id, name, version, aggregate_key, payload, occurred_at, available_at,
                        attempts, last_error)
    SELECT %(event_id)s, %(name)s, %(version)s, %(key)s, %(payload)s::jsonb, now(), now(), 0, ''
    FROM locked
    RETURNING id
)
SELECT id, pg_notify(%(channel)s, %(domain)s) FROM inserted
"""


# The batch form: lock every aggregate key of the batch (sorted, so two batches never deadlock), then insert
# all rows in the given order; the count(*) forces every lock to be taken before the first id is drawn.
_INSERT_MANY_SQL = """
WITH locked AS (
    SELECT pg_advisory_xact_lock(hashtextextended(key, 0))
    FROM (SELECT DISTINCT unnest(%(keys)b::text[]) AS key ORDER BY 1) AS keys
),
inserted AS (
    INSERT INTO outbox (event_id, name, version, aggregate_key, payload, occurred_at, available_at,
                        attempts, last_error)
    SELECT e.event_id, e.name, e.version, e.key, e.payload::jsonb, now(), now(), 0, ''
    FROM unnest(%(event_ids)b::uuid[], %(names)b::text[], %(versions)b::int[],
                %(keys)b::text[], %(payloads)b::text[])
         WITH ORDINALITY AS e(event_id, name, version, key, payload, position),
         (SELECT count(*) FROM locked) AS all_locked
    ORDER BY e.position
    RETURNING id
)
SELECT count(*), pg_notify(%(channel)s, %(domain)s) FROM inserted
"""


def _open_domain_connection(using: str):  # type: ignore[no-untyped-def]
    domain = DOMAIN_BY_ALIAS.get(using)
    if domain is None:
        raise OutboxError(f"{using!r} is not a domain database alias")
    connection = connections[using]
    if not connection.in_atomic_block:
        raise OutboxError("publish() must run inside transaction.atomic(using=...) with the state change")
    return domain, connection


def publish_many(events: Sequence[DomainEvent], *, using: str, along_with: Sequence[Statement] = ()) -> list[uuid.UUID]:
    """`publish()` for a batch in one round trip (bulk state changes: a sync closing many bars, an
    algorithm slicing an order). Same guarantees: same transaction, commit order per aggregate key.

    `along_with` are the caller's own writes, sent in the same round trip just before the events are stored:
    the state change and its events in one trip."""
    return publish_along(events, using=using, along_with=along_with)[0]


def publish_along(
    events: Sequence[DomainEvent], *, using: str, along_with: Sequence[Statement]
) -> tuple[list[uuid.UUID], list[list[tuple[Any, ...]]]]:
    """`publish_many`, also returning the rows each `along_with` statement returned (an insert's new id)."""
    domain, connection = _open_domain_connection(using)
    if not events:
        return [], execute_pipelined(using=using, statements=along_with)
    event_ids = [uuid.uuid4() for _ in events]
    with telemetry.span("outbox.publish", {"dsta.events": len(events), "dsta.domain": domain.name}):
        context = telemetry.outbound_context()
        payloads = [_stored_payload(event, context) for event in events]
    for event in events:
        for listener in _publish_listeners:
            listener(event)
    params = {
        "event_ids": event_ids,
        "names": [event.event_name for event in events],
        "versions": [event.event_version for event in events],
        "keys": [event.aggregate_key() for event in events],
        "payloads": payloads,
        "channel": NOTIFY_CHANNEL,
        "domain": domain.name,
    }
    rows = execute_pipelined(using=using, statements=[*along_with, (_INSERT_MANY_SQL, params)])
    return event_ids, rows[:-1]


def publish(event: DomainEvent, *, using: str) -> uuid.UUID:
    """Store `event` in the outbox of the domain behind `using`, inside the caller's open transaction.

    Events sharing an aggregate key are serialised by a transaction-scoped advisory lock, so their outbox
    order is their commit order and the relay can deliver them in that order.
    """
    domain, connection = _open_domain_connection(using)
    event_id = uuid.uuid4()
    aggregate_key = event.aggregate_key()
    with telemetry.span("outbox.publish", {"dsta.event": event.event_name, "dsta.domain": domain.name}):
        payload = _stored_payload(event, telemetry.outbound_context())
        with connection.cursor() as cursor:
            cursor.execute(
                _INSERT_SQL,
                {
                    "key": aggregate_key,
                    "event_id": event_id,
                    "name": event.event_name,
                    "version": event.event_version,
                    "payload": payload,
                    "channel": NOTIFY_CHANNEL,
                    "domain": domain.name,
                },
            )
    for listener in _publish_listeners:
        listener(event)
    return event_id
