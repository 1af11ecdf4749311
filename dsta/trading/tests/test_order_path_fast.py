"""The fast placement path (issue 6's order benchmark): fewer round trips, same guarantees. Limits are read
with the book, so an edit binds the next order; a known client_order_id never reaches the exchange twice; an
order's fills are read by its id; the response is the stored order."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from dsta.domains import DOMAINS
from dsta.exchange import api as exchange_api
from dsta.exchange.contracts import OrderBook, OrderRequest, OrderSide, OrderType, PriceLevel
from dsta.trading import orders, services
from dsta.trading.models import Fill, MarkPrice, Order, OrderTransition, Position

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)
SYMBOL = "BTC/USDT"


@pytest.fixture
def paper():
    exchange_api.paper_reset(slippage_bps=D(0), slippage_jitter_bps=D(0))
    exchange_api.paper_deposit(asset="USDT", amount=D("100000"))
    exchange_api.paper_book_feed(
        book=OrderBook("paper", SYMBOL, T0, (PriceLevel(D("99"), D("10")),), (PriceLevel(D("100"), D("10")),))
    )
    MarkPrice.objects.using("trading").create(exchange="paper", symbol=SYMBOL, price=D("100"), as_of=T0)


def new(quantity: str = "1", cid: str = "") -> orders.NewOrder:
    return orders.NewOrder(
        exchange="paper", symbol=SYMBOL, side="buy", order_type="market", quantity=D(quantity), client_order_id=cid
    )


def test_a_limit_edit_binds_the_very_next_order(paper):
    assert orders.order_place(new()).status == "filled"
    limits = services.risk_limits_update(values={"max_order_notional": D("50")}, actor_id=None)
    rejected = orders.order_place(new())
    assert rejected.status == "rejected"
    reasons = list(OrderTransition.objects.using("trading").filter(order=rejected).values_list("reason", flat=True))
    assert reasons == ["pre-trade risk check", "max_order_notional"]
    services.risk_limits_update(values={"max_order_notional": D("500")}, actor_id=None)
    approved = orders.order_place(new())
    assert approved.status == "filled"
    assert f"limits v{limits.version + 1}" in approved.transitions.using("trading").get(to_status="submitted").reason


def test_a_repeated_client_order_id_returns_the_stored_order_and_sends_nothing_twice(paper):
    first = orders.order_place(new(cid="same-1"))
    again = orders.order_place(new(cid="same-1"))
    assert again.pk == first.pk and again.status == "filled"
    assert Order.objects.using("trading").filter(client_order_id="same-1").count() == 1
    assert len(exchange_api.fills_list(venue="paper", symbol=SYMBOL)) == 1
    assert Position.objects.using("trading").get(symbol=SYMBOL).quantity == D(1)


def test_a_client_order_id_reused_for_different_terms_is_refused(paper):
    first = orders.order_place(new(cid="same-3"))
    with pytest.raises(orders.OrderInputError) as refused:
        orders.order_place(new(quantity="2", cid="same-3"))
    assert "client_order_id" in refused.value.errors
    assert Order.objects.using("trading").get(client_order_id="same-3").quantity == first.quantity == D(1)
    assert len(exchange_api.fills_list(venue="paper", symbol=SYMBOL)) == 1


def test_a_known_client_order_id_left_submitted_is_resubmitted_under_the_same_id(paper):
    # a crash after the admit transaction: the order is stored as submitted, the exchange never heard of it
    order = orders.order_risk_step(orders.order_create(new(cid="same-2")).pk)
    assert order.status == "submitted"
    placed = orders.order_place(new(cid="same-2"))
    assert placed.pk == order.pk and placed.status == "filled"
    assert [view.client_order_id for view in exchange_api.fills_list(venue="paper", symbol=SYMBOL)] == ["same-2"]


def test_fills_list_narrows_to_one_order(paper):
    for cid in ("f-1", "f-2"):
        request = OrderRequest(SYMBOL, OrderSide.BUY, OrderType.MARKET, D("0.5"), cid)
        exchange_api.order_submit(venue="paper", request=request)
    fills = exchange_api.fills_list(venue="paper", symbol=SYMBOL, client_order_id="f-2")
    assert [fill.client_order_id for fill in fills] == ["f-2"]
    assert exchange_api.fills_list(venue="paper", client_order_id="unknown") == []


def test_the_order_saga_costs_a_bounded_number_of_round_trips(paper):
    orders.order_place(new("0.1"))  # warm: limits row, position row
    with (
        CaptureQueriesContext(connections["trading"]) as trading,
        CaptureQueriesContext(connections["exchange"]) as exchange,
    ):
        order = orders.order_place(new("0.1"))
    assert order.status == "filled"
    # statements, BEGIN/COMMIT included: 48 before issue 6's work (33 trading, 13 exchange, 2 core for the API
    # call). Pipelined ones share a round trip: trading's 15 take 10, exchange's 11 take 4.
    assert len(trading.captured_queries) <= 15, [q["sql"][:80] for q in trading.captured_queries]
    assert len(exchange.captured_queries) <= 11, [q["sql"][:80] for q in exchange.captured_queries]
    fill = Fill.objects.using("trading").get(order=order)
    position = Position.objects.using("trading").get(symbol=SYMBOL)
    assert (fill.quantity, position.quantity) == (D("0.1"), D("0.2"))
