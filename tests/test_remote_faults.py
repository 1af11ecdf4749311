"""SIGKILL the served exchange in the middle of an order stream and start it again: each order placed while
it is down is answered at once as `submitted` with a transient error (or succeeds on a retry), the resume
job finishes them under their client order ids, no exchange order is opened twice, and orders, fills,
positions and the venue's balances agree exactly."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from dsta.domains import DOMAINS
from dsta.exchange import api as exchange_api
from dsta.exchange.contracts import OrderBook, PriceLevel
from dsta.kernel.tests.processes import wait_until
from dsta.kernel.tests.served import remote, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.django_db(databases=[d.alias for d in DOMAINS], transaction=True)]
D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)
ORDERS = 40
KILL_AFTER = 10


@pytest.fixture
def served_exchange(served_domains, monkeypatch):
    monkeypatch.setenv("DSTA_RPC_DEADLINE_SECONDS_EXCHANGE", "1")  # while it is down, say so within a second
    with remote("exchange", served=served_domains) as running:
        yield running["exchange"]


def exchange_orders(admin_url: str) -> list[tuple[str, str]]:
    with psycopg.connect(admin_url) as conn:
        return conn.execute("SELECT client_order_id, status FROM exchange.paper_order ORDER BY id").fetchall()


def test_sigkill_of_the_served_exchange_mid_stream(served_exchange, client, django_user_model):
    from dsta.trading import orders
    from dsta.trading.models import Fill, MarkPrice, Order, Position

    exchange_api.paper_reset(slippage_bps=D(0), slippage_jitter_bps=D(0))
    exchange_api.paper_deposit(asset="USDT", amount=D("1000000"))
    deep = (PriceLevel(D(100), D(10**6)),)
    exchange_api.paper_book_feed(book=OrderBook("paper", "BTC/USDT", T0, (PriceLevel(D(99), D(10**6)),), deep))
    MarkPrice.objects.using("trading").create(exchange="paper", symbol="BTC/USDT", price=D(100), as_of=T0)
    client.force_login(django_user_model.objects.create_superuser("trader", password="x" * 12))

    placed: list[dict] = []
    refused: list[tuple[str, dict]] = []
    killed = threading.Event()

    def kill_then_restart() -> None:
        assert wait_until(lambda: len(placed) + len(refused) >= KILL_AFTER, timeout=120)
        served_exchange.child.kill()  # SIGKILL, mid-stream: a call may be in flight
        killed.set()
        served_exchange.restart(timeout=120)

    def place(cid: str):  # type: ignore[no-untyped-def]
        body = {"exchange": "paper", "symbol": "BTC/USDT", "side": "buy", "order_type": "market", "quantity": "0.1"}
        return client.post("/api/v1/orders", {**body, "client_order_id": cid}, content_type="application/json")

    chaos = threading.Thread(target=kill_then_restart)
    chaos.start()
    for i in range(ORDERS):
        if i == KILL_AFTER + 2:
            assert killed.wait(timeout=60)
        answer = place(f"k-{i}")
        if answer.status_code == 503:  # the exchange could not even be asked: a clear, retryable refusal
            assert answer["Retry-After"] == "1" and "exchange service is unavailable" in answer.json()["detail"]
            refused.append((f"k-{i}", answer.json()))
        else:
            assert answer.status_code == 201, answer.content  # never a 500
            placed.append(answer.json())
    chaos.join(timeout=180)
    assert not chaos.is_alive() and wait_ready(served_exchange.url, timeout=5)

    assert {order["status"] for order in placed} <= {"filled", "submitted"}
    transient = [order for order in placed if order["status"] == "submitted"]
    assert transient or refused, "no order met the outage: the kill came too late"
    assert all(order["last_error"].startswith("transient:") for order in transient)
    for cid, _ in refused:  # the client retries what was refused, under the same client order id
        retried = place(cid)
        assert retried.status_code == 201 and retried.json()["status"] == "filled", retried.content
        placed.append(retried.json())

    orders.orders_resume()  # what the scheduled resume job does after the outage
    assert sorted(Order.objects.using("trading").values_list("status", flat=True).distinct()) == ["filled"]
    venue_orders = exchange_orders(served_exchange.admin_url)
    ids = [cid for cid, _ in venue_orders if cid.startswith("k-")]
    assert sorted(ids) == sorted(f"k-{i}" for i in range(ORDERS))  # each exactly once: nothing duplicated
    assert {status for _, status in venue_orders} == {"filled"}
    assert Fill.objects.using("trading").count() == ORDERS
    position = Position.objects.using("trading").get(exchange="paper", symbol="BTC/USDT")
    assert position.quantity == D("0.1") * ORDERS
    balances = {b.asset: b.total for b in exchange_api.balance_get(venue="paper")}
    assert balances["BTC"] == position.quantity
    assert len(placed) == ORDERS and balances["USDT"] == D(1000000) - D("0.1") * 100 * ORDERS * D("1.001")
    assert os.environ.get("DSTA_REMOTE_EXCHANGE") is None  # the monolith's own setting was not needed
