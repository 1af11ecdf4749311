"""Metrics across processes: a real dramatiq worker writes its counters into the multiprocess directory that
the web's /metrics sums, and its heartbeat (Redis) shows it alive, then stale once it is SIGKILLed."""

from __future__ import annotations

import time

import pytest

from dsta.domains import DOMAIN_BY_NAME, DOMAINS
from dsta.kernel.relay import Relay
from dsta.kernel.tests import processes
from dsta.kernel.tests.probe import effect_counts, publish_pings
from tests.test_observability import scrape, value

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)


def test_worker_counters_reach_metrics_through_the_multiprocess_directory_and_its_heartbeat_goes_stale(
    client, clean_broker, children, tmp_path, redis_client, settings, monkeypatch
):
    multiproc_dir = tmp_path / "prometheus"
    multiproc_dir.mkdir()
    redis_client.delete("dsta:heartbeat:worker")
    settings.DSTA_HEARTBEAT_STALE_SECONDS = 2
    worker = children(
        processes.worker(
            tmp_path,
            modules=("dsta.kernel.tests.probe",),
            PROMETHEUS_MULTIPROC_DIR=str(multiproc_dir),
            DSTA_HEARTBEAT_SECONDS="0.5",
        )
    )
    assert processes.wait_until(lambda: value(scrape(client), "dsta_workers_alive") == 1, timeout=120), (
        worker.log_tail()
    )  # boot: ccxt, pandas

    publish_pings(aggregate="metrics", start=0, count=3)
    Relay(domains=[DOMAIN_BY_NAME["data"]]).drain()  # the real hand-off to dramatiq over Redis
    assert processes.wait_until(lambda: effect_counts() == (3, 3), timeout=30), worker.log_tail()

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(multiproc_dir))  # this scrape reads the worker's files

    def handled() -> float:
        return value(scrape(client), "dsta_events_handled_total", consumer="probe.effects", event="probe.ping")

    # counted after the handler's commit (a rolled-back effect is never counted), so just after the effects
    assert processes.wait_until(lambda: handled() == 3, timeout=10), handled()
    samples = scrape(client)
    assert value(samples, "dsta_events_handled_total", consumer="probe.effects", event="probe.ping") == 3
    assert value(samples, "dsta_workers_alive") == 1
    [(instance, last_beat)] = [
        (dict(labels)["instance"], sample)
        for (name, labels), sample in samples.items()
        if name == "dsta_worker_last_heartbeat_timestamp_seconds"
    ]
    assert time.time() - last_beat < 5 and ":" in instance  # host:pid of the worker process

    worker.kill()  # no shutdown hook runs: the heartbeat is not removed, it goes stale
    time.sleep(2.5)
    samples = scrape(client)
    assert value(samples, "dsta_workers_alive") == 0
    assert value(samples, "dsta_worker_last_heartbeat_timestamp_seconds", instance=instance) > 0
    # The dead worker's counters stay in the sum (counters never go down across restarts).
    assert value(samples, "dsta_events_handled_total", consumer="probe.effects", event="probe.ping") == 3
