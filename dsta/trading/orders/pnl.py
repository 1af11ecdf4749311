"""Portfolio P&L per market at the latest mark, and its stored snapshots."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction

from dsta.kernel.clock import utc_now
from dsta.trading.models import MarkPrice, PnlSnapshot, Position
from dsta.trading.orders.state import ALIAS, ZERO
from dsta.trading.positions import PositionState


def _mark(exchange: str, symbol: str) -> Decimal | None:
    rows = dict(MarkPrice.objects.using(ALIAS).filter(symbol=symbol).values_list("exchange", "price"))
    return rows.get(exchange) or next(iter(rows.values()), None)


def pnl_compute(*, at: datetime | None = None) -> list[PnlSnapshot]:
    """P&L per market (realised, unrealised at the mark, fees) and a total row (symbol ""), unsaved."""
    moment = at or utc_now()
    rows: list[PnlSnapshot] = []
    for position in Position.objects.using(ALIAS).order_by("exchange", "symbol"):
        mark = _mark(position.exchange, position.symbol)
        state = PositionState(
            position.symbol, position.quantity, position.average_price, position.realised_pnl, position.fees
        )
        rows.append(
            PnlSnapshot(
                taken_at=moment,
                exchange=position.exchange,
                symbol=position.symbol,
                quantity=position.quantity,
                mark_price=mark,
                realised_pnl=position.realised_pnl,
                unrealised_pnl=state.unrealised_pnl(mark) if mark is not None else ZERO,
                fees=position.fees,
            )
        )
    total = PnlSnapshot(
        taken_at=moment,
        realised_pnl=sum((row.realised_pnl for row in rows), ZERO),
        unrealised_pnl=sum((row.unrealised_pnl for row in rows), ZERO),
        fees=sum((row.fees for row in rows), ZERO),
    )
    return [*rows, total]


def pnl_snapshot_take(*, at: datetime | None = None) -> list[PnlSnapshot]:
    """Store the portfolio P&L now (schedule it for a P&L history)."""
    with transaction.atomic(using=ALIAS):
        return PnlSnapshot.objects.using(ALIAS).bulk_create(pnl_compute(at=at))
