"""Outbox, relay and inbox against the real Postgres, in one process (several threads where it matters)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest
from django.db import connections, transaction

from dsta.domains import DOMAIN_BY_NAME, DOMAINS
from dsta.kernel.handlers import deliver
from dsta.kernel.outbox import OutboxError, publish
from dsta.kernel.relay import Relay
from dsta.kernel.tests.probe import PUBLISH_ALIAS, ProbePing, effect_counts, publish_pings, reset_effects

ALL = [domain.alias for domain in DOMAINS]
DATA = DOMAIN_BY_NAME["data"]
pytestmark = pytest.mark.django_db(databases=ALL, transaction=True)


class Recorder:
    """A sender that keeps what it was handed, in hand-off order, across threads."""

    def __init__(self, fail_first: int = 0, fail_names: tuple[str, ...] = ()):
        self.batches: list[tuple[str, list[dict]]] = []
        self.lock = threading.Lock()
        self.failures_left = fail_first

    def __call__(self, messages):
        with self.lock:
            if self.failures_left:
                self.failures_left -= 1
                raise ConnectionError("broker unreachable")
            self.batches.append((threading.current_thread().name, list(messages)))

    @property
    def messages(self):
        return [message for _, batch in self.batches for message in batch]


def outbox_rows(columns="id, attempts, delivered_at, dead_lettered_at, last_error"):
    with connections[PUBLISH_ALIAS].cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM outbox ORDER BY id")
        return cursor.fetchall()


def test_publish_outside_a_transaction_is_refused():
    with pytest.raises(OutboxError, match="inside transaction.atomic"):
        publish(ProbePing(aggregate="a", seq=1, sent_at=""), using=PUBLISH_ALIAS)


def test_publish_to_a_non_domain_alias_is_refused():
    with pytest.raises(OutboxError, match="not a domain"), transaction.atomic(using="data"):
        publish(ProbePing(aggregate="a", seq=1, sent_at=""), using="nope")


def test_a_rolled_back_transaction_leaves_no_event():
    with pytest.raises(RuntimeError), transaction.atomic(using=PUBLISH_ALIAS):
        publish(ProbePing(aggregate="a", seq=1, sent_at=""), using=PUBLISH_ALIAS)
        raise RuntimeError("state change failed")
    assert outbox_rows() == []


def test_relay_hands_over_in_commit_order_and_marks_delivered():
    publish_pings(aggregate="x", start=0, count=30)
    publish_pings(aggregate="y", start=0, count=5)
    recorder = Recorder()
    relay = Relay(domains=[DATA], sender=recorder, batch_size=8)
    assert relay.drain() == 35
    assert relay.drain() == 0
    sent = recorder.messages
    assert [m["payload"]["seq"] for m in sent if m["aggregate_key"] == "x"] == list(range(30))
    assert all(m["source"] == "data" and m["name"] == "probe.ping" for m in sent)
    assert all(row[2] is not None and row[1] == 1 for row in outbox_rows())


def test_two_relays_never_hand_over_the_same_row_and_keep_aggregate_order():
    for aggregate in range(20):
        publish_pings(aggregate=f"agg-{aggregate}", start=0, count=50)
    recorder = Recorder()
    relays = [Relay(domains=[DATA], sender=recorder, batch_size=37, owner=f"relay-{n}") for n in range(2)]

    def run(relay):
        try:
            relay.drain()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(relay,), name=relay.owner) for relay in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [m["event_id"] for m in recorder.messages]
    assert len(ids) == len(set(ids)) == 1000
    assert {name for name, _ in recorder.batches} == {"relay-0", "relay-1"}, "both relays should have worked"
    by_aggregate = defaultdict(list)
    for message in recorder.messages:
        by_aggregate[message["aggregate_key"]].append(message["payload"]["seq"])
    assert all(seqs == list(range(50)) for seqs in by_aggregate.values())


def test_failed_handoff_backs_off_then_dead_letters_after_max_attempts():
    publish_pings(aggregate="poison", start=0, count=1)
    recorder = Recorder(fail_first=10**6)
    relay = Relay(domains=[DATA], sender=recorder, max_attempts=3, backoff_base_seconds=0.05, backoff_cap_seconds=0.1)
    relay.drain()
    ((_, attempts, delivered, dead, error),) = outbox_rows()
    assert (attempts, delivered, dead) == (1, None, None) and "broker unreachable" in error
    assert relay.drain() == 0, "still backing off"
    deadline = time.monotonic() + 5
    while outbox_rows()[0][3] is None and time.monotonic() < deadline:
        time.sleep(0.05)
        relay.drain()
    ((_, attempts, delivered, dead, _),) = outbox_rows()
    assert attempts == 3 and delivered is None and dead is not None
    assert recorder.messages == []


def test_successor_waits_while_its_predecessor_backs_off():
    publish_pings(aggregate="k", start=0, count=1)
    publish_pings(aggregate="k", start=1, count=1)
    publish_pings(aggregate="other", start=0, count=1)
    # The first claim takes k#0, k#1 and other#0 together; make it fail once, then retry k#0 after backoff.
    recorder = Recorder(fail_first=1)
    relay = Relay(domains=[DATA], sender=recorder, backoff_base_seconds=0.3, backoff_cap_seconds=0.3)
    relay.drain()
    assert recorder.messages == []
    time.sleep(0.4)
    relay.drain()
    assert [(m["aggregate_key"], m["payload"]["seq"]) for m in recorder.messages] == [("k", 0), ("k", 1), ("other", 0)]


def test_a_lease_held_by_a_dead_relay_is_taken_over_after_it_expires():
    publish_pings(aggregate="z", start=0, count=10)
    crashed = Relay(domains=[DATA], sender=Recorder(), lease_seconds=0.5, owner="crashed")
    assert len(crashed.claim(DATA)) == 10  # claimed, then the process "dies" before handing over
    recorder = Recorder()
    survivor = Relay(domains=[DATA], sender=recorder, owner="survivor")
    assert survivor.drain() == 0, "rows under a live lease are not taken"
    time.sleep(0.6)
    assert survivor.drain() == 10
    assert [m["payload"]["seq"] for m in recorder.messages] == list(range(10))
    assert [row[1] for row in outbox_rows()] == [2] * 10


def relayed_pings(*, aggregate: str, count: int):
    """Fresh effects, then `count` pings published and relayed: the envelopes a worker would be handed."""
    from dsta.kernel.events import EventEnvelope

    reset_effects()
    publish_pings(aggregate=aggregate, start=0, count=count)
    recorder = Recorder()
    Relay(domains=[DATA], sender=recorder).drain()
    return [EventEnvelope.from_message(m) for m in recorder.messages]


def test_inbox_applies_each_event_once_however_often_it_is_delivered():
    envelopes = relayed_pings(aggregate="dup", count=25)
    assert deliver(envelopes) == 25
    assert deliver(envelopes) == 0
    assert deliver(envelopes[5:10] + envelopes[:3]) == 0
    assert effect_counts() == (25, 25)


def test_a_failing_handler_rolls_back_its_own_effect_only(monkeypatch):
    from dsta.kernel import handlers
    from dsta.kernel.tests import probe

    envelopes = relayed_pings(aggregate="p", count=5)
    original = probe.apply_probe

    def poisoned(envelope):
        if envelope.payload["seq"] == 3:
            raise ValueError("cannot apply")
        original(envelope)

    subscription = handlers._subscriptions["probe.effects"]
    monkeypatch.setitem(
        handlers._subscriptions,
        "probe.effects",
        handlers.Subscription(subscription.consumer, subscription.event_names, subscription.using, poisoned),
    )
    with pytest.raises(handlers.DeliveryFailed, match="cannot apply"):
        deliver(envelopes)
    assert effect_counts() == (4, 4)
    monkeypatch.setitem(handlers._subscriptions, "probe.effects", subscription)
    assert deliver(envelopes) == 1  # the broker's retry applies only what was missing
    assert effect_counts() == (5, 5)


def test_publish_many_keeps_the_given_order_within_and_across_batches():
    publish_pings(aggregate="bulk", start=0, count=40, batch=True)
    publish_pings(aggregate="bulk", start=40, count=5)  # single publishes after a batch stay behind it
    publish_pings(aggregate="bulk", start=45, count=15, batch=True)
    recorder = Recorder()
    Relay(domains=[DATA], sender=recorder, batch_size=16).drain()
    assert [m["payload"]["seq"] for m in recorder.messages] == list(range(60))
    assert len({m["event_id"] for m in recorder.messages}) == 60


def test_publish_many_is_atomic_with_the_callers_transaction():
    from dsta.kernel.outbox import publish_many

    with pytest.raises(OutboxError):
        publish_many([ProbePing(aggregate="a", seq=1, sent_at="")], using=PUBLISH_ALIAS)
    with pytest.raises(RuntimeError), transaction.atomic(using=PUBLISH_ALIAS):
        publish_many([ProbePing(aggregate="a", seq=n, sent_at="") for n in range(3)], using=PUBLISH_ALIAS)
        raise RuntimeError("state change failed")
    assert outbox_rows() == []


def candle_messages(keys: int, per_key: int) -> list[dict]:
    """A relay batch as the relay hands it over: `keys` markets' candle events, interleaved, in outbox order."""
    from dsta.kernel.events import EventEnvelope

    return [
        EventEnvelope(
            event_id=f"00000000-0000-0000-0000-{sequence:012d}",
            name="data.candle_closed",
            version=1,
            source="data",
            aggregate_key=f"candles:bench:M{sequence % keys:03d}/USDT:1h",
            occurred_at="2025-01-01T00:00:00+00:00",
            payload={},
            sequence=sequence,
        ).as_message()
        for sequence in range(keys * per_key)
    ]


