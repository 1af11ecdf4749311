"""The relay and the worker as real processes on real Postgres and Redis, killed with SIGKILL mid-stream."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections

from dsta.domains import DOMAINS
from dsta.kernel.tests import processes
from dsta.kernel.tests.probe import PUBLISH_ALIAS, effect_counts, publish_pings

ALL = [domain.alias for domain in DOMAINS]
PROBE = ("dsta.kernel.tests.probe",)
pytestmark = pytest.mark.django_db(databases=ALL, transaction=True)


def outbox_state() -> tuple[int, int, int]:
    """(pending, dead-lettered, re-claimed after a crash) rows in the publishing outbox."""
    with connections[PUBLISH_ALIAS].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE delivered_at IS NULL AND dead_lettered_at IS NULL),"
            " count(*) FILTER (WHERE dead_lettered_at IS NOT NULL), count(*) FILTER (WHERE attempts > 1) FROM outbox"
        )
        return cursor.fetchone()


def publish_stream(*, aggregates: int, per_transaction: int, transactions: int, pause: float = 0.0) -> threading.Thread:
    def run() -> None:
        try:
            for n in range(transactions):
                publish_pings(aggregate=f"agg-{n % aggregates}", start=n * per_transaction, count=per_transaction)
                if pause:
                    time.sleep(pause)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def leased_rows() -> int:
    with connections[PUBLISH_ALIAS].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM outbox WHERE lease_owner IS NOT NULL AND delivered_at IS NULL")
        return cursor.fetchone()[0]


def test_sigkilled_relay_loses_nothing_and_duplicates_no_effect(clean_broker, children, tmp_path, redis_client):
    relay_env = {"DSTA_OUTBOX_BATCH_SIZE": "400", "DSTA_OUTBOX_LEASE_SECONDS": "1"}
    children(processes.worker(tmp_path, modules=PROBE))
    relay = children(processes.relay(tmp_path, **relay_env))
    publish_stream(aggregates=30, per_transaction=20, transactions=50).join()
    assert processes.wait_until(lambda: effect_counts()[1] == 1000, timeout=30), effect_counts()

    # Freeze Redis writes so the relay blocks inside its hand-off, after its claim committed: a kill now is
    # a kill mid-batch, with part of the batch possibly already in the broker.
    redis_client.execute_command("CLIENT", "PAUSE", "5000", "WRITE")
    try:
        publish_stream(aggregates=30, per_transaction=20, transactions=40).join()
        assert processes.wait_until(lambda: leased_rows() > 0, timeout=5)
        relay.kill()
    finally:
        redis_client.execute_command("CLIENT", "UNPAUSE")
    stranded = leased_rows()
    assert stranded > 0

    children(processes.relay(tmp_path, name="relay-after-kill", **relay_env))
    stream = publish_stream(aggregates=30, per_transaction=20, transactions=100, pause=0.002)
    time.sleep(0.3)
    children(processes.relay(tmp_path, name="second-relay", **relay_env)).kill()  # and one more crash
    stream.join()
    total = (50 + 40 + 100) * 20
    assert processes.wait_until(lambda: effect_counts()[1] == total, timeout=60), effect_counts()
    time.sleep(0.5)  # give any duplicate a chance to show up
    assert effect_counts() == (total, total)
    pending, dead, reclaimed = outbox_state()
    assert (pending, dead) == (0, 0)
    assert reclaimed >= stranded, "the stranded batch was taken over after its lease expired"


def test_sigkilled_worker_loses_nothing_and_duplicates_no_effect(clean_broker, children, tmp_path):
    total = 200 * 20
    fast_requeue = {"DSTA_BROKER_HEARTBEAT_MS": "1500", "DSTA_BROKER_MAINTENANCE_CHANCE": "1000000"}
    worker = children(processes.worker(tmp_path, modules=PROBE, **fast_requeue))
    children(processes.relay(tmp_path, **fast_requeue))
    stream = publish_stream(aggregates=10, per_transaction=20, transactions=200, pause=0.002)
    time.sleep(0.5)
    worker.kill()
    time.sleep(0.3)
    children(processes.worker(tmp_path, modules=PROBE, name="worker-after-kill", **fast_requeue))
    stream.join()
    assert processes.wait_until(lambda: effect_counts()[1] == total, timeout=90), effect_counts()
    time.sleep(0.5)
    assert effect_counts() == (total, total)
