"""The outbox relay under random kill points (hypothesis): relays die before handing a batch over, part way
through it, or after it but before marking it delivered, and the broker may deliver a message twice; a relay
started afterwards takes over the dead ones' leases. Every committed event is then applied exactly once.

A kill is an exception the relay does not catch (BaseException), so nothing after that point runs: no
release of the lease, no mark, as when the process dies."""

from __future__ import annotations

import contextlib
import time

import pytest
from django.db import connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsta.domains import DOMAIN_BY_ALIAS, DOMAINS
from dsta.kernel.events import EventEnvelope
from dsta.kernel.handlers import deliver
from dsta.kernel.relay import Relay
from dsta.kernel.tests.probe import PUBLISH_ALIAS, effect_counts, publish_pings, reset_effects

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
LEASE_SECONDS = 0.3
DOMAIN = DOMAIN_BY_ALIAS[PUBLISH_ALIAS]


class Killed(BaseException):
    """The relay's process died here."""


def sender_killed_after(kill_after: int | None, *, redeliver: bool):  # type: ignore[no-untyped-def]
    def send(messages: list[dict]) -> None:
        for index, message in enumerate(messages):
            if index == kill_after:
                raise Killed
            envelopes = [EventEnvelope.from_message(message)]
            deliver(envelopes)
            if redeliver:
                deliver(envelopes)  # the broker delivered it again (a worker's ack was lost)
        if kill_after is not None:
            raise Killed  # after the hand-off, before the batch is marked delivered

    return send


def undelivered() -> int:
    with connections[PUBLISH_ALIAS].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")
        return int(cursor.fetchone()[0])


rounds = st.lists(
    st.tuples(st.integers(1, 6), st.one_of(st.none(), st.integers(0, 6)), st.booleans()), min_size=1, max_size=4
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=rounds, batch_size=st.integers(1, 5))
def test_every_committed_event_is_applied_once_whatever_the_kill_points(plan, batch_size):
    reset_effects()
    with connections[PUBLISH_ALIAS].cursor() as cursor:
        cursor.execute("DELETE FROM outbox")
    published = 0
    for index, (count, kill_after, redeliver) in enumerate(plan):
        publish_pings(aggregate=f"kill-{index % 2}", start=published, count=count)
        published += count
        relay = Relay(
            domains=[DOMAIN],
            sender=sender_killed_after(kill_after, redeliver=redeliver),
            batch_size=batch_size,
            lease_seconds=LEASE_SECONDS,
            owner=f"doomed-{index}",
        )
        with contextlib.suppress(Killed):
            relay.drain()
    time.sleep(LEASE_SECONDS + 0.1)  # the dead relays' leases run out
    survivor = Relay(
        domains=[DOMAIN], sender=sender_killed_after(None, redeliver=False), lease_seconds=30, owner="survivor"
    )
    survivor.drain()
    assert undelivered() == 0
    assert effect_counts() == (published, published)  # (effects applied, distinct events applied)
