"""TWAP: a parent risk-checked at full size, worked as child market orders by the dramatiq actor (a real
worker on the real Redis broker), spaced by the plan's interval, rolled up into the parent."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dsta.domains import DOMAINS
from dsta.exchange import api as exchange_api
from dsta.exchange.contracts import OrderBook, PriceLevel
from dsta.trading import orders, services
from dsta.trading.models import MarkPrice, Order, Position

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def paper():
    exchange_api.paper_reset(slippage_bps=D(0), slippage_jitter_bps=D(0))
    exchange_api.paper_deposit(asset="USDT", amount=D("100000"))
    exchange_api.paper_book_feed(
        book=OrderBook("paper", "BTC/USDT", T0, (PriceLevel(D(99), D(100)),), (PriceLevel(D(100), D(100)),))
    )
    MarkPrice.objects.using("trading").create(exchange="paper", symbol="BTC/USDT", price=D(100), as_of=T0)


def twap(quantity: str, slices: int, duration: int) -> Order:
    new = orders.NewOrder(exchange="paper", symbol="BTC/USDT", side="buy", order_type="market", quantity=D(quantity))
    return orders.twap_create(new, slices=slices, duration_seconds=duration)


def wait_final(parent_id: int, seconds: float = 30) -> Order:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        parent = Order.objects.using("trading").get(pk=parent_id)
        if parent.status in orders.FINAL:
            return parent
        time.sleep(0.1)
    raise AssertionError(f"TWAP parent still {parent.status}")


def test_slices_sum_to_the_parent_exactly():
    parent = Order(quantity=D(1), slices=3)
    quantities = [orders.twap_slice_quantity(parent, index) for index in range(3)]
    assert quantities == [D("0.3333333333"), D("0.3333333333"), D("0.3333333334")] and sum(quantities) == D(1)


def test_the_actor_works_the_parent_into_spaced_children(paper, worker):
    from dsta.trading.actors import twap_start

    parent = twap("1", slices=2, duration=2)  # one slice a second
    assert parent.status == "submitted" and parent.algo == "twap"
    twap_start(parent.pk)
    parent = wait_final(parent.pk)
    children = list(Order.objects.using("trading").filter(parent=parent).order_by("id"))
    assert [(child.client_order_id, child.quantity, child.status) for child in children] == [
        (f"{parent.client_order_id}-0", D("0.5"), "filled"),
        (f"{parent.client_order_id}-1", D("0.5"), "filled"),
    ]
    assert (children[1].created_at - children[0].created_at).total_seconds() >= 1
    assert parent.status == "filled" and parent.filled_quantity == D(1) and parent.average_price == D(100)
    assert parent.fees == D("0.1")
    assert Position.objects.using("trading").get(symbol="BTC/USDT").quantity == D(1)
    assert len(exchange_api.fills_list(venue="paper")) == 2  # the parent itself never went to the exchange
    assert orders.twap_place_slice(parent.pk, 1).status == "filled"  # a redelivered slice adds nothing
    assert Order.objects.using("trading").filter(parent=parent).count() == 2


def test_risk_applies_to_the_full_parent_and_cancel_stops_the_slices(paper):
    services.risk_limits_update(values={"max_order_notional": D(150)}, actor_id=None)
    assert twap("2", slices=4, duration=0).status == "rejected"  # 200 USDT in all, though each slice is 50
    services.risk_limits_update(values={"max_order_notional": D(1000)}, actor_id=None)
    parent = twap("2", slices=4, duration=0)
    orders.twap_place_slice(parent.pk, 0)
    assert Order.objects.using("trading").get(pk=parent.pk).status == "partially_filled"
    assert orders.order_cancel(parent.pk, actor_id=None).status == "cancelled"
    orders.twap_place_slice(parent.pk, 1)  # a slice already queued finds the parent cancelled
    assert Order.objects.using("trading").filter(parent=parent).count() == 1
    assert orders.twap_roll_up(parent.pk).filled_quantity == D("0.5")
