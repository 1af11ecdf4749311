"""Orders: the persisted state machine, the placement saga on the paper venue (crash and resume included),
fills into positions and P&L snapshots."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections

from dsta.domains import DOMAINS
from dsta.exchange import api as exchange_api
from dsta.exchange.contracts import OrderBook, OrderRequest, OrderSide, OrderType, PriceLevel
from dsta.trading import orders, services
from dsta.trading.models import Fill, MarkPrice, Order, OrderTransition, PnlSnapshot, Position, RiskViolation

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)
SYMBOL = "BTC/USDT"


def feed_book(bid: str, ask: str, amount: str = "10") -> None:
    exchange_api.paper_book_feed(
        book=OrderBook("paper", SYMBOL, T0, (PriceLevel(D(bid), D(amount)),), (PriceLevel(D(ask), D(amount)),))
    )


@pytest.fixture
def paper():
    exchange_api.paper_reset(slippage_bps=D(0), slippage_jitter_bps=D(0))
    exchange_api.paper_deposit(asset="USDT", amount=D("100000"))
    feed_book("99", "100")
    MarkPrice.objects.using("trading").create(exchange="paper", symbol=SYMBOL, price=D("100"), as_of=T0)


def new(side: str = "buy", quantity: str = "1", order_type: str = "market", price: str | None = None, cid: str = ""):
    return orders.NewOrder(
        exchange="paper",
        symbol=SYMBOL,
        side=side,
        order_type=order_type,
        quantity=D(quantity),
        price=D(price) if price else None,
        client_order_id=cid,
    )


def outbox_statuses(order_id: int) -> list[tuple[str, str]]:
    with connections["trading"].cursor() as cursor:
        cursor.execute(
            "SELECT payload->>'from_status', payload->>'to_status' FROM outbox "
            "WHERE name = 'trading.order_status' AND aggregate_key = %s ORDER BY id",
            [f"order:{order_id}"],
        )
        return list(cursor.fetchall())


def test_market_order_runs_the_saga_to_filled_with_every_transition_published(paper):
    order = orders.order_place(new())
    assert order.status == "filled" and order.filled_quantity == D(1) and order.average_price == D(100)
    assert order.fees == D("0.1")  # taker fee 0.1% of 100 USDT
    path = [("new", "pending_risk"), ("pending_risk", "submitted"), ("submitted", "filled")]
    assert (
        list(OrderTransition.objects.using("trading").filter(order=order).values_list("from_status", "to_status"))
        == path
    )
    assert outbox_statuses(order.pk) == path
    position = Position.objects.using("trading").get(exchange="paper", symbol=SYMBOL)
    assert (position.quantity, position.average_price, position.fees) == (D(1), D(100), D("0.1"))
    assert Fill.objects.using("trading").filter(order=order).count() == 1


def test_illegal_transitions_raise_and_change_nothing(paper):
    order = orders.order_place(new())
    with pytest.raises(orders.IllegalTransition):
        orders.transition(order, "submitted")
    with pytest.raises(orders.IllegalTransition):
        orders.order_cancel(order.pk, actor_id=None)
    assert Order.objects.using("trading").get(pk=order.pk).status == "filled"
    assert OrderTransition.objects.using("trading").filter(order=order).count() == 3


def test_risk_rejection_stores_and_publishes_violations(paper):
    services.risk_limits_update(values={"max_order_notional": D("50")}, actor_id=None)
    order = orders.order_place(new())
    assert order.status == "rejected"
    violation = RiskViolation.objects.using("trading").get()
    assert violation.rule == "max_order_notional" and violation.context["order_id"] == order.pk
    assert outbox_statuses(order.pk)[-1] == ("pending_risk", "rejected")
    assert exchange_api.fills_list(venue="paper", symbol=SYMBOL) == []  # never sent
    with connections["trading"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM outbox WHERE name = 'trading.risk_violation'")
        assert cursor.fetchone()[0] == 1


def test_the_order_rate_counts_the_last_minute_of_orders_from_the_database(paper):
    services.risk_limits_update(values={"max_orders_per_minute": 3}, actor_id=None)
    placed = [orders.order_place(new(quantity="0.1")) for _ in range(3)]
    assert [order.status for order in placed] == ["filled"] * 3
    fourth = orders.order_place(new(quantity="0.1"))
    assert fourth.status == "rejected"
    assert RiskViolation.objects.using("trading").get().rule == "order_rate"
    # a minute later the first two (and the rejected one) have left the window: room for one more
    with connections["trading"].cursor() as cursor:
        cursor.execute(
            "UPDATE \"order\" SET created_at = now() - interval '61 seconds' WHERE id = ANY(%s)",
            [[placed[0].pk, placed[1].pk, fourth.pk]],
        )
    assert orders.order_place(new(quantity="0.1")).status == "filled"
    assert orders.order_place(new(quantity="0.1")).status == "rejected"


def test_the_breaker_and_open_orders_feed_the_check_from_the_database(paper):
    services.risk_limits_update(values={"max_open_orders": 1}, actor_id=None)
    resting = orders.order_place(new(order_type="limit", price="98"))
    assert resting.status == "submitted"  # rests below the ask
    second = orders.order_place(new(order_type="limit", price="98"))
    assert second.status == "rejected"
    assert RiskViolation.objects.using("trading").get().rule == "max_open_orders"
    services.circuit_breaker_set(is_open=True, reason="drill", actor_id=None)
    decision = orders.risk_check(
        exchange="paper", symbol=SYMBOL, side="buy", order_type="market", quantity=D(1), price=None
    )
    assert not decision.approved and "circuit_breaker" in {v.rule for v in decision.violations}


def test_exchange_business_error_rejects_the_order(paper):
    order = orders.order_place(new(side="sell", quantity="5"))  # holds no BTC: insufficient funds
    assert order.status == "rejected" and "exchange" in order.transitions.using("trading").last().reason


def test_crash_between_persist_and_confirm_never_duplicates_the_exchange_order(paper):
    order = orders.order_create(new(order_type="limit", price="98", cid="crash-1"))
    order = orders.order_risk_step(order.pk)
    assert order.status == "submitted"
    # The exchange took the order, then the process died before the answer was recorded.
    request = OrderRequest(SYMBOL, OrderSide.BUY, OrderType.LIMIT, D(1), "crash-1", D("98"))
    exchange_api.order_submit(venue="paper", request=request)
    assert Order.objects.using("trading").get(pk=order.pk).exchange_order_id == ""
    out = StringIO()
    call_command("orders_resume", stdout=out)
    assert out.getvalue().strip() == "1 unfinished orders resumed"
    assert orders.orders_resume() == 1  # still open: re-read, still not resubmitted
    open_orders = exchange_api.orders_open_list(venue="paper", symbol=SYMBOL)
    assert [view.client_order_id for view in open_orders] == ["crash-1"]
    stored = Order.objects.using("trading").get(pk=order.pk)
    assert stored.exchange_order_id == open_orders[0].exchange_order_id and stored.status == "submitted"
    # It fills later; a sync records the fill once, however often it runs.
    feed_book("97", "97.5")
    orders.orders_resume()
    orders.orders_resume()
    stored = Order.objects.using("trading").get(pk=order.pk)
    assert stored.status == "filled" and Fill.objects.using("trading").filter(order=stored).count() == 1
    assert Position.objects.using("trading").get(symbol=SYMBOL).quantity == D(1)


def test_crash_after_exchange_fill_resumes_to_one_fill_and_one_position(paper):
    order = orders.order_risk_step(orders.order_create(new(cid="crash-2")).pk)
    request = OrderRequest(SYMBOL, OrderSide.BUY, OrderType.MARKET, D(1), "crash-2")
    exchange_api.order_submit(venue="paper", request=request)  # filled at the exchange; crash before confirm
    orders.orders_resume()
    orders.order_submit_step(order.pk)  # a stray replay of the step is harmless too
    assert len(exchange_api.fills_list(venue="paper", symbol=SYMBOL)) == 1
    assert Order.objects.using("trading").get(pk=order.pk).status == "filled"
    assert Position.objects.using("trading").get(symbol=SYMBOL).quantity == D(1)


def test_cancel_a_resting_order(paper):
    order = orders.order_place(new(order_type="limit", price="98"))
    cancelled = orders.order_cancel(order.pk, actor_id=None)
    assert cancelled.status == "cancelled" and exchange_api.orders_open_list(venue="paper") == []


def test_round_trip_realises_pnl_and_snapshot_marks_the_rest(paper):
    orders.order_place(new(quantity="2"))  # 2 @ 100, fee 0.2
    feed_book("110", "111")
    orders.order_place(new(side="sell", quantity="1"))  # 1 @ 110, fee 0.11
    position = Position.objects.using("trading").get(symbol=SYMBOL)
    assert position.quantity == D(1) and position.average_price == D(100)
    assert position.realised_pnl == D(10) - D("0.2") - D("0.11") and position.fees == D("0.31")
    MarkPrice.objects.using("trading").filter(symbol=SYMBOL).update(price=D(120))
    rows = orders.pnl_snapshot_take()
    by_symbol = {row.symbol: row for row in rows}
    assert by_symbol[SYMBOL].unrealised_pnl == D(20) and by_symbol[SYMBOL].mark_price == D(120)
    assert by_symbol[""].realised_pnl == position.realised_pnl and by_symbol[""].unrealised_pnl == D(20)
    assert PnlSnapshot.objects.using("trading").count() == 2


def test_reconcile_reports_and_repairs_drift_from_exchange_truth(paper):
    orders.order_place(new(quantity="2"))
    Position.objects.using("trading").filter(symbol=SYMBOL).update(quantity=D("1.5"))  # a lost fill
    report = orders.positions_reconcile(exchange="paper", repair=False, actor_id=None)
    assert [(d.symbol, d.recorded, d.exchange) for d in report.positions] == [(SYMBOL, D("1.5"), D(2))]
    assert Position.objects.using("trading").get(symbol=SYMBOL).quantity == D("1.5")
    orders.positions_reconcile(exchange="paper", repair=True, actor_id=None)
    assert Position.objects.using("trading").get(symbol=SYMBOL).quantity == D(2)
    assert orders.positions_reconcile(exchange="paper", repair=False, actor_id=None).positions == []


def test_exchange_events_fill_a_resting_order_exactly_once(paper):
    import dsta.trading.actors  # noqa: F401  (registers the handlers)
    from dsta.kernel.handlers import deliver
    from dsta.kernel.relay import Relay

    exchange_domain = next(domain for domain in DOMAINS if domain.alias == "exchange")
    relay = Relay(domains=[exchange_domain], batch_size=1000)
    order = orders.order_place(new(order_type="limit", price="98"))
    feed_book("97", "97.5")  # crosses: the paper venue fills it and publishes exchange.fill + order_updated
    envelopes = relay.claim(exchange_domain)
    assert {"exchange.fill", "exchange.order_updated"} <= {envelope.name for envelope in envelopes}
    deliver(envelopes)
    deliver(envelopes)  # redelivery: the inbox and the unique fill id keep it at one effect
    stored = Order.objects.using("trading").get(pk=order.pk)
    assert stored.status == "filled" and stored.filled_quantity == D(1)
    assert Fill.objects.using("trading").filter(order=stored).count() == 1
    position = Position.objects.using("trading").get(symbol=SYMBOL)
    assert position.quantity == D(1) and position.average_price == D(98)


def test_the_risk_step_of_a_stored_order_puts_the_reasons_message_in_last_error(paper):
    order = orders.order_create(new(quantity="150", cid="step-reject-1"))  # stored first, like a stop's order
    rejected = orders.order_risk_step(order.pk)
    assert rejected.status == "rejected" and rejected.last_error == "order notional above the limit"
    assert Order.objects.using("trading").get(pk=order.pk).last_error == "order notional above the limit"
