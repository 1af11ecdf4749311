"""The Redis broker requeues a worker's orphaned unacked messages (kernel/broker_redis.py), on the real Redis
named by REDIS_URL, in a namespace of the test's own. The fault itself (a Redis restart under a live worker)
is tests/reliability/test_broker_reconnect.py; these pin the bookkeeping, fast."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings
from dramatiq import Message

from dsta.kernel.broker_redis import RecoveringRedisBroker

QUEUE = "recovery_probe"


@pytest.fixture
def broker(redis_client) -> Iterator[RecoveringRedisBroker]:
    namespace = f"dsta-test-recovery-{uuid.uuid4().hex}"
    yield RecoveringRedisBroker(url=settings.REDIS_URL, namespace=namespace, reconcile_seconds=3600)
    for key in redis_client.scan_iter(f"{namespace}:*"):
        redis_client.delete(key)


def send(broker: RecoveringRedisBroker, queue_name: str, count: int) -> set[str]:
    messages = [
        Message(queue_name=queue_name, actor_name="probe", args=(n,), kwargs={}, options={}) for n in range(count)
    ]
    for message in messages:
        broker.enqueue(message)
    return {message.message_id for message in messages}


def drain(consumer) -> list:  # type: ignore[no-untyped-def]
    received = []
    while (proxy := next(consumer)) is not None:
        received.append(proxy)
    return received


def test_a_fetch_whose_reply_was_lost_is_requeued_when_the_next_consumer_starts(broker):
    sent = send(broker, QUEUE, 3)
    broker.do_fetch(QUEUE, 3)  # ids moved to the ack set, the reply never reached the worker
    assert len(broker.unacked_ids(QUEUE)) == 3

    received = drain(broker.consume(QUEUE, prefetch=10, timeout=10))
    assert {proxy.message_id for proxy in received} == sent
    consumer = broker.consume(QUEUE, prefetch=10, timeout=10)
    for proxy in received:
        consumer.ack(proxy)
    assert broker.unacked_ids(QUEUE) == set()


def test_messages_the_worker_still_holds_are_not_requeued_by_a_reconnect(broker):
    sent = send(broker, QUEUE, 2)
    held = drain(broker.consume(QUEUE, prefetch=10, timeout=10))  # e.g. running in the worker's threads
    assert {proxy.message_id for proxy in held} == sent

    reconnected = broker.consume(QUEUE, prefetch=10, timeout=10)
    assert drain(reconnected) == []  # nothing requeued: no message runs twice
    assert len(broker.unacked_ids(QUEUE)) == 2
    for proxy in held:
        reconnected.ack(proxy)  # the late ack of a message fetched before the reconnect
    assert broker.unacked_ids(QUEUE) == set()


def test_a_delay_queue_consumer_gets_back_the_delayed_messages_dropped_by_its_predecessor(broker):
    delay_queue = f"{QUEUE}.DQ"
    sent = send(broker, delay_queue, 4)
    assert {proxy.message_id for proxy in drain(broker.consume(delay_queue, prefetch=10, timeout=10))} == sent
    # dramatiq empties a delay queue's consumer when it reconnects: the next one must fetch them again
    again = drain(broker.consume(delay_queue, prefetch=10, timeout=10))
    assert {proxy.message_id for proxy in again} == sent
    assert len(broker.unacked_ids(delay_queue)) == 4