def test_a_batch_is_split_by_aggregate_key_so_several_workers_share_it_and_each_key_keeps_its_order():
    from dsta.kernel.relay import delivery_batches

    messages = candle_messages(keys=40, per_key=10)
    batches = delivery_batches(messages, partitions=4)
    for domain in ("trading", "ml"):  # both consume candle closes; each gets every event once
        own = [batch for name, batch in batches if name == domain]
        assert 2 <= len(own) <= 4
        assert sorted(m["sequence"] for batch in own for m in batch) == list(range(400))
        home = {}
        for index, batch in enumerate(own):
            assert [m["sequence"] for m in batch] == sorted(m["sequence"] for m in batch)  # outbox order
            for message in batch:
                assert home.setdefault(message["aggregate_key"], index) == index  # a key lives in one message
    assert {name for name, _ in batches} == {"trading", "ml"}
    # the split is the same in every relay process (a stable hash, not Python's salted one)
    assert delivery_batches(messages, partitions=4) == batches


def test_one_partition_sends_a_batch_as_one_message_per_domain_and_chunk_and_nothing_nobody_consumes():
    from dsta.kernel.relay import MESSAGE_CHUNK, delivery_batches

    messages = candle_messages(keys=7, per_key=100)
    batches = delivery_batches(messages, partitions=1)
    trading = [batch for name, batch in batches if name == "trading"]
    assert [len(batch) for batch in trading] == [MESSAGE_CHUNK, MESSAGE_CHUNK, 700 - 2 * MESSAGE_CHUNK]
    assert [m["sequence"] for batch in trading for m in batch] == list(range(700))
    unheard = [{**messages[0], "name": "nobody.listens"}]
    assert delivery_batches(unheard, partitions=4) == []


