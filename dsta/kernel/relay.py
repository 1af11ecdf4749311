"""The outbox relay: moves committed events from every domain's outbox to the broker.

Claiming is a short transaction per outbox: `FOR UPDATE SKIP LOCKED` plus a lease (owner, expiry) and an
attempt count, under a per-outbox advisory lock so concurrent relays claim one after the other and never
both take the same row. A row whose predecessor on the same aggregate key is leased elsewhere or backing
off waits, so one aggregate's events go out in commit order. After the broker accepted a batch, the rows
are marked delivered; a crash in between means redelivery, which the consumers' inboxes absorb. Failed
hand-offs back off exponentially with jitter and are dead-lettered after `max_attempts`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections, transaction

from dsta.domains import DOMAINS, Domain
from dsta.kernel import metrics
from dsta.kernel.events import EventEnvelope
from dsta.kernel.outbox import NOTIFY_CHANNEL, split_stored_payload

log = structlog.get_logger(__name__)

Sender = Callable[[list[dict[str, Any]]], None]
MESSAGE_CHUNK = 250
DELIVERED_RETENTION_HOURS = 72
# Errors that mean the database went away, not that a statement is wrong: the relay reconnects on these.
DATABASE_GONE = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)
RECONNECT_FIRST_PAUSE_SECONDS = 0.5
RECONNECT_MAX_PAUSE_SECONDS = 5.0

_CLAIM_SQL = """
UPDATE outbox AS o
SET lease_owner = %(owner)s,
    lease_expires_at = now() + make_interval(secs => %(lease)s),
    attempts = o.attempts + 1
FROM (
    SELECT c.id FROM outbox AS c
    WHERE c.delivered_at IS NULL AND c.dead_lettered_at IS NULL
      AND c.available_at <= now()
      AND (c.lease_expires_at IS NULL OR c.lease_expires_at < now())
      -- A predecessor that blocks has been tried (attempts > 0): leased elsewhere or backing off. Only
      -- such "in flight" rows are looked at, through a small partial index, however long the backlog.
      AND NOT EXISTS (
          SELECT 1 FROM outbox AS p
          WHERE p.aggregate_key = c.aggregate_key AND p.id < c.id
            AND p.delivered_at IS NULL AND p.dead_lettered_at IS NULL AND p.attempts > 0
            AND (p.available_at > now() OR p.lease_expires_at >= now()))
    ORDER BY c.id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) AS claimable
WHERE o.id = claimable.id
RETURNING o.id, o.event_id, o.name, o.version, o.aggregate_key, o.occurred_at, o.payload
"""

_MARK_DELIVERED_SQL = """
UPDATE outbox SET delivered_at = now(), lease_owner = NULL, lease_expires_at = NULL
WHERE id = ANY(%s) AND lease_owner = %s
"""

_RELEASE_FAILED_SQL = """
UPDATE outbox
SET lease_owner = NULL, lease_expires_at = NULL, last_error = %(error)s,
    available_at = now() + make_interval(
        secs => LEAST(%(cap)s, %(base)s * power(2, GREATEST(attempts - 1, 0))) * (0.5 + random() / 2)),
    dead_lettered_at = CASE WHEN attempts >= %(max_attempts)s THEN now() END
