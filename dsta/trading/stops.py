"""Stop-loss and trailing stops on live positions.

A stop is evaluated on every closed bar of its market (the bar's close, the same price positions are marked
to). A trailing stop first ratchets with the best price seen (the high-water mark of a long, the low of a
short), never back. When the price crosses the stop, the stop turns `triggered` and its closing market order
is created in the same transaction (client_order_id `dsta-stop-<id>`), so a redelivered bar finds the stop
already triggered and the order already there: one closing order, whatever happens. The order then runs
through the normal saga (`stop_order_run`, or `orders_resume` after a crash)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction

from dsta.kernel.errors import Conflict, InputError
from dsta.trading import orders, services
from dsta.trading.models import MarkPrice, Position, PositionStop, StopKind, StopStatus

ALIAS = "trading"
ZERO = Decimal(0)
HUNDRED = Decimal(100)
PRICE_QUANTUM = Decimal("0.0000000001")


class StopInputError(InputError):
    """A stop the position cannot take as given."""


class StopStateConflict(StopInputError, Conflict):
    """A change the stop's state forbids (cancelling one already triggered or cancelled): 409."""


def _last_price(exchange: str, symbol: str) -> Decimal | None:
    rows = dict(MarkPrice.objects.using(ALIAS).filter(symbol=symbol).values_list("exchange", "price"))
    return rows.get(exchange) or next(iter(rows.values()), None)


def _trailed(water_mark: Decimal, trail_pct: Decimal, close_side: str) -> Decimal:
    factor = (HUNDRED - trail_pct) / HUNDRED if close_side == "sell" else (HUNDRED + trail_pct) / HUNDRED
    return (water_mark * factor).quantize(PRICE_QUANTUM)


def stop_attach(
    *,
    exchange: str,
    symbol: str,
    kind: str,
    stop_price: Decimal | None,
    trail_pct: Decimal | None,
    actor_id: int | None,
    client_address: str | None = None,
) -> PositionStop:
    """Attach a stop to the open position in (exchange, symbol). A stop-loss takes `stop_price` (below the
    last price for a long, above it for a short); a trailing stop takes `trail_pct` and starts from the last
    price (the position's average price before any bar is seen). A person's stop (an `actor_id`) is audited."""
    position = Position.objects.using(ALIAS).filter(exchange=exchange, symbol=symbol).first()
    if position is None or position.quantity == ZERO:
        raise StopInputError({"symbol": f"no open position in {symbol} on {exchange}"})
    close_side = "sell" if position.quantity > ZERO else "buy"
    last = _last_price(exchange, symbol)
    if kind == StopKind.STOP_LOSS:
        if stop_price is None or stop_price <= ZERO:
            raise StopInputError({"stop_price": "a stop-loss needs a positive stop_price"})
        if last is not None and (stop_price >= last if close_side == "sell" else stop_price <= last):
            where = "below" if close_side == "sell" else "above"
            raise StopInputError({"stop_price": f"must be {where} the last price {last} for this position"})
        water_mark = None
    elif kind == StopKind.TRAILING_STOP:
        if trail_pct is None or not ZERO < trail_pct < HUNDRED:
            raise StopInputError({"trail_pct": "a trailing stop needs trail_pct between 0 and 100"})
        water_mark = last if last is not None else position.average_price
        stop_price = _trailed(water_mark, trail_pct, close_side)
    else:
        raise StopInputError({"kind": "expected stop_loss or trailing_stop"})
    stop = PositionStop.objects.using(ALIAS).create(
        exchange=exchange,
        symbol=symbol,
        kind=kind,
        close_side=close_side,
        stop_price=stop_price,
        trail_pct=trail_pct if kind == StopKind.TRAILING_STOP else None,
        water_mark=water_mark,
        created_by_id=actor_id,
    )
    if actor_id is not None:
        services.audit(
            actor_id=actor_id,
            client_address=client_address,
            action="trading.stop.attach",
            target=f"{stop.exchange}:{stop.symbol}",
            details={"stop_id": stop.pk, "kind": stop.kind, "stop_price": str(stop.stop_price)},
        )
    return stop


