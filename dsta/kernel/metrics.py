"""Prometheus metrics of the kernel (outbox relay, event handlers) and the heartbeats of long-running processes.

Metrics are prometheus_client objects. With `PROMETHEUS_MULTIPROC_DIR` set (as `./dev up` and the compose file
do), every process (web, worker processes, relay) writes its samples to files in that directory and the web's
`/metrics` sums them; without it, each process counts for itself. Liveness of the relay and the workers is a
heartbeat in Redis (a hash per component: instance -> last beat, epoch seconds), read at scrape time, so it
works across hosts and shows a dead process as a stale timestamp rather than as a missing series.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

import redis
import structlog
from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, Counter, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

log = structlog.get_logger(__name__)

OUTBOX_RELAYED = Counter("dsta_outbox_relayed_total", "Outbox events handed to the broker", ["schema"])
OUTBOX_HANDOFF_FAILURES = Counter(
    "dsta_outbox_handoff_failures_total", "Outbox events whose hand-off to the broker failed", ["schema"]
)
EVENTS_HANDLED = Counter(
    "dsta_events_handled_total", "Events applied by a consumer (first delivery only)", ["consumer", "event"]
)
EVENT_HANDLER_FAILURES = Counter(
    "dsta_event_handler_failures_total", "Events a consumer failed to apply (retried by the broker)", ["consumer"]
)


def start_metrics_server(port: int) -> bool:
    """Serve this host's metrics on `port` (`DSTA_METRICS_PORT`: worker and relay in containers of their own,
    where the web's /metrics cannot read their multiprocess directory). With several worker processes the
    first to bind the port serves the directory for all. Returns whether this process serves."""
    registry: CollectorRegistry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    try:
        start_http_server(port, addr=settings.DSTA_METRICS_ADDR, registry=registry)
    except OSError:
        return False
    log.info("metrics_server_started", port=port)
    return True


HEARTBEAT_KEY = "dsta:heartbeat:{component}"
FORGET_AFTER_SECONDS = 24 * 3600


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    return _client


class Heartbeat:
    """Records that `component` is alive, at most once every `every` seconds (cheap to call in a hot loop)."""

    def __init__(self, component: str, *, every: float = 5.0, instance: str | None = None) -> None:
        self.key = HEARTBEAT_KEY.format(component=component)
        self.instance = instance or instance_name()
        self.every = every
        self._last = float("-inf")

    def beat(self) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        try:
            _redis().hset(self.key, self.instance, repr(time.time()))
        except redis.RedisError as exc:  # liveness reporting must never stop the work itself
            log.warning("heartbeat_failed", key=self.key, error=repr(exc))

    def stop(self) -> None:
        with contextlib.suppress(redis.RedisError):
            _redis().hdel(self.key, self.instance)


def heartbeats(component: str) -> dict[str, float]:
    """instance -> last beat (epoch seconds) of `component`; instances silent for a day are forgotten."""
    key = HEARTBEAT_KEY.format(component=component)
    raw = _redis().hgetall(key)
    beats = {(name.decode() if isinstance(name, bytes) else name): float(value) for name, value in raw.items()}
    stale = [name for name, at in beats.items() if at < time.time() - FORGET_AFTER_SECONDS]
    if stale:
        _redis().hdel(key, *stale)
    return {name: at for name, at in beats.items() if name not in stale}


class HeartbeatThread:
    """Beats from a daemon thread (a worker process may sit idle for long, and is alive all the same)."""

    def __init__(self, component: str, *, every: float = 5.0) -> None:
        self.heartbeat = Heartbeat(component, every=0)
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{component}", daemon=True)

    def start(self) -> HeartbeatThread:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.heartbeat.beat()
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.heartbeat.stop()
