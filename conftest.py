"""Test wiring: a real Postgres database `<name>_test` bootstrapped like production (schemas, roles), and
the real Redis named by REDIS_URL. Nothing of our own database or broker is mocked."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import pytest


def _test_database_name() -> str:
    from django.conf import settings

    name = urlsplit(settings.ADMIN_DATABASE_URL).path.lstrip("/")
    return name if name.endswith("_test") else f"{name}_test"


def admin_url_for_test_database() -> str:
    """DATABASE_URL pointing at the test database, for processes the tests start (relay, worker)."""
    from django.conf import settings

    parts = urlsplit(settings.ADMIN_DATABASE_URL)
    return urlunsplit(parts._replace(path=f"/{_test_database_name()}"))


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker):  # type: ignore[no-untyped-def]
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    from dsta.kernel.bootstrap import create_database, ensure_roles_and_schemas

    name = _test_database_name()
    with django_db_blocker.unblock():
        for connection in connections.all():
            connection.close()
        create_database(settings.ADMIN_DATABASE_URL, name, drop_existing=True)
        ensure_roles_and_schemas(settings.ADMIN_DATABASE_URL, name)
        for alias in settings.DATABASES:
            settings.DATABASES[alias]["NAME"] = name
            connections[alias].settings_dict["NAME"] = name
        call_command("migrate_domains", verbosity=0)
        os.environ["DATABASE_URL"] = admin_url_for_test_database()
    yield


@pytest.fixture(scope="session")
def redis_client():  # type: ignore[no-untyped-def]
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.ping()
    return client


@pytest.fixture
def clean_broker(redis_client):  # type: ignore[no-untyped-def]
    from dsta.kernel.tests.probe import reset_effects

    redis_client.flushdb()
    reset_effects()
    yield
    redis_client.flushdb()


@pytest.fixture
def children(tmp_path):  # type: ignore[no-untyped-def]
    """Start real relay/worker processes; they are stopped (and their log tails printed) at teardown."""
    from dsta.kernel.tests import processes

    started: list[processes.Child] = []

    def start(child: processes.Child) -> processes.Child:
        started.append(child.start())
        return child

    yield start
    for child in started:
        child.stop()
    for child in started:
        print(f"--- {child.name} ---\n{child.log_tail()}")
