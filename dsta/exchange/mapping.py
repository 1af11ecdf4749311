"""Conversions written once for both venues (paper and ccxt): stored amounts to contract values, and order
and fill views to the events the domain publishes."""

from __future__ import annotations

from decimal import Decimal

from dsta.exchange.contracts import FillView, OrderView
from dsta.exchange.events import FillRecorded, OrderUpdated


def plain(value: Decimal) -> Decimal:
    """An amount without the trailing zeros a column or DRF's quantising adds (100.000000000000000000 -> 100);
    the same exact value."""
    reduced = value.normalize()
    return reduced.quantize(Decimal(1)) if reduced == reduced.to_integral_value() else reduced


def order_event(order: OrderView) -> OrderUpdated:
    return OrderUpdated(
        venue=order.venue,
        client_order_id=order.client_order_id,
        exchange_order_id=order.exchange_order_id,
        symbol=order.symbol,
        side=order.side.value,
        order_type=order.order_type.value,
        status=order.status.value,
        amount=order.amount,
        filled=order.filled,
        average_price=order.average_price,
        updated_at=order.updated_at,
    )


def fill_event(fill: FillView) -> FillRecorded:
    return FillRecorded(
        venue=fill.venue,
        fill_id=fill.fill_id,
        client_order_id=fill.client_order_id,
        exchange_order_id=fill.exchange_order_id,
        symbol=fill.symbol,
        side=fill.side.value,
        price=fill.price,
        amount=fill.amount,
        fee=fill.fee,
        fee_asset=fill.fee_asset,
        is_maker=fill.is_maker,
        timestamp=fill.timestamp,
    )
