"""The broker restarts while a worker holds prefetched, unacked messages: delayed ones waiting for their time
in the worker's memory, and ones queued behind its busy threads. The worker lives on (its heartbeat never
stops, so no other worker's maintenance rescues its messages) and every message still runs: once on Redis;
on RabbitMQ the messages that were running when the connection went may run twice (at-least-once AMQP).

Redis is really restarted (a private one, append-only file). The machine's RabbitMQ serves other people's
work, so the worker reaches it (in a vhost of this test's own) through a proxy that cuts every connection and
refuses new ones for a while: what a restart looks like from the worker, and what makes RabbitMQ requeue the
deliveries the worker had not acked.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dramatiq import Message

from dsta.kernel.tests import processes
from tests.reliability import harness
from tests.reliability.broker_probe import ACTOR, FAIL_FIRST_ACTOR, QUEUE
from tests.reliability.conftest import _dev_module
from tests.reliability.tcp_proxy import TcpProxy

DELAYED = 20
DELAY_MS = 8_000  # long after the fault is over: no delayed message falls due while the broker is away
BUSY = 4  # two threads, each running one held message, and two more prefetched behind them
HOLD_SECONDS = 4.0
DOWN_SECONDS = 2.0
RABBIT_VHOST = "dsta_reliability_broker"


@dataclass(frozen=True)
class Tally:
    tried: int
    survived: int
    lost: int
    duplicated: int

    def __str__(self) -> str:
        return f"tried {self.tried}, survived {self.survived}, lost {self.lost}, duplicated {self.duplicated}"


def tally(record: Path, tokens: list[str]) -> Tally:
    runs = Counter(record.read_text().split()) if record.exists() else Counter()
    survived = sum(1 for token in tokens if runs[token])
    duplicated = sum(runs[token] - 1 for token in tokens if runs[token] > 1)
    return Tally(len(tokens), survived, len(tokens) - survived, duplicated)


def message(token: str, hold_seconds: float = 0.0) -> Message:
    return Message(queue_name=QUEUE, actor_name=ACTOR, args=(token,), kwargs={"hold_seconds": hold_seconds}, options={})


def probe_worker(tmp_path: Path, record: Path, **env: str) -> processes.Child:
    child = processes.worker(
        tmp_path,
        modules=("tests.reliability.broker_probe",),
        threads=2,
        DSTA_PROBE_RECORD=str(record),
        DSTA_BROKER_HEARTBEAT_MS="60000",  # longer than the test: maintenance cannot rescue the messages
        DSTA_LOG_LEVEL="WARNING",
        **env,
    )
    child.argv += ["--queues", QUEUE]
    return child


def restart_while_held(
    *,
    send: Callable[[Message, int | None], None],
    booted: Callable[[], bool],
    held: Callable[[], bool],
    fault: Callable[[], None],
    worker: processes.Child,
    record: Path,
    label: str,
    max_duplicated: int = 0,
) -> Tally:
    assert processes.wait_until(booted, timeout=90), f"the worker never consumed\n{worker.log_tail()}"
    tokens = [f"{label}-busy-{n}" for n in range(BUSY)] + [f"{label}-delayed-{n}" for n in range(DELAYED)]
    for token in tokens[:BUSY]:
        send(message(token, HOLD_SECONDS), None)
    for token in tokens[BUSY:]:
        send(message(token), DELAY_MS)
    assert processes.wait_until(held, timeout=60), f"the worker never held every message\n{worker.log_tail()}"
    assert tally(record, tokens).survived == 0, "messages ran before the fault: the test would prove nothing"
    fault()
    processes.wait_until(lambda: tally(record, tokens).survived == len(tokens), timeout=45)
    time.sleep(1)  # a duplicate run would land within this
    result = tally(record, tokens)
    print(f"{label}: {result}")
    harness.record_tally(label, **result.__dict__)
    assert worker.process is not None and worker.process.poll() is None, f"the worker exited\n{worker.log_tail()}"
    assert result.lost == 0 and result.duplicated <= max_duplicated, f"{label}: {result}\n{worker.log_tail()}"
    return result


@pytest.fixture
def private_redis() -> Iterator[harness.PrivateServices]:
    dev = _dev_module()
    dev.STATE_DIR = Path(tempfile.mkdtemp(prefix="dsta-broker-reconnect-"))
    services = harness.PrivateServices(dev=dev, redis_port=harness.free_port())
    services.start_redis()
    try:
        yield services
    finally:
        services.stop_redis()
        shutil.rmtree(dev.STATE_DIR, ignore_errors=True)


def test_redis_restart_strands_no_prefetched_message(private_redis, children, tmp_path):
    import redis
    from dramatiq.brokers.redis import RedisBroker

    record = tmp_path / "record.txt"
    client = redis.Redis.from_url(private_redis.redis_url)
    sender = RedisBroker(url=private_redis.redis_url)
    env = {"DSTA_BROKER": "redis", "REDIS_URL": private_redis.redis_url}
    worker = children(probe_worker(tmp_path, record, **env))

    def unacked(queue_name: str) -> int:
        return sum(int(client.scard(key)) for key in client.keys(f"dramatiq:__acks__.*.{queue_name}"))

    def restart() -> None:
        private_redis.stop_redis()
        time.sleep(DOWN_SECONDS)
        private_redis.start_redis()

    restart_while_held(
        send=lambda msg, delay: sender.enqueue(msg, delay=delay),
        booted=lambda: client.zcard("dramatiq:__heartbeats__") > 0,  # its consumers have fetched
        held=lambda: unacked(QUEUE) == BUSY and unacked(f"{QUEUE}.DQ") == DELAYED,
        fault=restart,
        worker=worker,
        record=record,
        label="redis-restart",
    )


def test_a_message_that_fails_while_redis_is_down_is_retried_not_lost(private_redis, children, tmp_path):
    """Dramatiq acks a failed message once its retry is enqueued; with Redis down that enqueue fails, and
    without the worker's patient retries the message was acked all the same: gone."""
    import redis
    from dramatiq.brokers.redis import RedisBroker

    record = tmp_path / "record.txt"
    attempts = tmp_path / "record.txt.attempts"
    client = redis.Redis.from_url(private_redis.redis_url)
    sender = RedisBroker(url=private_redis.redis_url)
    worker = children(probe_worker(tmp_path, record, DSTA_BROKER="redis", REDIS_URL=private_redis.redis_url))
    assert processes.wait_until(lambda: client.zcard("dramatiq:__heartbeats__") > 0, timeout=90), worker.log_tail()
    tokens = ["fails-in-outage-0", "fails-in-outage-1"]  # one per worker thread, both running when Redis goes
    for token in tokens:
        held = {"hold_seconds": 3.0}
        sender.enqueue(Message(queue_name=QUEUE, actor_name=FAIL_FIRST_ACTOR, args=(token,), kwargs=held, options={}))

    def running() -> bool:
        return sum(int(client.scard(key)) for key in client.keys(f"dramatiq:__acks__.*.{QUEUE}")) == len(tokens)

    assert processes.wait_until(running, timeout=60), worker.log_tail()
    private_redis.stop_redis()
    failed_in_outage = processes.wait_until(
        lambda: attempts.exists() and set(attempts.read_text().split()) == set(tokens), timeout=30
    )
    time.sleep(1.0)  # the failed runs' retries are being enqueued against a stopped Redis
    private_redis.start_redis()
    assert failed_in_outage, f"the first runs did not fail while Redis was down\n{worker.log_tail()}"
    processes.wait_until(lambda: record.exists() and set(record.read_text().split()) == set(tokens), timeout=60)
    recorded = record.read_text().split() if record.exists() else []
    assert sorted(recorded) == sorted(tokens), f"recorded {recorded}\n{worker.log_tail()}"
    assert worker.process is not None and worker.process.poll() is None, worker.log_tail()


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def rabbitmq_vhost() -> Iterator[str]:
    with socket.socket() as probe:
        probe.settimeout(1)
        reachable = probe.connect_ex(("127.0.0.1", 5672)) == 0
    if not reachable or shutil.which("rabbitmqctl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs RabbitMQ on 127.0.0.1:5672; it must be tested there")
        pytest.skip("no RabbitMQ (and rabbitmqctl) on 127.0.0.1:5672")
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", RABBIT_VHOST], capture_output=True, timeout=60)
    rabbitmqctl("add_vhost", RABBIT_VHOST)
    rabbitmqctl("set_permissions", "-p", RABBIT_VHOST, "guest", ".*", ".*", ".*")
    try:
        yield RABBIT_VHOST
    finally:
        rabbitmqctl("delete_vhost", RABBIT_VHOST)


