"""Cost of observability per request and per scrape.

GET /healthz through Django's full middleware stack, N requests per variant, interleaved in rounds so load
changes hit every variant alike: without the observability middleware (the same-run reference), with it (the
access log line rendered as JSON to /dev/null), and with tracing on (spans to a processor that drops them).
Then the time of one /metrics scrape (every process's samples plus the scrape-time queries).

Run: `uv run python bench/observability_overhead.py`. Target: added per-request cost well under 1 ms.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchenv import setup_django  # noqa: E402

ROUNDS = 10
PER_ROUND = 300


def main() -> int:
    os.environ["DSTA_LOG_LEVEL"] = "INFO"
    os.environ["DSTA_LOG_JSON"] = "1"
    setup_django()
    from django.conf import settings
    from django.test import Client, override_settings
    from opentelemetry.sdk.trace import SpanProcessor

    from dsta.kernel import telemetry

    logging.getLogger().handlers[0].setStream(open(os.devnull, "w"))  # type: ignore[attr-defined]  # noqa: SIM115
    observed = list(settings.MIDDLEWARE)
    bare = [name for name in observed if not name.startswith("dsta.observability.")]
    with override_settings(MIDDLEWARE=bare):
        reference = Client()
        reference.get("/healthz")  # loads its middleware chain now, under this setting
    measured = Client()
    measured.get("/healthz")

    def timed(client: Client) -> list[float]:
        samples = []
        for _ in range(PER_ROUND):
            started = time.perf_counter()
            response = client.get("/healthz")
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200
        return samples

    results: dict[str, list[float]] = {"reference": [], "observed": [], "traced": []}
    for _ in range(ROUNDS):
        results["reference"] += timed(reference)
        results["observed"] += timed(measured)
        telemetry.configure_tracing(exporter="none", span_processor=SpanProcessor())
        results["traced"] += timed(measured)
        telemetry.configure_tracing(exporter="none")

    def micros(samples: list[float], fraction: float) -> float:
        return sorted(samples)[int(len(samples) * fraction) - 1] * 1e6

    print(f"GET /healthz, {ROUNDS} x {PER_ROUND} requests per variant (Django test client, 2-core machine: noisy)")
    base = statistics.median(results["reference"]) * 1e6
    for name, label in (
        ("reference", "without observability middleware"),
        ("observed", "request id, metrics, JSON access log"),
        ("traced", "... and tracing on"),
    ):
        p50, p99 = micros(results[name], 0.5), micros(results[name], 0.99)
        print(f"  {label:38s} p50 {p50:7.1f} us  p99 {p99:7.1f} us  added p50 {p50 - base:+7.1f} us")
    added = statistics.median(results["observed"]) * 1e6 - base
    print(f"added per request: {added:.1f} us (target < 1000 us)")

    scrape_client = Client()
    scrape_client.get("/metrics")  # first scrape creates the exchange clients
    scrapes = []
    for _ in range(20):
        started = time.perf_counter()
        assert scrape_client.get("/metrics").status_code == 200
        scrapes.append(time.perf_counter() - started)
    print(f"GET /metrics: median {statistics.median(scrapes) * 1e3:.1f} ms over 20 scrapes")
    return 0 if added < 1000 else 1


if __name__ == "__main__":
    raise SystemExit(main())
