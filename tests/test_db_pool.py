"""The web server's database connections: a pool per alias in the web server (dsta/asgi.py sets DSTA_DB_POOL), Django's
persistent per-thread connections elsewhere (worker, relay, management commands)."""

from __future__ import annotations

import subprocess
import sys

from dsta.settings import _domain_database

URL = "postgres://postgres@127.0.0.1:5432/dsta"


def test_pool_replaces_persistent_connections_when_asked(monkeypatch):
    monkeypatch.setenv("DSTA_DB_POOL", "6")
    config = _domain_database(URL, "trading", "dsta_trading", "trading")
    assert config["OPTIONS"]["pool"]["max_size"] == 6
    assert config["CONN_MAX_AGE"] == 0  # Django refuses persistent connections with a pool
    assert config["OPTIONS"]["options"] == "-c search_path=trading"


def test_without_the_pool_connections_persist(monkeypatch):
    monkeypatch.delenv("DSTA_DB_POOL", raising=False)
    config = _domain_database(URL, "trading", "dsta_trading", "trading")
    assert "pool" not in config["OPTIONS"] and config["CONN_MAX_AGE"] > 0


def test_the_asgi_entry_point_turns_the_pool_on():
    code = (
        "import os; os.environ.pop('DSTA_DB_POOL', None); import dsta.asgi; from django.conf import settings; "
        "print(settings.DATABASES['trading']['OPTIONS']['pool']['max_size'])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.strip().splitlines()[-1]) > 0
