"""Order placement through the API: POST /api/v1/orders -> validation -> pre-trade risk check on a book built
from the database -> saga (transitions and outbox events) -> paper venue fill -> fills, position, response.

Run: `uv run python bench/order_api.py [--orders 300]` (uses DATABASE_URL / REDIS_URL like the other
benchmarks; it creates its own database `<name>_bench`).

Figures: orders/s and p50/p99 latency of the whole API call; the database-backed risk step alone (snapshot
from Position, MarkPrice, Order and breaker rows, then `check_order`). Reference in the same run: the bare
paper venue (`exchange.api.order_submit`), the part of each order that is the exchange's, not trading's.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from paper_exchange_throughput import configure_environment  # noqa: E402

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def percentile(samples: list[float], fraction: float) -> float:
    return sorted(samples)[max(int(len(samples) * fraction) - 1, 0)] * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=300)
    count = parser.parse_args().orders
    configure_environment()
    os.environ["DSTA_DEBUG"] = "1"  # the test client's host is `testserver`
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from dsta.exchange import api as exchange_api
    from dsta.exchange.contracts import OrderBook, OrderRequest, OrderSide, OrderType, PriceLevel
    from dsta.trading import orders, services
    from dsta.trading.models import MarkPrice

    with open(os.devnull, "w") as quiet:
        call_command("bootstrap_db", verbosity=0, stdout=quiet)
        call_command("migrate_domains", verbosity=0, stdout=quiet)
    exchange_api.paper_reset(seed=7)
    exchange_api.paper_deposit(asset="USDT", amount=Decimal(10**9))
    exchange_api.paper_deposit(asset="BTC", amount=Decimal(10**6))
    levels = range(5)
    exchange_api.paper_book_feed(
        book=OrderBook(
            "paper",
            "BTC/USDT",
            T0,
            tuple(PriceLevel(Decimal(99) - i, Decimal(10**6)) for i in levels),
            tuple(PriceLevel(Decimal(100) + i, Decimal(10**6)) for i in levels),
        )
    )
    MarkPrice.objects.using("trading").update_or_create(
        exchange="paper", symbol="BTC/USDT", defaults={"price": Decimal(100), "as_of": T0}
    )
    services.risk_limits_update(
        values={"max_orders_per_minute": 10**6, "max_open_orders": 10**4}, actor_id=None, reason="benchmark"
    )
    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_superuser": True})
    client = Client()
    client.force_login(user)

    bare: list[float] = []
    for n in range(count):
        request = OrderRequest(
            "BTC/USDT",
            OrderSide.BUY if n % 2 else OrderSide.SELL,
            OrderType.MARKET,
            Decimal("0.01"),
            f"bare-{time.time_ns()}-{n}",
        )
        started = time.perf_counter()
        exchange_api.order_submit(venue="paper", request=request)
        bare.append(time.perf_counter() - started)

    risk_step: list[float] = []
    for n in range(count):
        started = time.perf_counter()
        orders.risk_check(
            exchange="paper",
            symbol="BTC/USDT",
            side="buy" if n % 2 else "sell",
            order_type="market",
            quantity=Decimal("0.01"),
            price=None,
        )
        risk_step.append(time.perf_counter() - started)

    api: list[float] = []
    began = time.perf_counter()
    for n in range(count):
        body = {"exchange": "paper", "symbol": "BTC/USDT", "side": "buy" if n % 2 else "sell", "quantity": "0.01"}
        started = time.perf_counter()
        response = client.post("/api/v1/orders", body, content_type="application/json")
        api.append(time.perf_counter() - started)
        if response.status_code != 201 or response.json()["status"] != "filled":
            print(f"order {n} failed: {response.status_code} {response.content[:300]!r}")
            return 1
    elapsed = time.perf_counter() - began

    print(f"{count} market orders on the paper venue, one process, one connection per domain")
    print(
        f"reference: bare paper order_submit   p50 {percentile(bare, 0.5):6.2f} ms  "
        f"p99 {percentile(bare, 0.99):6.2f} ms"
    )
    print(
        f"risk step from the database          p50 {percentile(risk_step, 0.5):6.2f} ms  "
        f"p99 {percentile(risk_step, 0.99):6.2f} ms"
    )
    print(
        f"POST /api/v1/orders (risk+saga+fill) p50 {percentile(api, 0.5):6.2f} ms  p99 {percentile(api, 0.99):6.2f} ms"
        f"  {count / elapsed:6.1f} orders/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
