"""The RabbitMQ switch (DSTA_BROKER=rabbitmq): the same relay and worker, over AMQP instead of Redis."""

from __future__ import annotations

import os
import socket

import pytest

from dsta.domains import DOMAINS
from dsta.kernel.tests import processes
from dsta.kernel.tests.probe import effect_counts, publish_pings

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)


def rabbitmq_reachable() -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", 5672)) == 0


@pytest.fixture
def rabbitmq():
    if not rabbitmq_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs RabbitMQ on 127.0.0.1:5672; it must be tested there")
        pytest.skip("RabbitMQ is not running on 127.0.0.1:5672 (CI has it)")
    from django.test import override_settings

    from dsta.domains import DOMAINS
    from dsta.kernel.actors import events_queue
    from dsta.kernel.broker import build_broker

    with override_settings(DSTA_BROKER="rabbitmq"):
        broker = build_broker()
    yield
    for domain in DOMAINS:
        broker.declare_queue(events_queue(domain.name))
    broker.flush_all()  # nothing of this test stays behind in RabbitMQ
    broker.close()


def test_events_flow_through_rabbitmq(rabbitmq, clean_broker, children, tmp_path):
    env = {"DSTA_BROKER": "rabbitmq"}
    children(processes.worker(tmp_path, modules=("dsta.kernel.tests.probe",), **env))
    children(processes.relay(tmp_path, **env))
    for n in range(10):
        publish_pings(aggregate=f"rabbit-{n % 3}", start=n * 20, count=20)
    assert processes.wait_until(lambda: effect_counts()[1] == 200, timeout=60), effect_counts()
    assert effect_counts() == (200, 200)
