"""Orders after admission: resumed after a crash, synced with the exchange, cancelled."""

from __future__ import annotations

from django.db import transaction

from dsta.exchange import api as exchange_api
from dsta.exchange.contracts import OrderNotFound
from dsta.trading import services
from dsta.trading.models import OPEN_STATUSES, Order
from dsta.trading.models import OrderStatus as S
from dsta.trading.orders.admission import order_risk_step
from dsta.trading.orders.state import ALIAS, FINAL, IllegalTransition, locked, transition
from dsta.trading.orders.submission import order_record_exchange_view, order_submit_step


def orders_resume() -> int:
    """Finish every order a crash or a transient error left behind: `new`/`pending_risk` rerun the risk
    step, `submitted` ones are re-submitted with the same client_order_id (the exchange returns the order it
    already has), `partially_filled` ones are re-read. Returns how many orders it touched."""
    touched = 0
    active = Order.objects.using(ALIAS).exclude(status__in=FINAL).filter(algo="")
    for order_id, status in active.values_list("id", "status"):
        if status == S.NEW:
            order_risk_step(order_id)
            order_submit_step(order_id)
        elif status == S.PENDING_RISK:
            # the risk step's transaction rolled back as a whole, so pending_risk is never committed alone
            continue
        elif status == S.SUBMITTED:
            order_submit_step(order_id)
        else:
            order_sync(order_id)
        touched += 1
    return touched


def order_sync(order_id: int) -> Order:
    order = Order.objects.using(ALIAS).get(pk=order_id)
    if order.status in FINAL:
        return order
    try:
        view = exchange_api.order_get(venue=order.exchange, client_order_id=order.client_order_id)
    except OrderNotFound:
        return order_submit_step(order_id) if order.status == S.SUBMITTED else order
    return order_record_exchange_view(order_id, view)


def order_cancel(order_id: int, *, actor_id: int | None, client_address: str | None = None) -> Order:
    """Cancel an open order (any trader may cancel the desk's orders: the book is shared, see the
    README's Trading section). A person's cancel (an `actor_id`) is audited."""
    order = _cancelled(order_id)
    if actor_id is not None:
        services.audit(
            actor_id=actor_id,
            client_address=client_address,
            action="trading.order.cancel",
            target=order.client_order_id,
            details={"order_id": order.pk, "status": order.status},
        )
    return order


def _cancelled(order_id: int) -> Order:
    order = Order.objects.using(ALIAS).get(pk=order_id)
    if order.status in FINAL:
        raise IllegalTransition(f"order {order_id} is already {order.status}")
    if order.status not in OPEN_STATUSES:
        raise IllegalTransition(f"order {order_id} is {order.status}; only submitted orders can be cancelled")
    if order.algo:
        # the parent is never at the exchange: cancelling it stops the slices not yet placed
        with transaction.atomic(using=ALIAS):
            order = locked(order_id)
            if order.status in OPEN_STATUSES:
                transition(order, S.CANCELLED, reason="cancelled; remaining slices not placed")
        return order
    try:
        view = exchange_api.order_cancel(venue=order.exchange, client_order_id=order.client_order_id)
    except OrderNotFound:
        # never reached the exchange: cancel it here so no resume submits it later
        with transaction.atomic(using=ALIAS):
            order = locked(order_id)
            if order.status == S.SUBMITTED:
                transition(order, S.CANCELLED, reason="cancelled before reaching the exchange")
        return order
    return order_record_exchange_view(order_id, view)
