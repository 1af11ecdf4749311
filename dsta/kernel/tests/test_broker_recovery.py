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


def idle_consumer(broker: RecoveringRedisBroker, queue_name: str):  # type: ignore[no-untyped-def]
    """A consumer of an empty queue backed off to its longest wait: 1 to 2 s with a 2 s timeout."""
    consumer = broker.consume(queue_name, prefetch=10, timeout=2000)
    assert next(consumer) is None  # the subscription confirmed, the queue found empty
    consumer._idle_polls = 20
    return consumer


def test_an_idle_consumer_is_woken_by_a_message_sent_instead_of_sleeping_out_its_backoff(broker):
    import threading
    import time

    consumer = idle_consumer(broker, "wake_probe")
    timer = threading.Timer(0.2, send, args=(broker, "wake_probe", 1))
    started = time.monotonic()
    timer.start()
    try:
        assert next(consumer) is None  # the wait, cut short by the wake-up
        woken_after = time.monotonic() - started
        proxy = next(consumer)
    finally:
        timer.join()
        consumer.close()
    assert proxy is not None and proxy.args == (0,)
    assert 0.15 < woken_after < 0.9  # sent at 0.2 s; the backoff alone waits 1 s or more


def test_a_message_sent_without_a_wake_up_is_still_found_by_the_next_poll(broker):
    import threading
    import time

    consumer = idle_consumer(broker, "wake_probe_quiet")
    message = Message(queue_name="wake_probe_quiet", actor_name="probe", args=(7,), kwargs={}, options={})
    message = message.copy(options={"redis_message_id": str(uuid.uuid4())})
    # stored as dramatiq's own broker stores it, with no wake-up (a requeue, an older sender)
    quiet = threading.Timer(
        0.2, broker.do_enqueue, args=("wake_probe_quiet", message.options["redis_message_id"], message.encode())
    )
    started = time.monotonic()
    quiet.start()
    try:
        assert next(consumer) is None  # nothing woke it: the whole backoff
        waited = time.monotonic() - started
        proxy = next(consumer)
    finally:
        quiet.join()
        consumer.close()
    assert waited >= 0.95 and proxy is not None and proxy.args == (7,)
