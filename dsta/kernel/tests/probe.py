"""A probe event and handler for outbox tests and the benchmark. The effect table deliberately has no unique
key, so a handler applied twice shows up as two rows: only the inbox stands between redelivery and a
duplicated effect."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections, transaction

from dsta.kernel.events import DomainEvent, EventEnvelope
from dsta.kernel.handlers import event_handler
from dsta.kernel.outbox import publish, publish_many

EFFECT_ALIAS = "default"  # core's schema holds the effect table
PUBLISH_ALIAS = "data"  # events come out of data's outbox

CREATE_EFFECT_TABLE = """
CREATE TABLE IF NOT EXISTS probe_effect (
    event_id uuid NOT NULL,
    aggregate text NOT NULL,
    seq integer NOT NULL,
    sent_at timestamptz NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""


@dataclass(frozen=True)
class ProbePing(DomainEvent):
    event_name = "probe.ping"
    event_version = 1

    aggregate: str
    seq: int
    sent_at: str

    def aggregate_key(self) -> str:
        return self.aggregate


@event_handler(consumer="probe.effects", events=[ProbePing], using=EFFECT_ALIAS)
def apply_probe(envelope: EventEnvelope) -> None:
    with connections[EFFECT_ALIAS].cursor() as cursor:
        cursor.execute(
            "INSERT INTO probe_effect (event_id, aggregate, seq, sent_at) VALUES (%s, %s, %s, %s)",
            [envelope.event_id, envelope.payload["aggregate"], envelope.payload["seq"], envelope.payload["sent_at"]],
        )


def reset_effects() -> None:
    with connections[EFFECT_ALIAS].cursor() as cursor:
        cursor.execute(CREATE_EFFECT_TABLE)
        cursor.execute("TRUNCATE probe_effect")
        cursor.execute("DELETE FROM inbox WHERE consumer = 'probe.effects'")


def publish_pings(*, aggregate: str, start: int, count: int, batch: bool = False) -> None:
    """Publish `count` pings in one transaction of the data domain, one by one or as one batch."""
    with transaction.atomic(using=PUBLISH_ALIAS), connections[PUBLISH_ALIAS].cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        now = cursor.fetchone()[0].isoformat()
        pings = [ProbePing(aggregate=aggregate, seq=seq, sent_at=now) for seq in range(start, start + count)]
        if batch:
            publish_many(pings, using=PUBLISH_ALIAS)
        else:
            for ping in pings:
                publish(ping, using=PUBLISH_ALIAS)


def effect_counts() -> tuple[int, int]:
    """(effects applied, distinct events applied)."""
    with connections[EFFECT_ALIAS].cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT event_id) FROM probe_effect")
        return cursor.fetchone()
