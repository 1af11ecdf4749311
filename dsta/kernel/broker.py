"""Dramatiq broker wiring: Redis by default, RabbitMQ when DSTA_BROKER=rabbitmq."""

from __future__ import annotations

import time
from typing import Any

import dramatiq
import structlog
from django.conf import settings
from django.db import close_old_connections
from dramatiq.middleware import Middleware, Retries

log = structlog.get_logger(__name__)


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


class _PatientEnqueue:
    """The broker as the Retries middleware sees it: an enqueue that a broker outage makes wait, not fail."""

    def __init__(self, broker: dramatiq.Broker, patience_seconds: float) -> None:
        self._broker = broker
        self._patience_seconds = patience_seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    def enqueue(self, message: Any, *, delay: int | None = None) -> Any:
        deadline = time.monotonic() + self._patience_seconds
        pause = 0.2
        while True:
            try:
                return self._broker.enqueue(message, delay=delay)
            except Exception as error:  # redis-py's and pika's connection errors share no base class
                if time.monotonic() + pause > deadline:
                    raise
                log.warning("retry_enqueue_waiting_for_broker", message_id=message.message_id, error=repr(error))
                time.sleep(pause)
                pause = min(pause * 2, 5.0)


class PatientRetries(Retries):
    """Retries that cannot lose a failed message while the broker restarts.

    Dramatiq acks a failed message once its retry is enqueued. When that enqueue raises (the broker is down: the
    same outage often made the handler fail), dramatiq only logs the hook's error and acks the message anyway, so
    it is gone. Here the enqueue waits out an outage of up to `patience_seconds`; past that the message is failed,
    so it is nacked into the dead-letter queue, where it can be seen and replayed."""

    def __init__(self, *, patience_seconds: float, **options: Any) -> None:
        super().__init__(**options)
        self.patience_seconds = patience_seconds

    def after_process_message(self, broker: Any, message: Any, *, result: Any = None, exception: Any = None) -> None:
        try:
            patient = _PatientEnqueue(broker, self.patience_seconds)
            super().after_process_message(patient, message, result=result, exception=exception)
        except Exception:
            log.exception("retry_enqueue_failed_dead_lettered", message_id=message.message_id)
            message.fail()


def _use_patient_retries(broker: dramatiq.Broker) -> None:
    for position, middleware in enumerate(broker.middleware):
        if type(middleware) is Retries:
            broker.middleware[position] = PatientRetries(
                patience_seconds=settings.BROKER_RETRY_ENQUEUE_PATIENCE_SECONDS,
                max_retries=middleware.max_retries,
                min_backoff=middleware.min_backoff,
                max_backoff=middleware.max_backoff,
                retry_when=middleware.retry_when,
            )


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
    _use_patient_retries(broker)
    broker.add_middleware(DjangoConnectionsMiddleware())
    broker.add_middleware(WorkerHeartbeatMiddleware())
    return broker


def configure_broker() -> None:
    dramatiq.set_broker(build_broker())