def stop_cancel(
    *, stop_id: int, symbol: str | None = None, actor_id: int | None = None, client_address: str | None = None
) -> PositionStop:
    """Cancel an active stop (of `symbol`, when given: PositionStop.DoesNotExist otherwise); audited when a
    person (an `actor_id`) cancels it."""
    with transaction.atomic(using=ALIAS):
        found = PositionStop.objects.using(ALIAS).select_for_update().filter(pk=stop_id)
        stop = (found.filter(symbol=symbol) if symbol is not None else found).get()
        if stop.status != StopStatus.ACTIVE:
            raise StopStateConflict({"status": f"the stop is {stop.status}"})
        stop.status = StopStatus.CANCELLED
        stop.save(using=ALIAS)
    if actor_id is not None:
        services.audit(
            actor_id=actor_id,
            client_address=client_address,
            action="trading.stop.cancel",
            target=f"{stop.exchange}:{stop.symbol}",
            details={"stop_id": stop.pk},
        )
    return stop


def symbols_with_active_stops(*, symbols: set[str]) -> set[str]:
    """Which of `symbols` have an active stop (on any venue): the only markets a new price can trigger."""
    active = PositionStop.objects.using(ALIAS).filter(symbol__in=symbols, status=StopStatus.ACTIVE)
    return set(active.values_list("symbol", flat=True).distinct())


def stops_on_price(*, exchange: str, symbol: str, price: Decimal, at: datetime) -> list[int]:
    """Evaluate the active stops of the market at a new price; returns the ids of the closing orders created
    (in the caller's transaction; run them with `stop_order_run` once it commits). A venue without its own
    prices (the paper venue) follows another venue's bars, as positions are marked."""
    with transaction.atomic(using=ALIAS):
        own_prices = set(MarkPrice.objects.using(ALIAS).filter(symbol=symbol).values_list("exchange", flat=True))
        created = []
        stops = PositionStop.objects.using(ALIAS).select_for_update().filter(symbol=symbol, status=StopStatus.ACTIVE)
        for stop in stops.order_by("id"):
            if stop.exchange != exchange and stop.exchange in own_prices:
                continue
            order_id = _evaluate(stop, price, at)
            if order_id is not None:
                created.append(order_id)
    return created


def _evaluate(stop: PositionStop, price: Decimal, at: datetime) -> int | None:
    is_long = stop.close_side == "sell"
    if stop.kind == StopKind.TRAILING_STOP and stop.trail_pct is not None:
        better = stop.water_mark is None or (price > stop.water_mark if is_long else price < stop.water_mark)
        if better:
            stop.water_mark = price
            trailed = _trailed(price, stop.trail_pct, stop.close_side)
            # ratchet: the stop only ever moves in the position's favour
            stop.stop_price = max(stop.stop_price, trailed) if is_long else min(stop.stop_price, trailed)
    if not (price <= stop.stop_price if is_long else price >= stop.stop_price):
        stop.save(using=ALIAS)
        return None
    position = Position.objects.using(ALIAS).filter(exchange=stop.exchange, symbol=stop.symbol).first()
    held = position.quantity if position else ZERO
    quantity = held if is_long else -held
    stop.trigger_price, stop.triggered_at = price, at
    if quantity <= ZERO:  # closed (or flipped) meanwhile: nothing left for this stop to close
        stop.status = StopStatus.CANCELLED
        stop.save(using=ALIAS)
        return None
    order = orders.order_create(
        orders.NewOrder(
            exchange=stop.exchange,
            symbol=stop.symbol,
            side=stop.close_side,
            order_type="market",
            quantity=quantity,
            client_order_id=f"dsta-stop-{stop.pk}",
        )
    )
    stop.status, stop.order = StopStatus.TRIGGERED, order
    stop.save(using=ALIAS)
    return order.pk


def stop_order_run(order_id: int) -> None:
    """Risk step and submit for a stop's closing order (both idempotent: a rerun finds the step done)."""
    orders.order_risk_step(order_id)
    orders.order_submit_step(order_id)