def test_a_batch_handler_gets_each_new_event_once_in_order_and_a_failure_is_retried_one_by_one(monkeypatch):
    from dsta.kernel import handlers
    from dsta.kernel.tests import probe

    envelopes = relayed_pings(aggregate="b", count=6)
    calls: list[list[int]] = []
    poisoned_seq: list[int] = []

    def batch(new):
        calls.append([envelope.payload["seq"] for envelope in new])
        if any(envelope.payload["seq"] in poisoned_seq for envelope in new):
            raise ValueError("cannot apply")
        for envelope in new:
            probe.apply_probe(envelope)

    subscription = handlers._subscriptions["probe.effects"]
    monkeypatch.setitem(
        handlers._subscriptions,
        "probe.effects",
        handlers.Subscription(subscription.consumer, subscription.event_names, subscription.using, batch, batch=True),
    )
    assert deliver(envelopes[:2]) == 2
    assert deliver(envelopes) == 4, "the redelivered two are not handed over again"
    assert calls == [[0, 1], [2, 3, 4, 5]]
    assert deliver(envelopes) == 0 and len(calls) == 2, "a batch with nothing new never reaches the handler"

    reset_effects()
    calls.clear()
    poisoned_seq.append(3)
    with pytest.raises(handlers.DeliveryFailed, match="cannot apply"):
        deliver(envelopes)
    assert calls == [[0, 1, 2, 3, 4, 5], [0], [1], [2], [3], [4], [5]]
    assert effect_counts() == (5, 5), "only the poisoned event is left for the broker's retry"
