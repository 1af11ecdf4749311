"""Domains served by `manage.py serve_domain` in processes of their own, for the tests that run both ways.

A domain with a database of its own (exchange, ml) gets a fresh database holding only its schema, migrated
by `migrate_domains --domains D` under `DSTA_SERVED_DOMAIN`; the others are served from the test database.
Each served process reaches the domains it calls through `DSTA_REMOTE_<DOMAIN>` (exchange asks core for
venue credentials; ml asks data for candles), so nothing in it touches an alias it does not own.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from dsta.domains import DOMAIN_BY_NAME
from dsta.kernel.rpc import client as rpc_client
from dsta.kernel.tests.processes import ROOT, Child, child_env

OWN_DATABASE = frozenset({"exchange", "ml"})
CALLS = {"exchange": ("core",), "ml": ("data",), "data": (), "core": (), "trading": ("exchange",)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(url: str, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


@dataclass
class ServedDomain:
    name: str
    url: str
    admin_url: str  # the database this service runs on
    child: Child

    @property
    def database(self) -> str:
        return urlsplit(self.admin_url).path.lstrip("/")

    def restart(self, *, timeout: float = 60) -> None:
        self.child.stop()
        self.child.start()
        assert wait_ready(self.url, timeout=timeout), self.child.log_tail()


@dataclass
class ServedDomains:
    test_admin_url: str
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    running: dict[str, ServedDomain] = field(default_factory=dict)

    def get(self, *names: str) -> dict[str, ServedDomain]:
        """Start (once per session) the named domains and what they call; returns the started ones."""
        wanted: list[str] = []
        for name in names:
            for needed in (*CALLS[name], name):
                if needed not in self.running and needed not in wanted:
                    wanted.append(needed)
        prepared = [self._prepare(name) for name in wanted]  # database and port first: all start at once
        for served in prepared:
            self.running[served.name] = served
        for served in prepared:
            served.child.env.update(self._remote_env(served.name))
            served.child.start()
        for served in prepared:
            assert wait_ready(served.url, timeout=120), f"{served.name} did not start:\n{served.child.log_tail()}"
        return {name: self.running[name] for name in names}

    def _remote_env(self, name: str) -> dict[str, str]:
        return {f"DSTA_REMOTE_{callee.upper()}": self.running[callee].url for callee in CALLS[name]}

    def _prepare(self, name: str) -> ServedDomain:
        admin_url = self.test_admin_url
        if name in OWN_DATABASE:
            admin_url = self._own_database(name)
        port = free_port()
        env = child_env(DSTA_SERVED_DOMAIN=name, DATABASE_URL=admin_url, **self.extra_env)
        for key in [key for key in env if key.startswith("DSTA_REMOTE_")]:
            del env[key]
        argv = [sys.executable, "manage.py", "serve_domain", name, "--port", str(port)]
        child = Child(f"serve-{name}", argv, env, self.log_dir)
        return ServedDomain(name=name, url=f"http://127.0.0.1:{port}", admin_url=admin_url, child=child)

    def _own_database(self, name: str) -> str:
        from dsta.kernel.bootstrap import create_database, ensure_roles_and_schemas

        database = f"{urlsplit(self.test_admin_url).path.lstrip('/')}_{name}_service"
        create_database(self.test_admin_url, database, drop_existing=True)
        ensure_roles_and_schemas(self.test_admin_url, database, domains=[DOMAIN_BY_NAME[name]])
        admin_url = urlunsplit(urlsplit(self.test_admin_url)._replace(path=f"/{database}"))
        env = child_env(DSTA_SERVED_DOMAIN=name, DATABASE_URL=admin_url)
        migrate = [sys.executable, "manage.py", "migrate_domains", "--domains", name, "--verbosity", "0"]
        done = subprocess.run(migrate, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return admin_url

    def stop(self) -> None:
        for served in self.running.values():
            served.child.stop()


@contextlib.contextmanager
def remote(*names: str, served: ServedDomains) -> Iterator[dict[str, ServedDomain]]:
    """This process calls the named domains' facades over HTTP for the duration."""
    running = served.get(*names)
    try:
        for name, domain in running.items():
            rpc_client.install(name, domain.url)
        yield running
    finally:
        for name in running:
            rpc_client.uninstall(name)
