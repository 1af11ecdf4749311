"""Dramatiq broker wiring: Redis by default, RabbitMQ when DSTA_BROKER=rabbitmq."""

from __future__ import annotations

from typing import Any

import dramatiq
from django.conf import settings
from django.db import close_old_connections
from dramatiq.middleware import Middleware


class DjangoConnectionsMiddleware(Middleware):
    """Worker threads reuse Django connections; drop broken or expired ones around every message."""

    def before_process_message(self, broker: Any, message: Any) -> None:
        close_old_connections()

    def after_process_message(self, broker: Any, message: Any, *, result: Any = None, exception: Any = None) -> None:
        close_old_connections()

    after_skip_message = after_process_message


class WorkerHeartbeatMiddleware(Middleware):
    """Each worker process beats in Redis every few seconds while it runs (see kernel/metrics.py)."""

    def __init__(self) -> None:
        self._thread: Any = None

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        from dsta.kernel.metrics import HeartbeatThread, start_metrics_server

        if settings.DSTA_METRICS_PORT:
            start_metrics_server(settings.DSTA_METRICS_PORT)
        self._thread = HeartbeatThread("worker", every=settings.DSTA_HEARTBEAT_SECONDS).start()

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        if self._thread is not None:
            self._thread.stop()
            self._thread = None


def build_broker() -> dramatiq.Broker:
    if settings.DSTA_BROKER == "rabbitmq":
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker: dramatiq.Broker = RabbitmqBroker(url=settings.RABBITMQ_URL)
    elif settings.DSTA_BROKER == "redis":
        from dsta.kernel.broker_redis import RecoveringRedisBroker

        broker = RecoveringRedisBroker(
            url=settings.REDIS_URL,
            heartbeat_timeout=settings.BROKER_HEARTBEAT_MS,
            maintenance_chance=settings.BROKER_MAINTENANCE_CHANCE,
            reconcile_seconds=settings.BROKER_RECONCILE_SECONDS,
        )
    else:
        raise ValueError(f"DSTA_BROKER must be 'redis' or 'rabbitmq', not {settings.DSTA_BROKER!r}")
    broker.add_middleware(DjangoConnectionsMiddleware())
    broker.add_middleware(WorkerHeartbeatMiddleware())
    return broker


def configure_broker() -> None:
    dramatiq.set_broker(build_broker())
