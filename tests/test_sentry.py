"""Sentry is initialised only when SENTRY_DSN is set, and then an error really reaches the DSN's server: here a
small HTTP server on 127.0.0.1 that stores the envelopes it receives (no network beyond this machine)."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A process that sets Django up, logs an exception through structlog (as a failing handler does), then dies of
# an uncaught one. It prints whether Sentry is active.
SCRIPT = """
import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dsta.settings")
import django
django.setup()
import sentry_sdk
import structlog
print("sentry_active", sentry_sdk.get_client().is_active(), flush=True)
try:
    1 / 0
except ZeroDivisionError:
    structlog.get_logger("dsta.probe").exception("probe_handler_failed", consumer="probe")
raise RuntimeError("sentry-probe-uncaught")
"""


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br":
            import brotli  # type: ignore[import-not-found]

            body = brotli.decompress(body)
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sentry_server():
    _Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run_app_process(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != "SENTRY_DSN"}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=180
    )


def test_an_error_reaches_the_sentry_server_named_by_sentry_dsn(sentry_server):
    port = sentry_server.server_address[1]
    finished = run_app_process(SENTRY_DSN=f"http://publickey@127.0.0.1:{port}/42", SENTRY_ENVIRONMENT="test")
    assert "sentry_active True" in finished.stdout, finished.stderr[-2000:]
    assert finished.returncode != 0 and "sentry-probe-uncaught" in finished.stderr
    paths = {path for path, _ in _Collector.received}
    assert paths == {"/api/42/envelope/"}, paths
    bodies = b"\n".join(body for _, body in _Collector.received)
    assert b"ZeroDivisionError" in bodies and b"probe_handler_failed" in bodies  # the logged exception
    assert b"sentry-probe-uncaught" in bodies  # the uncaught one, sent before the process exited
    assert b'"environment":"test"' in bodies


def test_without_sentry_dsn_nothing_is_initialised_or_sent(sentry_server):
    finished = run_app_process()
    assert "sentry_active False" in finished.stdout, finished.stderr[-2000:]
    assert "sentry-probe-uncaught" in finished.stderr
    assert _Collector.received == []
