"""The relay outlives its database connections: a server restart (here: every backend of the test database
terminated, as a restart does to its clients) makes it reconnect, not exit."""

from __future__ import annotations

import os
import threading
from datetime import datetime

import psycopg
import pytest
from django.db import connections

from dsta.domains import DOMAIN_BY_ALIAS, DOMAINS
from dsta.kernel.relay import Relay
from dsta.kernel.tests import processes
from dsta.kernel.tests.probe import PUBLISH_ALIAS, publish_pings

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)


def database_now() -> datetime:
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as admin:
        row = admin.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0]


def terminate_backends_opened_since(since: datetime) -> int:
    """Every connection to the test database opened since `since`, as a server restart would end them. Older ones
    (other threads of this test process, which cannot close theirs) are spared so later tests keep working."""
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_start >= %s",
            (since,),
        ).fetchone()
    connections.close_all()  # this thread's own connections may be among them
    return int(killed[0]) if killed else 0


def test_relay_reconnects_after_its_database_connections_are_killed():
    sent: list[dict] = []
    relay = Relay(domains=[DOMAIN_BY_ALIAS[PUBLISH_ALIAS]], sender=sent.extend, owner="reconnect-test")
    stop = threading.Event()
    started = database_now()
    thread = threading.Thread(target=relay.run_forever, args=(stop,), kwargs={"poll_seconds": 0.2}, daemon=True)
    thread.start()
    try:
        publish_pings(aggregate="before", start=0, count=5)
        assert processes.wait_until(lambda: len(sent) == 5, timeout=20), len(sent)
        assert terminate_backends_opened_since(started) >= 2  # the relay's LISTEN connection and its claim connection
        publish_pings(aggregate="after", start=5, count=5)
        assert processes.wait_until(lambda: len(sent) == 10, timeout=30), len(sent)
        assert thread.is_alive()
        assert sorted(message["payload"]["seq"] for message in sent) == list(range(10))
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
