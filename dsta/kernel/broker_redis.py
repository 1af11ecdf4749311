"""The Redis broker, with unacked messages that cannot be stranded by a Redis restart.

Dramatiq's Redis broker keeps each fetched message id in the worker's ack set until the message is acked. Only
a worker whose heartbeat has stopped gets its ack set requeued by the broker's maintenance. A worker that lives
through a Redis restart keeps beating, so anything it drops from memory stays stranded in its own ack set until
the process restarts:
- the delayed messages it held: dramatiq empties a delay queue's consumer whenever that consumer reconnects, and
  its requeue on close fails while Redis is down;
- a fetch whose reply was lost with the connection (redis-py retries the command, and the first batch of ids
  stays in the ack set, never handed out).

This broker keeps track of the message ids it has handed to the worker and not yet acked, nacked or requeued.
The consumer of each queue compares that record with the ack set in Redis when it starts (that is, after every
reconnect) and every `reconcile_seconds` after, and requeues the difference: the orphans. A message can then
run twice (an orphan whose ack raced the check), never zero times; the inbox drops the duplicate event.

It also wakes idle consumers. Dramatiq's consumer of an empty queue sleeps between polls, backing off up to the
worker's timeout (DSTA: 100 ms), so an idle worker took a new message up to that long after it was sent: on every
hop of an event, and on the second worker of an optimisation's batches. Here each enqueue also publishes on the
queue's wake channel, and an idle consumer waits on that channel for the same backoff instead of sleeping: it
fetches as soon as a message is sent. The backoff stays the bound (a delayed message's eta, a requeue, a
publish missed across a reconnect are found by the next poll, as before).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from dsta.kernel.imports import import_without

# Without opentelemetry.sdk.metrics, which redis-py 8 loads for its opt-in OTel metrics (dsta/kernel/imports.py).
if TYPE_CHECKING:
    import redis
else:
    redis = import_without("redis", ("opentelemetry.sdk.metrics",))
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer  # noqa: E402
from dramatiq.common import compute_backoff  # noqa: E402
from dramatiq.errors import ConnectionClosed  # noqa: E402
from dramatiq.message import Message  # noqa: E402

DELAY_QUEUE_SUFFIX = ".DQ"


class RecoveringRedisBroker(RedisBroker):
    def __init__(self, *, reconcile_seconds: float = 30.0, **options: Any) -> None:
        super().__init__(**options)
        self.reconcile_seconds = reconcile_seconds
        self._handed_out: dict[str, set[str]] = {}
        self._handed_out_lock = threading.Lock()

    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return RecoveringRedisConsumer

    def wake_channel(self, queue_name: str) -> str:
        return f"{self.namespace}:__wake__.{queue_name}"

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        enqueued = super().enqueue(message, delay=delay)
        try:  # the message is stored: a wake-up that fails only leaves it to the consumers' next poll
            self.client.publish(self.wake_channel(enqueued.queue_name), b"")
        except redis.RedisError:
            self.logger.warning("Could not wake the consumers of %r.", enqueued.queue_name, exc_info=True)
        return enqueued

    def hand_out(self, queue_name: str, redis_message_id: str) -> None:
        with self._handed_out_lock:
            self._handed_out.setdefault(queue_name, set()).add(redis_message_id)

    def settle(self, queue_name: str, redis_message_ids: list[str]) -> None:
        with self._handed_out_lock:
            self._handed_out.get(queue_name, set()).difference_update(redis_message_ids)

    def forget_handed_out(self, queue_name: str) -> None:
        with self._handed_out_lock:
            self._handed_out.pop(queue_name, None)

    def unacked_ids(self, queue_name: str) -> set[str]:
        """This worker's ack set for the queue, as Redis holds it."""
        key = f"{self.namespace}:__acks__.{self.broker_id}.{queue_name}"
        members: set[bytes] = self.client.smembers(key)  # type: ignore[assignment]
        return {member.decode() for member in members}

    def requeue_orphans(self, queue_name: str) -> int:
        """Requeue the ids in this worker's ack set that no part of it holds any more; how many there were.
        The requeue script moves an id only while it is still in the ack set, so an ack that lands between the
        read and the requeue wins and the message is not run again."""
        in_redis = self.unacked_ids(queue_name)
        with self._handed_out_lock:
            orphans = sorted(in_redis - self._handed_out.get(queue_name, set()))
        if orphans:
            self.logger.warning("Requeueing %d orphaned unacked messages on queue %r.", len(orphans), queue_name)
            self.do_requeue(queue_name, *orphans)
        return len(orphans)


class RecoveringRedisConsumer(_RedisConsumer):
    broker: RecoveringRedisBroker

    def __init__(self, broker: RecoveringRedisBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        # dramatiq's idle sleep off (a timeout of 0): this consumer waits for a wake-up instead (`_idle_wait`)
        super().__init__(broker, queue_name, prefetch, 0)
        if queue_name.endswith(DELAY_QUEUE_SUFFIX):
            # A new consumer of a delay queue means the worker dropped (or requeued) every delayed message the
            # previous one held: none of them is held any more.
            broker.forget_handed_out(queue_name)
        self._reconciled_at: float | None = None
        self.idle_timeout_ms = timeout
        self._idle_polls = 0
        # subscribed before the first fetch, so a message sent after a fetch found nothing always wakes it
        self._wake = broker.client.pubsub(ignore_subscribe_messages=True)
        try:
            self._wake.subscribe(broker.wake_channel(queue_name))
        except redis.ConnectionError as error:
            self._wake.close()
            raise ConnectionClosed(error) from None

    def __next__(self) -> Any:
        # Only while the cache is empty: ids fetched into it are in the ack set but not handed out yet.
        if not self.message_cache and self._due_for_reconcile():
            try:
                self.broker.requeue_orphans(self.queue_name)
            except redis.ConnectionError as error:
                raise ConnectionClosed(error) from None
            self._reconciled_at = time.monotonic()
        proxy = super().__next__()
        if proxy is None:
            self._idle_wait()
            return None
        self._idle_polls = 0
        self.broker.hand_out(self.queue_name, proxy.options["redis_message_id"])
        return proxy

    def _idle_wait(self) -> None:
        """Wait for a message sent to this queue, at most dramatiq's backoff of the idle polls so far."""
        self._idle_polls, backoff_ms = compute_backoff(self._idle_polls, max_backoff=self.idle_timeout_ms)
        try:
            if self._wake.get_message(timeout=backoff_ms / 1000) is not None:
                self._idle_polls = 0
                while self._wake.get_message(timeout=0) is not None:  # one fetch answers every wake-up so far
                    pass
        except redis.ConnectionError as error:
            raise ConnectionClosed(error) from None

    def close(self) -> None:
        self._wake.close()
        super().close()

    def _due_for_reconcile(self) -> bool:
        return self._reconciled_at is None or time.monotonic() - self._reconciled_at >= self.broker.reconcile_seconds

    # An ack or nack that fails is retried by the worker until Redis answers: the message stays handed out.
    def ack(self, message: Any) -> None:
        super().ack(message)
        self.broker.settle(self.queue_name, [message.options["redis_message_id"]])

    def nack(self, message: Any) -> None:
        super().nack(message)
        self.broker.settle(self.queue_name, [message.options["redis_message_id"]])

    def requeue(self, messages: Any) -> None:
        messages = list(messages)
        try:
            super().requeue(messages)
        except redis.ConnectionError as error:
            # Left in the ack set and no longer held: the next consumer's reconcile requeues them.
            raise ConnectionClosed(error) from None
        finally:
            self.broker.settle(self.queue_name, [message.options["redis_message_id"] for message in messages])
