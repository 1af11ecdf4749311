"""A strategy instance's own account, from its own fills only (`Order.strategy_instance_id`): position,
cash, realised and unrealised P&L, fees. Several instances on one market each keep theirs; the venue and the
market's `Position` hold the sum."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connections

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


def _applied(
    state: PositionState, flows: Decimal, fills: list[tuple[str, Decimal, Decimal, Decimal]]
) -> tuple[PositionState, Decimal]:
    """The position and the cash moved by `fills` (side, quantity, price, fee), in their order."""
    for side, quantity, price, fee in fills:
        state = state.apply(FillEvent(state.symbol, side, quantity, price, fee))
        notional = quantity * price
        flows += -notional - fee if side == "buy" else notional - fee
    return state, flows


def book_of(instance: StrategyInstance, fills: list[InstanceFill] | None = None) -> InstanceBook:
    """The instance's book from `fills`, or from all its stored fills (see `_stored_book`)."""
    if fills is None:
        state, flows = _stored_book(instance)
    else:
        state, flows = _applied(
            PositionState(instance.symbol), ZERO, [(f.side, f.quantity, f.price, f.fee) for f in fills]
        )
    return InstanceBook(capital=instance.capital, position=state, cash=instance.capital + flows)


# The book over every stored fill is asked for at each bar (the strategy's position, the sizing), and reading
# every fill each time grows with the instance's history (thousands of fills in a long replay). So each process
# keeps the book it computed last per instance and reads only the fills stored since, in the same round trip
# as the count and the id sum of all the instance's fills: any fill that appeared out of id order or vanished
# (a rolled-back transaction, a test's truncation) changes them, and the book is then computed from scratch, as
# it is when a new fill sorts before the last one applied. Fills are never updated. The result is the same as
# folding all fills in (executed_at, id) order.
_BOOK_SQL = """
SELECT total.n, total.id_sum, new.id, new.side, new.quantity, new.price, new.fee, new.executed_at
FROM (SELECT count(*) AS n, coalesce(sum(fill.id), 0) AS id_sum FROM fill
      JOIN "order" ON "order".id = fill.order_id WHERE "order".strategy_instance_id = %(instance)s) AS total
LEFT JOIN LATERAL (
    SELECT fill.id, fill.side, fill.quantity, fill.price, fill.fee, fill.executed_at FROM fill
    JOIN "order" ON "order".id = fill.order_id
    WHERE "order".strategy_instance_id = %(instance)s AND fill.id > %(after)s
    ORDER BY fill.executed_at, fill.id
) AS new ON true
"""


@dataclass(frozen=True)
class _Folded:
    count: int
    id_sum: int
    last: tuple[datetime, int] | None  # the (executed_at, id) of the last fill folded in
    state: PositionState
    flows: Decimal  # what the fills paid and received


_folded: dict[tuple[int, datetime], _Folded] = {}  # (instance id, created_at): a reused id is another instance
_folded_lock = threading.Lock()


def _stored_book(instance: StrategyInstance) -> tuple[PositionState, Decimal]:
    key = (instance.pk, instance.created_at)
    with _folded_lock:
        known = _folded.get(key)
    if known is not None and known.state.symbol == instance.symbol:
        after = known.last[1] if known.last is not None else 0
        with connections[ALIAS].cursor() as cursor:
            cursor.execute(_BOOK_SQL, {"instance": instance.pk, "after": after})
            rows = cursor.fetchall()
        count, id_sum = rows[0][0], int(rows[0][1])
        new = [row[2:] for row in rows if row[2] is not None]
        in_order = not new or known.last is None or (new[0][5], new[0][0]) > known.last
        if in_order and count == known.count + len(new) and id_sum == known.id_sum + sum(row[0] for row in new):
            if not new:
                return known.state, known.flows
            state, flows = _applied(known.state, known.flows, [row[1:5] for row in new])
            return _remember(key, _Folded(count, id_sum, (new[-1][5], new[-1][0]), state, flows))
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(_BOOK_SQL, {"instance": instance.pk, "after": 0})
        rows = [row[2:] for row in cursor.fetchall() if row[2] is not None]
    state, flows = _applied(PositionState(instance.symbol), ZERO, [row[1:5] for row in rows])
    last = (rows[-1][5], rows[-1][0]) if rows else None
    return _remember(key, _Folded(len(rows), sum(row[0] for row in rows), last, state, flows))


def _remember(key: tuple[int, datetime], folded: _Folded) -> tuple[PositionState, Decimal]:
    with _folded_lock:
        _folded[key] = folded
    return folded.state, folded.flows
