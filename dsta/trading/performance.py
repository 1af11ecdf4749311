"""A strategy instance's performance from its real fills: its account (capital, cash, position) marked at the
close of every bar it decided, its closed round trips, and the backtest's metrics over both (data's
`performance_metrics`: the same names and the same code as a backtest's)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from dsta.data import api as data_api
from dsta.data.contracts import RoundTripStats
from dsta.kernel.events import to_jsonable
from dsta.trading import bot_book, parity
from dsta.trading.models import Order, Signal, StrategyInstance

ALIAS = "trading"
ZERO = Decimal(0)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class EquityPoint:
    time: datetime
    equity: Decimal


@dataclass(frozen=True)
class InstancePerformance:
    instance_id: int
    capital: Decimal
    position: Decimal
    average_price: Decimal
    mark_price: Decimal | None
    cash: Decimal
    equity: Decimal
    realised_pnl: Decimal  # fees included
    unrealised_pnl: Decimal
    fees: Decimal
    trades: int
    metrics: dict[str, float | int]
    equity_curve: list[EquityPoint]


def instance_performance(*, instance: StrategyInstance) -> InstancePerformance:
    fills = bot_book.instance_fills(instance.pk)
    book = bot_book.book_of(instance, fills)
    closes = list(
        Signal.objects.using(ALIAS).filter(instance=instance).order_by("bar_time").values_list("bar_time", "close")
    )
    orders = list(Order.objects.using(ALIAS).filter(strategy_instance_id=instance.pk))
    orders.sort(key=lambda order: (parity.decision_bar(order) or EPOCH, order.pk))
    mark = closes[-1][1] if closes else None
    curve = _equity_curve(instance, orders, closes)
    index_of = {time: index for index, (time, _) in enumerate(closes)}
    trips = [trip for trip in parity.bot_round_trips(instance, orders) if trip.exit_bar is not None]
    stats = []
    for trip in trips:
        assert trip.exit_bar is not None and trip.exit_price is not None
        pnl = (trip.exit_price - trip.entry_price) * trip.quantity - trip.fees
        notional = trip.entry_price * trip.quantity
        stats.append(
            RoundTripStats(
                entry_index=index_of.get(trip.entry_bar, 0),
                exit_index=index_of.get(trip.exit_bar, len(closes) - 1),
                qty=float(trip.quantity),
                entry_price=float(trip.entry_price),
                exit_price=float(trip.exit_price),
                fees=float(trip.fees),
                pnl=float(pnl),
                return_pct=float(pnl / notional * 100) if notional else 0.0,
            )
        )
    metrics: dict[str, float | int] = {}
    if curve:
        metrics = data_api.performance_metrics(
            equity=[float(point.equity) for point in curve],
            closes=[float(close) for _, close in closes],
            trades=stats,
            timeframe=instance.timeframe,
        )
    return InstancePerformance(
        instance_id=instance.pk,
        capital=instance.capital,
        position=book.position.quantity,
        average_price=book.position.average_price,
        mark_price=mark,
        cash=book.cash,
        equity=book.equity(mark),
        realised_pnl=book.position.realised_pnl,
        unrealised_pnl=book.unrealised(mark),
        fees=book.position.fees,
        trades=len(trips),
        metrics=metrics,
        equity_curve=curve,
    )


def _equity_curve(
    instance: StrategyInstance, orders: list[Order], closes: list[tuple[datetime, Decimal]]
) -> list[EquityPoint]:
    """Cash plus position at each decided bar's close, each order counted at its decision bar."""
    cash, held = instance.capital, ZERO
    pending = [order for order in orders if order.filled_quantity and order.average_price is not None]
    points: list[EquityPoint] = []
    position = 0
    for time, close in closes:
        while position < len(pending) and (parity.decision_bar(pending[position]) or time) <= time:
            order = pending[position]
            assert order.average_price is not None
            notional = order.filled_quantity * order.average_price
            if order.side == "buy":
                cash, held = cash - notional - order.fees, held + order.filled_quantity
            else:
                cash, held = cash + notional - order.fees, held - order.filled_quantity
            position += 1
        points.append(EquityPoint(time, cash + held * close))
    return points


def as_json(performance: InstancePerformance) -> dict[str, Any]:
    return to_jsonable(asdict(performance))  # money as exact strings
