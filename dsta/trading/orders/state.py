"""The order state machine: statuses, the legal transitions, and the order row under its lock."""

from __future__ import annotations

from decimal import Decimal

from django.db import connections

from dsta.kernel.errors import Conflict, InputError
from dsta.kernel.outbox import publish
from dsta.trading.events import OrderStatusChanged
from dsta.trading.models import Order, OrderTransition
from dsta.trading.models import OrderStatus as S

ALIAS = "trading"
ZERO = Decimal(0)

TRANSITIONS: dict[str, frozenset[str]] = {
    S.NEW: frozenset({S.PENDING_RISK, S.REJECTED}),
    S.PENDING_RISK: frozenset({S.SUBMITTED, S.REJECTED}),
    S.SUBMITTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.FILLED, S.CANCELLED, S.EXPIRED}),
}
FINAL = frozenset({S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED})


class IllegalTransition(RuntimeError):
    pass


class OrderInputError(InputError):
    """An order the saga refuses before anything is stored."""


class ClientOrderIdTaken(OrderInputError, Conflict):
    """A client_order_id another user's order holds: a conflict (HTTP 409), never that user's order."""


# -- state machine ------------------------------------------------------------------------------------------


def check_transition(order: Order, to_status: str) -> None:
    if to_status not in TRANSITIONS.get(order.status, frozenset()):
        raise IllegalTransition(f"order {order.pk}: {order.status} -> {to_status} is not allowed")


def transition(order: Order, to_status: str, *, reason: str = "") -> None:
    """Move `order` (locked by the caller's transaction) to `to_status`; store the transition and publish it."""
    check_transition(order, to_status)
    from_status = order.status
    order.status = to_status
    order.save(using=ALIAS)
    OrderTransition.objects.using(ALIAS).create(
        order=order, from_status=from_status, to_status=to_status, reason=reason[:300]
    )
    publish(status_event(order, from_status, to_status, reason), using=ALIAS)


def status_event(order: Order, from_status: str, to_status: str, reason: str) -> OrderStatusChanged:
    return OrderStatusChanged(
        order_id=order.pk,
        client_order_id=order.client_order_id,
        exchange=order.exchange,
        symbol=order.symbol,
        side=order.side,
        from_status=from_status,
        to_status=to_status,
        reason=reason[:300],
        filled_quantity=order.filled_quantity,
        average_price=order.average_price,
    )


ORDER_FIELDS = [field.attname for field in Order._meta.concrete_fields]
LOCK_ORDER_SQL = 'SELECT {} FROM "order" WHERE {{}} FOR UPDATE'.format(  # nosec B608: the model's own columns
    ", ".join(f'"{field.column}"' for field in Order._meta.concrete_fields)
)


def lock_order(where: str, value: int | str) -> Order | None:
    """The order row under a row lock, as a model instance (the hot path's read, without the ORM's compiler)."""
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(LOCK_ORDER_SQL.format(where), [value])
        row = cursor.fetchone()
    return None if row is None else Order.from_db(ALIAS, ORDER_FIELDS, row)


def locked(order_id: int) -> Order:
    order = lock_order("id = %s", order_id)
    if order is None:
        raise Order.DoesNotExist(f"order {order_id} does not exist")
    return order