WHERE id = ANY(%(ids)s) AND lease_owner = %(owner)s
"""


def delivery_batches(messages: Sequence[dict[str, Any]], *, partitions: int) -> list[tuple[str, list[dict[str, Any]]]]:
    """The broker messages that carry one relay batch: (consuming domain, events). Per domain the events are
    split by aggregate key into at most `partitions` parts, each cut into chunks of MESSAGE_CHUNK, so several
    workers can handle one batch at once. A key always falls in the same part (a stable hash, the same in
    every relay process) and a part keeps outbox order, so one aggregate's events stay in commit order within
    a batch; an event nobody consumes is in no message (and is marked delivered)."""
    from dsta.kernel.handlers import consumer_domains

    parts: dict[tuple[str, int], list[dict[str, Any]]] = {}
    routes: dict[str, set[str]] = {}
    for message in messages:
        if message["name"] not in routes:
            routes[message["name"]] = consumer_domains(message["name"])
        part = zlib.crc32(message["aggregate_key"].encode()) % partitions if partitions > 1 else 0
        for domain in sorted(routes[message["name"]]):
            parts.setdefault((domain, part), []).append(message)
    return [
        (domain, batch[start : start + MESSAGE_CHUNK])
        for (domain, _), batch in parts.items()
        for start in range(0, len(batch), MESSAGE_CHUNK)
    ]


def send_to_broker(messages: list[dict[str, Any]]) -> None:
    """Each event to the queue of every domain that consumes it (see `delivery_batches`)."""
    from dsta.kernel.actors import DELIVERY_ACTORS

    for domain, batch in delivery_batches(messages, partitions=settings.OUTBOX_PARTITIONS):
        DELIVERY_ACTORS[domain].send(batch)


@dataclass
class RelayStats:
    delivered: int = 0
    failed: int = 0


class Relay:
    def __init__(
        self,
        *,
        domains: Sequence[Domain] = DOMAINS,
        sender: Sender = send_to_broker,
        batch_size: int | None = None,
        lease_seconds: float | None = None,
        max_attempts: int | None = None,
        backoff_base_seconds: float = 0.5,
        backoff_cap_seconds: float = 300.0,
        owner: str | None = None,
    ) -> None:
        self.domains = tuple(domains)
        self.sender = sender
        self.batch_size = batch_size or settings.OUTBOX_BATCH_SIZE
        self.lease_seconds = lease_seconds or settings.OUTBOX_LEASE_SECONDS
        self.max_attempts = max_attempts or settings.OUTBOX_MAX_ATTEMPTS
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        self.stats = RelayStats()
        self._last_purge = 0.0
        self._reconnect_pause = RECONNECT_FIRST_PAUSE_SECONDS

    def claim(self, domain: Domain) -> list[EventEnvelope]:
        with transaction.atomic(using=domain.alias), connections[domain.alias].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"outbox-claim:{domain.schema}"])
            cursor.execute(_CLAIM_SQL, {"owner": self.owner, "lease": self.lease_seconds, "limit": self.batch_size})
            rows = sorted(cursor.fetchall())
        envelopes = []
        for row_id, event_id, name, version, aggregate_key, occurred_at, stored in rows:
            payload, context = split_stored_payload(json.loads(stored) if isinstance(stored, str) else stored)
            envelopes.append(
                EventEnvelope(
                    event_id=str(event_id),
                    name=name,
                    version=version,
                    source=domain.name,
                    aggregate_key=aggregate_key,
                    occurred_at=occurred_at.isoformat(),
                    payload=payload,
                    sequence=row_id,
                    context=context,
                )
            )
        return envelopes

    def relay_batch(self, domain: Domain) -> int:
        """Claim one batch from `domain`'s outbox and hand it to the broker. Returns rows handed over."""
        envelopes = self.claim(domain)
        if not envelopes:
            return 0
        ids = [envelope.sequence for envelope in envelopes]
        try:
            self.sender([envelope.as_message() for envelope in envelopes])
        except Exception as exc:
            log.warning("outbox_handoff_failed", domain=domain.name, events=len(ids), error=repr(exc))
            with connections[domain.alias].cursor() as cursor:
                cursor.execute(
                    _RELEASE_FAILED_SQL,
                    {
                        "error": repr(exc)[:2000],
                        "cap": self.backoff_cap_seconds,
                        "base": self.backoff_base_seconds,
                        "max_attempts": self.max_attempts,
                        "ids": ids,
                        "owner": self.owner,
                    },
                )
            self.stats.failed += len(ids)
            metrics.OUTBOX_HANDOFF_FAILURES.labels(domain.schema).inc(len(ids))
            return 0
        with connections[domain.alias].cursor() as cursor:
            cursor.execute(_MARK_DELIVERED_SQL, [ids, self.owner])
        self.stats.delivered += len(ids)
        metrics.OUTBOX_RELAYED.labels(domain.schema).inc(len(ids))
        return len(ids)

    def drain(self, domains: Sequence[Domain] | None = None) -> int:
        """Relay until the given outboxes have nothing claimable. Returns rows handed over."""
        total = 0
        pending = list(domains or self.domains)
        while pending:
            still_full = []
            for domain in pending:
                moved = self.relay_batch(domain)
                total += moved
                if moved >= self.batch_size:
                    still_full.append(domain)
            pending = still_full
        return total

    def purge_delivered(self) -> None:
        for domain in self.domains:
            with connections[domain.alias].cursor() as cursor:
                cursor.execute(
                    "DELETE FROM outbox WHERE delivered_at < now() - make_interval(hours => %s)",
                    [DELIVERED_RETENTION_HOURS],
                )

    def run_forever(self, stop: threading.Event, *, poll_seconds: float | None = None) -> None:
        """Drain, then sleep until NOTIFY says a domain committed events, or the poll interval passes.

        When the database goes away (a restart, a failover, a dropped connection), every connection is
        dropped and the loop starts over with backoff: nothing is lost meanwhile, because a batch claimed
        but not marked delivered is taken over again once its lease expires."""
        poll_seconds = poll_seconds or settings.OUTBOX_POLL_SECONDS
        log.info("relay_started", owner=self.owner, domains=[domain.name for domain in self.domains])
        while not stop.is_set():
            try:
                self._relay_until_stopped(stop, poll_seconds)
            except DATABASE_GONE as exc:
                log.warning("relay_database_unavailable", error=repr(exc), retry_in_seconds=self._reconnect_pause)
                self._drop_connections()
                stop.wait(self._reconnect_pause)
                self._reconnect_pause = min(self._reconnect_pause * 2, RECONNECT_MAX_PAUSE_SECONDS)
        log.info("relay_stopped", owner=self.owner, delivered=self.stats.delivered)

    def _relay_until_stopped(self, stop: threading.Event, poll_seconds: float) -> None:
        by_name = {domain.name: domain for domain in self.domains}
        listener = self._listen()
        heartbeat = metrics.Heartbeat("relay", every=1.0)  # one Redis write a second at most: a cycle finished
        log.info("relay_started", owner=self.owner, domains=list(by_name))
        try:
            self.drain()
            self._reconnect_pause = RECONNECT_FIRST_PAUSE_SECONDS  # connected and working again
            while not stop.is_set():
                heartbeat.beat()
                woken: set[str] = set()
                for notify in listener.notifies(timeout=poll_seconds, stop_after=1):
                    woken.add(notify.payload)
                # Collect notifications that arrived meanwhile without blocking again.
                for notify in listener.notifies(timeout=0):
                    woken.add(notify.payload)
                targets = [by_name[name] for name in woken if name in by_name] or list(self.domains)
                self.drain(targets)
                if time.monotonic() - self._last_purge > 600:
                    self.purge_delivered()
                    self._last_purge = time.monotonic()
        finally:
            heartbeat.stop()
            with contextlib.suppress(psycopg.Error):
                listener.close()
            log.info("relay_stopped", owner=self.owner, delivered=self.stats.delivered)

    def _drop_connections(self) -> None:
        for domain in self.domains:
            with contextlib.suppress(DatabaseError):
                connections[domain.alias].close()

    def _listen(self) -> psycopg.Connection:
        params = connections[self.domains[0].alias].get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        listener = psycopg.connect(**params, autocommit=True)
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return listener
