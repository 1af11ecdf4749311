"""Reconciliation of positions and open orders against the exchange."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Q

from dsta.exchange import api as exchange_api
from dsta.trading import services
from dsta.trading.models import OPEN_STATUSES, Order, Position
from dsta.trading.orders.state import ALIAS, ZERO


@dataclass(frozen=True)
class PositionDrift:
    symbol: str
    recorded: Decimal
    exchange: Decimal
    repaired: bool


@dataclass(frozen=True)
class Reconciliation:
    exchange: str
    positions: list[PositionDrift]
    unknown_open_orders: list[str]  # open at the exchange, not open here
    missing_open_orders: list[str]  # open here, not open at the exchange


def positions_reconcile(
    *, exchange: str, repair: bool, actor_id: int | None, client_address: str | None = None
) -> Reconciliation:
    """Compare spot positions with the exchange's base-asset balances and open orders with the exchange's.
    With `repair`, positions take the exchange's quantity (average cost and P&L are kept) and it is audited.
    Spot balances are the truth only when the account holds nothing but what DSTA traded."""

    balances = {balance.asset: balance.total for balance in exchange_api.balance_get(venue=exchange)}
    drifts: list[PositionDrift] = []
    with transaction.atomic(using=ALIAS):
        for position in Position.objects.using(ALIAS).select_for_update().filter(exchange=exchange):
            actual = balances.get(position.symbol.split("/")[0], ZERO)
            if actual == position.quantity:
                continue
            drifts.append(PositionDrift(position.symbol, position.quantity, actual, repair))
            if repair:
                position.quantity = actual
                if actual == ZERO:
                    position.average_price = ZERO
                position.save(using=ALIAS)
    exchange_open = {view.client_order_id for view in exchange_api.orders_open_list(venue=exchange)}
    local_open = set(
        Order.objects.using(ALIAS)
        .filter(Q(exchange=exchange) & Q(status__in=OPEN_STATUSES))
        .values_list("client_order_id", flat=True)
    )
    if repair and drifts:
        services.audit(
            actor_id=actor_id,
            client_address=client_address,
            action="trading.positions.reconcile",
            target=exchange,
            details={
                "drifts": [
                    {"symbol": d.symbol, "recorded": str(d.recorded), "exchange": str(d.exchange)} for d in drifts
                ]
            },
        )
    return Reconciliation(
        exchange=exchange,
        positions=drifts,
        unknown_open_orders=sorted(exchange_open - local_open),
        missing_open_orders=sorted(local_open - exchange_open),
    )
