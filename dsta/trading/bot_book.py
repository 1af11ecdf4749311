"""A strategy instance's own account, from its own fills only (`Order.strategy_instance_id`): position,
cash, realised and unrealised P&L, fees. Several instances on one market each keep theirs; the venue and the
market's `Position` hold the sum."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from dsta.trading.models import Fill, StrategyInstance
from dsta.trading.positions import FillEvent, PositionState

ALIAS = "trading"
ZERO = Decimal(0)


@dataclass(frozen=True)
class InstanceFill:
    order_id: int
    client_order_id: str
    side: str
    quantity: Decimal
    price: Decimal
    fee: Decimal
    executed_at: datetime


@dataclass(frozen=True)
class InstanceBook:
    capital: Decimal
    position: PositionState  # quantity, average price, realised P&L (fees included), fees
    cash: Decimal  # capital plus what its fills paid and received

    def equity(self, mark: Decimal | None) -> Decimal:
        return self.cash + self.position.quantity * (mark if mark is not None else self.position.average_price)

    def unrealised(self, mark: Decimal | None) -> Decimal:
        return ZERO if mark is None else self.position.unrealised_pnl(mark)


def instance_fills(instance_id: int, *, until: datetime | None = None) -> list[InstanceFill]:
    """The instance's fills in execution order."""
    rows = Fill.objects.using(ALIAS).filter(order__strategy_instance_id=instance_id)
    if until is not None:
        rows = rows.filter(executed_at__lt=until)
    return [
        InstanceFill(order_id, client_order_id, side, quantity, price, fee, executed_at)
        for order_id, client_order_id, side, quantity, price, fee, executed_at in rows.order_by(
            "executed_at", "id"
        ).values_list("order_id", "order__client_order_id", "side", "quantity", "price", "fee", "executed_at")
    ]


def book_of(instance: StrategyInstance, fills: list[InstanceFill] | None = None) -> InstanceBook:
    state = PositionState(instance.symbol)
    cash = instance.capital
    for fill in instance_fills(instance.pk) if fills is None else fills:
        state = state.apply(FillEvent(instance.symbol, fill.side, fill.quantity, fill.price, fill.fee))
        notional = fill.quantity * fill.price
        cash += -notional - fill.fee if fill.side == "buy" else notional - fill.fee
    return InstanceBook(capital=instance.capital, position=state, cash=cash)
