"""Load test of the order path from outside: POST /api/v1/orders on the paper venue through a real uvicorn
server on 127.0.0.1, at a fixed arrival rate (open loop: requests start on schedule whether or not earlier
ones have answered, and latency counts from the scheduled start, so a stalled server cannot hide its queue).

Run: `uv run python bench/order_load.py [--rate 100] [--seconds 10]` (its own database `<name>_bench`).

Figures per phase: achieved rate (answers per second), p50/p95/p99 latency, errors (transport errors and
non-2xx). Reference in the same run and at the same rate: GET /healthz, the server and client's own floor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from benchenv import setup_django  # noqa: E402

PASSWORD = "order-load-" + "x" * 12


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)] * 1000 if ordered else float("nan")

    def report(self, rate: float, planned: int) -> str:
        answered = len(self.latencies)
        errors = ", ".join(f"{key}: {count}" for key, count in sorted(self.errors.items())) or "none"
        return (
            f"{self.name:<22} target {rate:.0f}/s, achieved {answered / self.elapsed:7.1f}/s "
            f"({answered}/{planned} ok)  p50 {self.percentile(0.50):7.1f} ms  p95 {self.percentile(0.95):7.1f} ms  "
            f"p99 {self.percentile(0.99):7.1f} ms  errors: {errors}"
        )


async def open_loop(phase: Phase, *, rate: float, seconds: float, request) -> None:  # type: ignore[no-untyped-def]
    """Start request number i at t0 + i / rate, each in its own task; wait for every answer."""
    planned = int(rate * seconds)
    start = time.perf_counter()

    async def one(index: int, scheduled: float) -> None:
        try:
            status = await request(index)
        except Exception as exc:  # a load test counts failures, it does not stop at the first
            phase.errors[type(exc).__name__] = phase.errors.get(type(exc).__name__, 0) + 1
            return
        if 200 <= status < 300:
            phase.latencies.append(time.perf_counter() - scheduled)
        else:
            phase.errors[f"HTTP {status}"] = phase.errors.get(f"HTTP {status}", 0) + 1

    tasks = []
    for index in range(planned):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, scheduled)))
    await asyncio.gather(*tasks)
    phase.elapsed = time.perf_counter() - start


def prepare_venue() -> None:
    from dsta.exchange import api as exchange_api
    from dsta.exchange.contracts import OrderBook, PriceLevel
    from dsta.trading import services
    from dsta.trading.models import MarkPrice

    now = datetime.now(UTC)
    exchange_api.paper_reset(slippage_bps=Decimal(0), slippage_jitter_bps=Decimal(0))
    exchange_api.paper_deposit(asset="USDT", amount=Decimal(10**9))
    depth = Decimal(10**7)
    book = OrderBook("paper", "BTC/USDT", now, (PriceLevel(Decimal(99), depth),), (PriceLevel(Decimal(100), depth),))
    exchange_api.paper_book_feed(book=book)
    MarkPrice.objects.using("trading").update_or_create(
        exchange="paper", symbol="BTC/USDT", defaults={"price": Decimal(100), "as_of": now}
    )
    services.risk_limits_update(
        values={
            "max_orders_per_minute": 10**6,
            "max_open_orders": 10**6,
            "max_position_notional": Decimal(10**9),
            "max_total_exposure": Decimal(10**9),
        },
        actor_id=None,
        reason="order load benchmark",
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def measure(base: str, token: str, *, rate: float, seconds: float) -> list[Phase]:
    import httpx

    run_id = int(time.time())
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        headers = {"Authorization": f"Bearer {token}"}

        async def health(index: int) -> int:
            return (await http.get("/healthz")).status_code

        async def order(index: int) -> int:
            body = {
                "exchange": "paper",
                "symbol": "BTC/USDT",
                "side": "buy",
                "order_type": "market",
                "quantity": "0.001",
                "client_order_id": f"load-{run_id}-{index}",
            }
            return (await http.post("/api/v1/orders", json=body, headers=headers)).status_code

        warmup = Phase("warm-up")
        await open_loop(warmup, rate=min(rate, 20), seconds=1, request=order)
        reference = Phase("GET /healthz")
        await open_loop(reference, rate=rate, seconds=seconds, request=health)
        orders = Phase("POST /api/v1/orders")
        await open_loop(orders, rate=rate, seconds=seconds, request=lambda i: order(i + 10**6))
        return [reference, orders]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100.0, help="arrivals per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase")
    args = parser.parse_args()
    setup_django()
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username="order-load").first()
    if user is None:
        get_user_model().objects.create_superuser("order-load", password=PASSWORD)
    prepare_venue()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "uvicorn", "dsta.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(
        [*argv, "--no-access-log", "--log-level", "warning"], cwd=ROOT, env=dict(os.environ), start_new_session=True
    )
    try:
        import httpx

        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                print("the web server did not come up", file=sys.stderr)
                return 1
            time.sleep(0.3)
        login = httpx.post(f"{base}/api/v1/auth/login", json={"username": "order-load", "password": PASSWORD})
        token = login.json()["access_token"]
        print(f"open loop, {args.rate:.0f} arrivals/s for {args.seconds:.0f} s per phase, one uvicorn worker on {base}")
        planned = int(args.rate * args.seconds)
        for phase in asyncio.run(measure(base, token, rate=args.rate, seconds=args.seconds)):
            print(phase.report(args.rate, planned))
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (figures under load are noisy)")
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
