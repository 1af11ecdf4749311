"""Events go to the queue of each domain that consumes them, so a worker that runs one domain (on its own
machine, with only its database) takes only that domain's events: proven with a real relay and a real worker
that consumes one domain's queue only."""

from __future__ import annotations

import pytest

from dsta.kernel import handlers
from dsta.kernel.actors import events_queue
from dsta.kernel.tests import processes
from dsta.kernel.tests.probe import EFFECT_ALIAS, ProbePing, effect_counts, publish_pings

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def queued(redis_client, domain: str) -> int:
    return int(redis_client.llen(f"dramatiq:{events_queue(domain)}"))


def test_each_event_is_routed_to_the_domains_whose_handlers_subscribe_to_it():
    from dsta.domains import DOMAIN_BY_ALIAS

    assert handlers.consumer_domains(ProbePing.event_name) == {DOMAIN_BY_ALIAS[EFFECT_ALIAS].name}
    assert handlers.consumer_domains("nobody.listens") == set()
    every_handler = {event for subscription in handlers.subscriptions() for event in subscription.event_names}
    for event_name in every_handler:  # every subscribed event has a queue to go to, and only its consumers'
        consumers = {DOMAIN_BY_ALIAS[s.using].name for s in handlers.subscriptions() if event_name in s.event_names}
        assert handlers.consumer_domains(event_name) == consumers


def test_a_worker_of_one_domain_takes_only_that_domains_events(clean_broker, redis_client, children, tmp_path):
    from dsta.domains import DOMAIN_BY_ALIAS

    probe_domain = DOMAIN_BY_ALIAS[EFFECT_ALIAS].name
    other = next(name for name in ("core", "data", "ml", "trading") if name != probe_domain)
    worker = processes.worker(tmp_path, modules=("dsta.kernel.tests.probe",))
    worker.argv += ["--queues", events_queue(other)]  # a worker of another domain: the probe's events are not its
    children(worker)
    children(processes.relay(tmp_path))
    publish_pings(aggregate="routing", start=0, count=30)
    assert processes.wait_until(lambda: queued(redis_client, probe_domain) > 0, timeout=60), worker.log_tail()
    assert effect_counts() == (0, 0)  # the other domain's worker ran none of them

    own = processes.worker(tmp_path, modules=("dsta.kernel.tests.probe",), name="own-worker")
    own.argv += ["--queues", events_queue(probe_domain)]
    children(own)
    assert processes.wait_until(lambda: effect_counts() == (30, 30), timeout=90), own.log_tail()
    assert queued(redis_client, probe_domain) == 0
