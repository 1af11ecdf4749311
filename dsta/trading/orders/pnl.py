"""Portfolio P&L per market at the latest mark, and its stored snapshots."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction

from dsta.kernel.clock import utc_now
from dsta.trading.models import MarkPrice, PnlSnapshot, Position
from dsta.trading.orders.state import ALIAS, ZERO
from dsta.trading.positions import PositionState


def _marks() -> dict[str, dict[str, Decimal]]:
    """Every stored mark, by symbol and venue (one read, however many positions), newest first."""
    marks: dict[str, dict[str, Decimal]] = {}
    for exchange, symbol, price in (
        MarkPrice.objects.using(ALIAS).order_by("-as_of").values_list("exchange", "symbol", "price")
    ):
        marks.setdefault(symbol, {})[exchange] = price
    return marks


def _mark(marks: dict[str, dict[str, Decimal]], exchange: str, symbol: str) -> Decimal | None:
    """The venue's own mark; else another venue's for the symbol (the paper venue trades at real prices)."""
    venues = marks.get(symbol, {})
    return venues.get(exchange) or next(iter(venues.values()), None)


def pnl_compute(*, at: datetime | None = None) -> list[PnlSnapshot]:
    """P&L per market (realised, unrealised at the mark, fees) and a total row (symbol ""), unsaved."""
    moment = at or utc_now()
    rows: list[PnlSnapshot] = []
    marks = _marks()
    for position in Position.objects.using(ALIAS).order_by("exchange", "symbol"):
        mark = _mark(marks, position.exchange, position.symbol)
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
