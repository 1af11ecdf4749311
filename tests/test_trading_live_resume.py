"""The order saga against a live venue (the real ccxt client talking to a local server speaking Binance's
REST dialect): a submit that fails transiently leaves the order `submitted` and resumable; the resume job
re-submits under the same client order id and the venue ends up with exactly one order, filled."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dsta.domains import DOMAIN_BY_ALIAS, DOMAINS
from dsta.exchange.tests.fake_venues import Binance, FakeVenueServer
from dsta.kernel import handlers
from dsta.kernel.events import EventEnvelope
from dsta.kernel.relay import Relay

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
D = Decimal
CREATE = "POST /api/v3/order"
GET = "GET /api/v3/order"


def to_trading(messages: list[dict]) -> None:
    """Deliver relayed events to the trading domain's consumers only."""
    saved = dict(handlers._subscriptions)
    try:
        handlers._subscriptions.clear()
        handlers._subscriptions.update({k: s for k, s in saved.items() if s.using == "trading"})
        handlers.deliver([EventEnvelope.from_message(message) for message in messages])
    finally:
        handlers._subscriptions.clear()
        handlers._subscriptions.update(saved)


@pytest.fixture
def binance(settings, redis_client, monkeypatch):
    from dsta.core import api as core
    from dsta.exchange import api

    server = FakeVenueServer(Binance()).start()
    monkeypatch.setenv("DSTA_EXCHANGE_BINANCE_URL", server.url)
    settings.DSTA_EXCHANGE_RETRY = {"attempts": 3, "base_delay": 0.01, "max_delay": 0.05}
    settings.DSTA_EXCHANGE_BREAKER = {"failure_threshold": 50, "cooldown": 0.5}
    settings.DSTA_EXCHANGE_TIMEOUT_MS = 1000
    core.secret_set(key="exchange/binance/api_key", value="test-key")
    core.secret_set(key="exchange/binance/secret", value="test-secret")
    for key in redis_client.scan_iter("dsta:exchange:*"):
        redis_client.delete(key)
    api.clients_reset()
    yield server
    api.clients_reset()
    server.stop()


@pytest.mark.parametrize(
    ("faults", "opened_before_resume"),
    [
        ({CREATE: ["500"] * 3}, []),  # the venue never took it
        ({CREATE: ["drop"] * 3}, []),  # the connection dropped on every try
        ({CREATE: ["apply_then_503"], GET: ["500"] * 6}, ["live-1"]),  # taken, but the answer never came back
    ],
    ids=["5xx", "drop", "applied-then-lost"],
)
def test_a_transient_submit_failure_is_resumed_into_exactly_one_exchange_order(binance, faults, opened_before_resume):
    from dsta.trading import orders
    from dsta.trading.actors import resume_orders, sync_fills
    from dsta.trading.models import Fill, MarkPrice, Order, Position

    MarkPrice.objects.using("trading").create(
        exchange="binance", symbol="BTC/USDT", price=D(100), as_of=datetime(2025, 1, 1, tzinfo=UTC)
    )
    for route, kinds in faults.items():
        binance.faults.add(route, *kinds)
    new = orders.NewOrder(
        exchange="binance",
        symbol="BTC/USDT",
        side="buy",
        order_type="market",
        quantity=D("0.01"),
        client_order_id="live-1",
    )
    order = orders.order_place(new)
    assert order.status == "submitted" and order.last_error.startswith("transient:")
    assert binance.dialect.created == opened_before_resume
    assert [o.pk for o in Order.objects.using("trading").filter(status="submitted")] == [order.pk]  # resumable
    binance.faults.clear()
    time.sleep(0.6)  # past the breaker's cooldown, should the failures have opened it
    resume_orders()  # what the scheduler sends every 30 seconds (called in process here)
    order = Order.objects.using("trading").get(pk=order.pk)
    assert binance.dialect.created == ["live-1"]  # exactly one exchange order, under our client order id
    assert order.status == "filled" and order.filled_quantity == D("0.01") and order.last_error == ""
    assert order.exchange_order_id == next(iter(binance.dialect.orders))
    # a live venue's fills arrive through the scheduled fills sync: `exchange.fill` events, relayed to trading
    sync_fills()
    Relay(domains=[DOMAIN_BY_ALIAS["exchange"]], sender=to_trading).drain()
    assert Fill.objects.using("trading").filter(order=order).count() == 1
    assert Position.objects.using("trading").get(exchange="binance", symbol="BTC/USDT").quantity == D("0.01")
    # resuming again touches nothing and opens nothing
    assert orders.orders_resume() == 0 and binance.dialect.created == ["live-1"]
