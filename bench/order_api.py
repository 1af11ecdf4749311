"""Order placement through the API, in process: POST /api/v1/orders (JWT) -> validation -> pre-trade risk check
on limits and a book read from the database -> saga (transitions and outbox events) -> paper venue fill ->
fills, position, response. The HTTP figure under a real server is bench/order_http.py.

Run: `uv run python bench/order_api.py [--orders 300]` (uses DATABASE_URL / REDIS_URL like the other
benchmarks; it creates its own database `<name>_bench`).

Figures: SQL statements and round trips per order on each database alias (statements sent together in a psycopg
pipeline share one round trip; the cost that does not shrink with a faster CPU); CPU time per order of this
process (the honest figure on a shared machine: wall time there includes other people's work); orders/s and
p50/p99 latency of the whole API call; the database-backed risk step alone. Reference in the same run: the bare
paper venue (`exchange.api.order_submit`), the exchange's part of an order.

Round trips of one API order (BEGIN/COMMIT counted): 48 before issue 6's work, 24 after the first pass, 17 now:
  core      2   JWT user+roles+revocation in one query; audit row
  trading  11   admit 5 (BEGIN, limits and book in one read, the order and both transitions in one statement,
                both events, COMMIT); confirm 5 (BEGIN, lock the order, fills + position in one pipeline; order,
                position, transition and event in another; COMMIT); the response's transitions 1
  exchange  4   paper transaction: BEGIN, state in one pipeline after the account lock, writes and events in one
                pipeline, COMMIT; the order's fills come with the venue's answer (no read)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchenv import setup_django  # noqa: E402
from order_env import SYMBOL, bench_access_token, order_body, prepare_market  # noqa: E402


def percentile(samples: list[float], fraction: float) -> float:
    return sorted(samples)[max(int(len(samples) * fraction) - 1, 0)] * 1000


def line(label: str, samples: list[float], cpu: float) -> str:
    return (
        f"{label:<37} p50 {percentile(samples, 0.5):6.2f} ms  p99 {percentile(samples, 0.99):6.2f} ms  "
        f"cpu {cpu / len(samples) * 1000:5.2f} ms/op"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=300)
    count = parser.parse_args().orders
    setup_django()
    from django.db import connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from dsta.exchange import api as exchange_api
    from dsta.exchange.contracts import OrderRequest, OrderSide, OrderType
    from dsta.trading import orders

    prepare_market()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {bench_access_token()}")

    def post(n: int) -> bool:
        response = client.post("/api/v1/orders", order_body(n), content_type="application/json")
        if response.status_code != 201 or response.json()["status"] != "filled":
            print(f"order {n} failed: {response.status_code} {response.content[:300]!r}")
            return False
        return True

    for n in range(20):  # warm-up: imports, connections, serializer caches
        if not post(n):
            return 1
    sampled = 10
    pipelined: Counter[str] = Counter()  # per alias: statements sent in pipelines, minus one per pipeline
    real_pipeline = psycopg.Connection.pipeline

    @contextmanager
    def counting_pipeline(raw):  # type: ignore[no-untyped-def]
        alias = next(alias for alias in connections if connections[alias].connection is raw)
        before = len(connections[alias].queries_log)
        with real_pipeline(raw) as pipeline:
            yield pipeline
        pipelined[alias] += len(connections[alias].queries_log) - before - 1

    with ExitStack() as stack:
        captured = {alias: stack.enter_context(CaptureQueriesContext(connections[alias])) for alias in connections}
        psycopg.Connection.pipeline = counting_pipeline  # type: ignore[method-assign]
        try:
            for n in range(sampled):
                post(n)
        finally:
            psycopg.Connection.pipeline = real_pipeline  # type: ignore[method-assign]
    statements = {alias: len(context.captured_queries) / sampled for alias, context in captured.items()}
    round_trips = {alias: statements[alias] - pipelined[alias] / sampled for alias in statements}

    bare: list[float] = []
    cpu = time.process_time()
    for n in range(count):
        request = OrderRequest(
            SYMBOL,
            OrderSide.BUY if n % 2 else OrderSide.SELL,
            OrderType.MARKET,
            Decimal("0.01"),
            f"bare-{time.time_ns()}-{n}",
        )
        started = time.perf_counter()
        exchange_api.order_submit(venue="paper", request=request)
        bare.append(time.perf_counter() - started)
    bare_cpu = time.process_time() - cpu

    risk_step: list[float] = []
    cpu = time.process_time()
    for n in range(count):
        started = time.perf_counter()
        orders.risk_check(
            exchange="paper",
            symbol=SYMBOL,
            side="buy" if n % 2 else "sell",
            order_type="market",
            quantity=Decimal("0.01"),
            price=None,
        )
        risk_step.append(time.perf_counter() - started)
    risk_cpu = time.process_time() - cpu

    api: list[float] = []
    cpu = time.process_time()
    began = time.perf_counter()
    for n in range(count):
        started = time.perf_counter()
        if not post(n):
            return 1
        api.append(time.perf_counter() - started)
    elapsed = time.perf_counter() - began
    api_cpu = time.process_time() - cpu

    print(f"{count} market orders on the paper venue, one process, one connection per domain, JWT auth")
    print(
        "SQL statements (round trips) per API order: "
        + ", ".join(f"{alias} {count:g} ({round_trips[alias]:g})" for alias, count in statements.items() if count)
        + f"; total {sum(statements.values()):g} ({sum(round_trips.values()):g})"
    )
    print(line("reference: bare paper order_submit", bare, bare_cpu))
    print(line("risk step (limits+book from the DB)", risk_step, risk_cpu))
    print(line("POST /api/v1/orders (risk+saga+fill)", api, api_cpu) + f"  {count / elapsed:6.1f} orders/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
