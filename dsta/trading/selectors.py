"""Reads of the trading domain."""

from __future__ import annotations

from django.db import connections
from django.db.models import QuerySet

from dsta.trading.contracts import MarkPriceView, OrderView, PositionView, RiskState, RiskViolationView
from dsta.trading.models import (
    CircuitBreaker,
    Fill,
    MarkPrice,
    Order,
    OrderTransition,
    Position,
    PositionStop,
    RiskLimitSet,
    RiskViolation,
    Signal,
    StrategyInstance,
)

ALIAS = "trading"


def mark_price_get(*, exchange: str, symbol: str) -> MarkPriceView | None:
    row = MarkPrice.objects.using(ALIAS).filter(exchange=exchange, symbol=symbol).first()
    if row is None:
        return None
    return MarkPriceView(row.exchange, row.symbol, row.price, row.as_of)


def positions_list() -> list[PositionView]:
    rows = Position.objects.using(ALIAS).order_by("exchange", "symbol")
    return [
        PositionView(
            row.exchange, row.symbol, row.quantity, row.average_price, row.realised_pnl, row.fees, row.updated_at
        )
        for row in rows
    ]


def orders_open_list(*, final_statuses: frozenset[str], limit: int) -> list[OrderView]:
    rows = Order.objects.using(ALIAS).exclude(status__in=final_statuses).order_by("-created_at")[:limit]
    return [
        OrderView(
            order_id=row.pk,
            client_order_id=row.client_order_id,
            exchange=row.exchange,
            symbol=row.symbol,
            side=row.side,
            order_type=row.order_type,
            quantity=row.quantity,
            price=row.price,
            status=row.status,
            filled_quantity=row.filled_quantity,
            created_at=row.created_at,
        )
        for row in rows
    ]


def risk_state(*, limits: RiskLimitSet, violations: int) -> RiskState:
    breaker = CircuitBreaker.objects.using(ALIAS).filter(pk=1).first()
    recent = RiskViolation.objects.using(ALIAS).order_by("-created_at")[:violations]
    return RiskState(
        limits_version=limits.version,
        max_order_notional=limits.max_order_notional,
        max_position_notional=limits.max_position_notional,
        max_total_exposure=limits.max_total_exposure,
        max_open_orders=limits.max_open_orders,
        max_orders_per_minute=limits.max_orders_per_minute,
        max_drawdown_pct=limits.max_drawdown_pct,
        circuit_breaker_open=bool(breaker and breaker.is_open),
        circuit_breaker_reason=breaker.reason if breaker else "",
        circuit_breaker_changed_at=breaker.changed_at if breaker else None,
        recent_violations=tuple(RiskViolationView(v.rule, v.message, v.symbol, v.created_at) for v in recent),
    )


def order_transitions(*, order_id: int) -> list[OrderTransition]:
    """An order's transitions, oldest first (one plain read: the order API answers with them every time)."""
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(
            "SELECT id, from_status, to_status, reason, at FROM order_transition WHERE order_id = %s ORDER BY id",
            [order_id],
        )
        rows = cursor.fetchall()
    return [
        OrderTransition(id=pk, order_id=order_id, from_status=from_status, to_status=to_status, reason=reason, at=at)
        for pk, from_status, to_status, reason, at in rows
    ]


# -- what the API lists (model rows for its serializers) ------------------------------------------------------


def strategy_instances() -> QuerySet[StrategyInstance]:
    return StrategyInstance.objects.using(ALIAS).order_by("id")


def strategy_instance(*, instance_id: int) -> StrategyInstance | None:
    return StrategyInstance.objects.using(ALIAS).filter(pk=instance_id).first()


def signals_recent(*, instance_id: int, limit: int) -> QuerySet[Signal]:
    return Signal.objects.using(ALIAS).filter(instance_id=instance_id).order_by("-bar_time")[:limit]


def circuit_breaker() -> CircuitBreaker:
    """The breaker as stored, or a closed one before it was ever set."""
    return CircuitBreaker.objects.using(ALIAS).filter(pk=1).first() or CircuitBreaker(pk=1)


def risk_violations_recent(*, limit: int) -> QuerySet[RiskViolation]:
    return RiskViolation.objects.using(ALIAS).order_by("-created_at")[:limit]


def order_get(*, order_id: int) -> Order | None:
    return Order.objects.using(ALIAS).filter(pk=order_id).first()


def orders_active(*, final_statuses: frozenset[str], limit: int) -> QuerySet[Order]:
    """Orders not yet final, newest first, with their transitions (one more query for all of them)."""
    return (
        Order.objects.using(ALIAS)
        .exclude(status__in=final_statuses)
        .prefetch_related("transitions")
        .order_by("-created_at")[:limit]
    )


def fills_recent(*, symbol: str | None, order_id: int | None, limit: int) -> QuerySet[Fill]:
    fills = Fill.objects.using(ALIAS).order_by("-executed_at", "-id")
    if symbol is not None:
        fills = fills.filter(symbol=symbol)
    if order_id is not None:
        fills = fills.filter(order_id=order_id)
    return fills[:limit]


def positions() -> QuerySet[Position]:
    return Position.objects.using(ALIAS).order_by("exchange", "symbol")


def positions_of(*, symbol: str, exchange: str | None) -> list[Position]:
    """The symbol's position on every exchange (or on `exchange`)."""
    found = Position.objects.using(ALIAS).filter(symbol=symbol).order_by("exchange")
    return list(found.filter(exchange=exchange) if exchange is not None else found)


def stops_of(*, symbol: str, status: str | None, limit: int) -> QuerySet[PositionStop]:
    found = PositionStop.objects.using(ALIAS).filter(symbol=symbol).order_by("-id")
    return (found.filter(status=status) if status is not None else found)[:limit]
