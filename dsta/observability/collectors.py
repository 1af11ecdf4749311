"""Gauges computed when Prometheus scrapes: cheap reads of state that lives in Postgres and Redis, so they are
right whichever process changed it and whichever web process answers the scrape."""

from __future__ import annotations

import time
from collections.abc import Iterator

import structlog
from django.conf import settings
from django.db import connections
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from dsta.domains import DOMAINS
from dsta.exchange import api as exchange_api
from dsta.kernel.metrics import heartbeats

log = structlog.get_logger(__name__)

# Oldest unrelayed event through the pending partial index (one row); dead letters are rare rows of a table
# whose delivered rows are purged after 72 h.
_OUTBOX_SQL = """
SELECT COALESCE((SELECT extract(epoch FROM now() - occurred_at) FROM outbox
                 WHERE delivered_at IS NULL AND dead_lettered_at IS NULL ORDER BY id LIMIT 1), 0),
       (SELECT count(*) FROM outbox WHERE dead_lettered_at IS NOT NULL)
"""

BREAKER_STATES = ("closed", "half_open", "open")


def _scrape_error(errors: GaugeMetricFamily, collector: str, exc: Exception) -> None:
    log.warning("metrics_collector_failed", collector=collector, error=repr(exc))
    errors.add_metric([collector], 1)


class DstaCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        errors = GaugeMetricFamily(
            "dsta_metrics_collector_errors", "1 when a scrape-time collector failed this scrape", labels=["collector"]
        )
        yield from self._outbox(errors)
        yield from self._heartbeats(errors)
        yield from self._breakers(errors)
        yield errors

    def _outbox(self, errors: GaugeMetricFamily) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily(
            "dsta_outbox_lag_seconds", "Age of the oldest event not yet handed to the broker", labels=["schema"]
        )
        dead = GaugeMetricFamily("dsta_outbox_dead_letters", "Dead-lettered outbox events", labels=["schema"])
        for domain in DOMAINS:
            try:
                with connections[domain.alias].cursor() as cursor:
                    cursor.execute(_OUTBOX_SQL)
                    age, dead_count = cursor.fetchone()
            except Exception as exc:
                _scrape_error(errors, f"outbox:{domain.schema}", exc)
                continue
            lag.add_metric([domain.schema], float(age))
            dead.add_metric([domain.schema], float(dead_count))
        yield lag
        yield dead

    def _heartbeats(self, errors: GaugeMetricFamily) -> Iterator[GaugeMetricFamily]:
        try:
            relay, workers = heartbeats("relay"), heartbeats("worker")
        except Exception as exc:
            _scrape_error(errors, "heartbeats", exc)
            return
        now = time.time()
        stale_after = settings.DSTA_HEARTBEAT_STALE_SECONDS
        yield GaugeMetricFamily(
            "dsta_relay_last_cycle_timestamp_seconds",
            "When the most recent relay loop last went round (0: no relay ever seen)",
            value=max(relay.values(), default=0.0),
        )
        yield GaugeMetricFamily(
            "dsta_relays_alive",
            "Relays that went round recently",
            value=sum(now - at < stale_after for at in relay.values()),
        )
        last = GaugeMetricFamily(
            "dsta_worker_last_heartbeat_timestamp_seconds", "Last heartbeat of each worker process", labels=["instance"]
        )
        for instance, at in sorted(workers.items()):
            last.add_metric([instance], at)
        yield last
        yield GaugeMetricFamily(
            "dsta_workers_alive",
            "Worker processes with a recent heartbeat",
            value=sum(now - at < stale_after for at in workers.values()),
        )

    def _breakers(self, errors: GaugeMetricFamily) -> Iterator[GaugeMetricFamily]:
        try:
            venues = exchange_api.exchange_health()
        except Exception as exc:
            _scrape_error(errors, "exchange_breakers", exc)
            return
        state = GaugeMetricFamily(
            "dsta_exchange_breaker_state",
            "Circuit breaker of each live venue: 1 for its current state",
            labels=["venue", "state"],
        )
        failures = GaugeMetricFamily(
            "dsta_exchange_consecutive_failures", "Consecutive transient failures per venue", labels=["venue"]
        )
        for venue in venues:
            for name in BREAKER_STATES:
                state.add_metric([venue.venue, name], 1.0 if venue.breaker_state.value == name else 0.0)
            failures.add_metric([venue.venue], float(venue.consecutive_failures))
        yield state
        yield failures
