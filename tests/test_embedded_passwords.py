"""The embedded Postgres of an installation made before passwords (trust for every local user) is hardened
when it starts: the superuser gets the generated password and every pg_hba.conf rule requires it."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import tempfile
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent


def dev_script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("dsta_dev_script_passwords", ROOT / "scripts" / "dev.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_cluster_that_trusted_every_local_user_requires_the_password_after_a_start():
    dev = dev_script()
    dev.STATE_DIR = Path(tempfile.mkdtemp(prefix="dsta-embedded-passwords-"))
    dev.STATE_DIR.chmod(0o755)
    dev.PG_PORT = free_port()
    data_dir = dev.STATE_DIR / "pg" / "data"
    try:
        dev.start_postgres()
        password = dev.service_passwords()["postgres"]
        url = f"postgres://postgres:{password}@127.0.0.1:{dev.PG_PORT}/postgres"
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(f"postgres://postgres@127.0.0.1:{dev.PG_PORT}/postgres", connect_timeout=10).close()
        # Make it what an earlier `./dev up` left: no password, trust everywhere.
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ALTER ROLE postgres PASSWORD NULL")
        hba = data_dir / "pg_hba.conf"
        hba.write_text(hba.read_text().replace("scram-sha-256", "trust"))
        dev.stop_postgres()
        dev.start_postgres()
        assert "trust" not in [
            line.split()[-1] for line in hba.read_text().splitlines() if line.split()[:1] != ["#"] and line.split()
        ]
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(f"postgres://postgres@127.0.0.1:{dev.PG_PORT}/postgres", connect_timeout=10).close()
        with psycopg.connect(url, connect_timeout=10) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
    finally:
        dev.stop_postgres()
        shutil.rmtree(dev.STATE_DIR, ignore_errors=True)
