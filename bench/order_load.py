"""Load test of the order path from outside: POST /api/v1/orders on the paper venue through a real uvicorn
server on 127.0.0.1, at a fixed arrival rate (open loop: requests start on schedule whether or not earlier
ones have answered, and latency counts from the scheduled start, so a stalled server cannot hide its queue).

Run: `uv run python bench/order_load.py [--rate 100] [--seconds 10]` (its own database `<name>_bench`).

Figures per phase: achieved rate (answers per second), p50/p95/p99 latency, errors (transport errors and
non-2xx). Reference in the same run and at the same rate: GET /healthz, the server and client's own floor.

`--storm [--factor 3]`: overload. The server's capacity is measured first (closed loop: 8 clients placing
orders back to back), then an open-loop storm at `factor` times that rate, with /healthz probed 20 times a
second throughout, twice: by the storm's own client (saturated by the storm, it adds its own queueing) and by
a separate process on its own keep-alive connection (what a load balancer's probe sees). The server must shed
(429 from the rate limits, 503 from the admission bound, each with Retry-After) instead of queueing into
timeouts; every 2xx order must exist exactly once. Printed: requests, 2xx, 429, 503, other errors and timeouts,
lost and duplicated orders, and /healthz p50/p99 before and during.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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


ORDER_TIMEOUT_SECONDS = 10.0


@dataclass
class Storm:
    statuses: dict[str, int] = field(default_factory=dict)
    acknowledged: dict[str, int] = field(default_factory=dict)  # client order id -> order id of a 2xx
    shed_without_retry_after: int = 0
    health: Phase = field(default_factory=lambda: Phase("GET /healthz during"))

    def count(self, key: str) -> None:
        self.statuses[key] = self.statuses.get(key, 0) + 1


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: dict[str, str]
    body: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> dict:
        return json.loads(self.body)


class StormClient:
    """aiohttp for the storm's own requests: httpx's connection pool spends time in proportion to the requests
    waiting on it, so at a few hundred in flight the client, not the server, set the latencies."""

    def __init__(self, base: str, *, timeout: float) -> None:
        import aiohttp

        self._base = base
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=2000), timeout=aiohttp.ClientTimeout(total=timeout)
        )

    async def __aenter__(self) -> StormClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()

    async def get(self, path: str) -> Answer:
        async with self._session.get(self._base + path) as answer:
            return Answer(answer.status, dict(answer.headers), await answer.read())

    async def post(self, path: str, *, json: dict, headers: dict[str, str]) -> Answer:
        async with self._session.post(self._base + path, json=json, headers=headers) as answer:
            return Answer(answer.status, dict(answer.headers), await answer.read())


async def storm(base: str, token: str, *, factor: float, seconds: float) -> None:
    import aiohttp

    run_id = f"storm-{int(time.time())}"
    headers = {"Authorization": f"Bearer {token}"}
    async with StormClient(base, timeout=ORDER_TIMEOUT_SECONDS) as http:

        def body(client_order_id: str) -> dict[str, str]:
            return {
                "exchange": "paper",
                "symbol": "BTC/USDT",
                "side": "buy",
                "order_type": "market",
                "quantity": "0.001",
                "client_order_id": client_order_id,
            }

        async def health(index: int) -> int:
            return (await http.get("/healthz")).status_code

        before = Phase("GET /healthz before")
        await open_loop(before, rate=20, seconds=3, request=health)

        # capacity: 8 clients back to back, for `seconds`
        placed = 0
        stop_at = time.perf_counter() + seconds

        async def closed_loop(client: int) -> None:
            nonlocal placed
            n = 0
            while time.perf_counter() < stop_at:
                answer = await http.post("/api/v1/orders", json=body(f"{run_id}-cap-{client}-{n}"), headers=headers)
                n += 1
                placed += answer.is_success

        started = time.perf_counter()
        await asyncio.gather(*(closed_loop(client) for client in range(8)))
        capacity = placed / (time.perf_counter() - started)
        rate = capacity * factor
        print(f"capacity (closed loop, 8 clients): {capacity:.1f} orders/s; storm at {factor:g}x = {rate:.0f}/s")
        await asyncio.sleep(2)  # the rate limit's window of the capacity phase passes

        result = Storm()

        async def order(index: int) -> int:
            client_order_id = f"{run_id}-{index}"
            try:
                answer = await http.post("/api/v1/orders", json=body(client_order_id), headers=headers)
            except TimeoutError:
                result.count("timeout")
                return 599  # counted above; kept out of the 2xx latencies
            except aiohttp.ClientError as exc:
                result.count(type(exc).__name__)
                return 599
            result.count(
                str(answer.status_code) if answer.status_code in (429, 503) else f"{answer.status_code // 100}xx"
            )
            if answer.is_success:
                result.acknowledged[client_order_id] = int(answer.json()["id"])
            elif answer.status_code in (429, 503) and "Retry-After" not in answer.headers:
                result.shed_without_retry_after += 1
            return answer.status_code

        orders = Phase("POST /api/v1/orders storm")
        _, _, probed = await asyncio.gather(
            open_loop(orders, rate=rate, seconds=seconds, request=order),
            open_loop(result.health, rate=20, seconds=seconds, request=health),
            probe_in_own_process(base, rate=20, seconds=seconds),
        )
    await asyncio.sleep(1)
    lost, duplicated = await asyncio.to_thread(check_orders, run_id, result.acknowledged)
    requests = int(rate * seconds)
    others = {key: value for key, value in result.statuses.items() if key not in ("2xx", "429", "503")}
    print(
        f"storm: requests {requests}, 2xx {result.statuses.get('2xx', 0)}, 429 {result.statuses.get('429', 0)}, "
        f"503 {result.statuses.get('503', 0)}, other {others or 'none'}, lost {lost}, duplicated {duplicated}, "
        f"shed without Retry-After {result.shed_without_retry_after}"
    )
    print(f"2xx latency from schedule: p50 {orders.percentile(0.5):.1f} ms, p99 {orders.percentile(0.99):.1f} ms")
    result.health.name = "GET /healthz, storm's client"
    for phase in (before, result.health, probed):
        print(f"{phase.name:<28} p50 {phase.percentile(0.5):6.1f} ms  p99 {phase.percentile(0.99):6.1f} ms")


def probe_healthz(base: str, *, rate: float, seconds: float) -> list[float]:
    """Latencies (s, from each probe's scheduled start) of GET /healthz at `rate` for `seconds`, one probe at a
    time on one keep-alive connection, reopened after an error (an error counts as the timeout, 10 s)."""
    import http.client
    from urllib.parse import urlsplit

    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=10)
    latencies = []
    start = time.perf_counter()
    for index in range(int(rate * seconds)):
        scheduled = start + index / rate
        if (delay := scheduled - time.perf_counter()) > 0:
            time.sleep(delay)
        try:
            connection.request("GET", "/healthz")
            answer = connection.getresponse()
            answer.read()
            ok = answer.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
        if not ok:
            connection.close()
            latencies.append(10.0)
            continue
        latencies.append(time.perf_counter() - scheduled)
    return latencies


async def probe_in_own_process(base: str, *, rate: float, seconds: float) -> Phase:
    """probe_healthz in a child process of its own, so that the storm's client loop cannot delay it."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--probe-healthz",
        base,
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await child.communicate()
    phase = Phase("GET /healthz, own process")
    phase.latencies = [float(value) for value in output.split()]
    phase.elapsed = seconds
    return phase


def check_orders(run_id: str, acknowledged: dict[str, int]) -> tuple[int, int]:
    """(lost, duplicated): 2xx orders missing from the database, and client order ids stored more than once
    or answered with two order ids."""
    from django.db.models import Count

    from dsta.trading.models import Order

    stored = dict(
        Order.objects.using("trading")
        .filter(client_order_id__startswith=f"{run_id}-")
        .exclude(client_order_id__contains="-cap-")
        .values_list("client_order_id")
        .annotate(n=Count("id"))
    )
    lost = sum(1 for client_order_id in acknowledged if client_order_id not in stored)
    duplicated = sum(n - 1 for n in stored.values() if n > 1) + (len(acknowledged) - len(set(acknowledged.values())))
    return lost, duplicated


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100.0, help="arrivals per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase")
    parser.add_argument("--storm", action="store_true", help="overload at --factor times the measured capacity")
    parser.add_argument("--factor", type=float, default=3.0)
    parser.add_argument("--probe-healthz", metavar="BASE_URL", help=argparse.SUPPRESS)  # the storm's own probe
    args = parser.parse_args()
    if args.probe_healthz:
        latencies = probe_healthz(args.probe_healthz, rate=20, seconds=args.seconds)
        print("\n".join(f"{latency:.6f}" for latency in latencies))
        return 0
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
        credentials = {"username": "order-load", "password": PASSWORD}
        login = httpx.post(f"{base}/api/v1/auth/login", json=credentials, timeout=60)
        token = login.json()["access_token"]
        if args.storm:
            asyncio.run(storm(base, token, factor=args.factor, seconds=args.seconds))
            print(
                f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (figures under load are noisy)"
            )
            return 0
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