def test_rabbitmq_connection_loss_strands_no_prefetched_message(rabbitmq_vhost, private_redis, children, tmp_path):
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    record = tmp_path / "record.txt"
    proxy = TcpProxy(5672, port=harness.free_port()).start()
    sender = RabbitmqBroker(url=f"amqp://guest:guest@127.0.0.1:5672/{rabbitmq_vhost}")
    sender.declare_queue(QUEUE)
    sender.get_queue_message_counts(QUEUE)  # declares the queues now, before the worker looks for them
    env = {
        "DSTA_BROKER": "rabbitmq",
        "RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:{proxy.port}/{rabbitmq_vhost}",
        "REDIS_URL": private_redis.redis_url,  # the worker's heartbeat
    }
    worker = children(probe_worker(tmp_path, record, **env))

    def consumers(queue_name: str) -> int:
        return int(sender.channel.queue_declare(queue_name, passive=True).method.consumer_count)

    try:

        def held() -> bool:
            ready, delayed_ready, _ = sender.get_queue_message_counts(QUEUE)
            return ready == 0 and delayed_ready == 0  # every message delivered to the worker, none acked yet

        restart_while_held(
            send=lambda msg, delay: sender.enqueue(msg, delay=delay),
            booted=lambda: consumers(QUEUE) > 0,
            held=held,
            fault=lambda: proxy.cut(DOWN_SECONDS),
            worker=worker,
            record=record,
            label="rabbitmq-cut",
            # AMQP redelivers what a lost connection had not acked, the messages already running included; their
            # late acks belong to the dead channel. The inbox drops those duplicate events.
            max_duplicated=BUSY,
        )
    finally:
        worker.stop()
        proxy.stop()
        sender.close()
