"""Steps 3 and 4 of the saga: the order sent to the exchange under its client_order_id, the answer confirmed,
and its fills moved into positions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connections, transaction
from django.utils import timezone

from dsta.exchange import api as exchange_api
from dsta.exchange.contracts import (
    BusinessError,
    FillView,
    OrderBook,
    OrderRequest,
    OrderSide,
    OrderType,
    OrderView,
    TransientError,
)
from dsta.exchange.contracts import OrderStatus as ExchangeStatus
from dsta.kernel.outbox import publish_many
from dsta.kernel.sql import execute_pipelined
from dsta.trading.models import Order
from dsta.trading.models import OrderStatus as S
from dsta.trading.orders.admission import NewOrder, RiskSnapshot, admitted, order_risk_step
from dsta.trading.orders.state import ALIAS, FINAL, check_transition, lock_order, locked, status_event, transition
from dsta.trading.positions import FillEvent, PositionState

_FROM_EXCHANGE = {
    ExchangeStatus.OPEN: S.SUBMITTED,
    ExchangeStatus.PARTIALLY_FILLED: S.PARTIALLY_FILLED,
    ExchangeStatus.FILLED: S.FILLED,
    ExchangeStatus.CANCELLED: S.CANCELLED,
    ExchangeStatus.REJECTED: S.REJECTED,
    ExchangeStatus.EXPIRED: S.EXPIRED,
}


def order_submit_step(
    order_id: int, *, stored: Order | None = None, held: bool = False, paper_book: OrderBook | None = None
) -> Order:
    """Step 3: send a `submitted` order to the exchange under its client_order_id and record the answer.
    Business errors reject it; transient errors leave it `submitted` for `orders_resume`. `stored` is the
    order as its caller just committed it (saves reading it back); `held`: as the caller's still open
    transaction inserted it, so no one else can have changed it (saves locking it again). `paper_book`: the
    book the paper venue trades the order against, fed in the same operation (see `exchange.api.order_submit`)."""
    order = stored if stored is not None and stored.pk == order_id else Order.objects.using(ALIAS).get(pk=order_id)
    held = held and order is stored
    if order.status != S.SUBMITTED or order.algo:
        return order  # an algo parent is worked through its children
    try:
        view = exchange_api.order_submit(venue=order.exchange, request=_request_of(order), paper_book=paper_book)
    except BusinessError as exc:
        return _refused(order_id, str(exc))
    except TransientError as exc:
        return _unanswered(order, str(exc))
    return order_record_exchange_view(order_id, view, held=order if held else None)


def orders_submit_held(placed: Sequence[tuple[Order, OrderBook | None]]) -> list[Order]:
    """Step 3 and 4 for several `submitted` orders the caller's open transaction just inserted (a bar pass of
    the bot): one venue call per venue for all of them (`exchange.api.orders_submit`), then each answer
    recorded as `order_submit_step` records it; in the given order. Each pair: the order and its paper book."""
    answered: dict[int, Order] = {}
    by_venue: dict[str, list[tuple[Order, OrderBook | None]]] = {}
    for order, book in placed:
        if order.status != S.SUBMITTED or order.algo:
            answered[order.pk] = order  # nothing to send (see order_submit_step)
        else:
            by_venue.setdefault(order.exchange, []).append((order, book))
    for venue, pairs in by_venue.items():
        books = [book for _, book in pairs]
        try:
            outcomes = exchange_api.orders_submit(
                venue=venue,
                requests=[_request_of(order) for order, _ in pairs],
                paper_books=books if any(book is not None for book in books) else None,
            )
        except TransientError as exc:
            answered |= {order.pk: _unanswered(order, str(exc)) for order, _ in pairs}
            continue
        for (order, _), outcome in zip(pairs, outcomes, strict=True):
            if outcome.view is None:
                answered[order.pk] = _refused(order.pk, outcome.refusal)
            else:
                answered[order.pk] = order_record_exchange_view(order.pk, outcome.view, held=order)
    return [answered[order.pk] for order, _ in placed]


def _request_of(order: Order) -> OrderRequest:
    return OrderRequest(
        symbol=order.symbol,
        side=OrderSide(order.side),
        order_type=OrderType(order.order_type),
        amount=order.quantity,
        client_order_id=order.client_order_id,
        price=order.price,
    )


def _refused(order_id: int, refusal: str) -> Order:
    """The venue refused the order on its merits: rejected, with the venue's message."""
    with transaction.atomic(using=ALIAS):
        order = locked(order_id)
        if order.status == S.SUBMITTED:
            order.last_error = refusal[:300]
            transition(order, S.REJECTED, reason=f"exchange: {refusal}")
    return order


def _unanswered(order: Order, error: str) -> Order:
    """The venue could not answer now: the order stays `submitted` for `orders_resume`, the error noted."""
    Order.objects.using(ALIAS).filter(pk=order.pk).update(last_error=f"transient: {error}"[:300])
    order.refresh_from_db(using=ALIAS)
    return order


def order_record_exchange_view(order_id: int, view: OrderView, *, held: Order | None = None) -> Order:
    """Step 4 (confirm): store the exchange's answer and the order's new fills; move the status with it.
    `held`: the order as the caller's open transaction inserted it (no lock to take, nothing to re-read)."""
    if view.fills_complete:
        fills = list(view.fills)  # the venue sent them with its answer
    else:  # read them; nothing filled needs no read (that list grows with the account's history)
        fills = exchange_api.fills_list(venue=view.venue, symbol=view.symbol, client_order_id=view.client_order_id)
    answer = _ExchangeAnswer(view.status, view.filled, view.average_price, view.exchange_order_id)
    with transaction.atomic(using=ALIAS, savepoint=False):  # no savepoint: see admission.admitted
        order = held if held is not None and held.pk == order_id else locked(order_id)
        _settle(order, fills, answer)
    return order


def order_exchange_update(
    *,
    client_order_id: str,
    status: ExchangeStatus,
    filled: Decimal,
    average_price: Decimal | None,
    exchange_order_id: str,
) -> bool:
    """An `exchange.order_updated` event for one of our orders; False when the order is not ours."""
    with transaction.atomic(using=ALIAS):
        order = lock_order("client_order_id = %s", client_order_id)
        if order is None:
            return False
        _settle(order, [], _ExchangeAnswer(status, filled, average_price, exchange_order_id))
    return True


def fill_record(*, fill: FillView) -> bool:
    """An `exchange.fill` event: store it once against its order and move the position. False when the fill
    is known already or the order is not ours."""
    with transaction.atomic(using=ALIAS):
        order = lock_order("client_order_id = %s", fill.client_order_id)
        if order is None:
            return False
        return _settle(order, [fill], None) == 1


@dataclass(frozen=True)
class _ExchangeAnswer:
    status: ExchangeStatus
    filled: Decimal
    average_price: Decimal | None
    exchange_order_id: str


# Store an order's fills in one statement; RETURNING names the ones that were new (a fill seen before, by a
# replay or an `exchange.fill` event, is skipped by the unique (exchange, exchange_fill_id)). The position row
# is made to exist and locked in the same round trip.
_FILLS_SQL = """
INSERT INTO fill (exchange, exchange_fill_id, order_id, symbol, side, quantity, price, fee, is_maker,
                  executed_at, created_at)
SELECT %(exchange)s, fill.id, %(order_id)s, %(symbol)s, fill.side, fill.quantity, fill.price, fill.fee,
       fill.is_maker, fill.executed_at, %(now)s
FROM unnest(%(ids)b::varchar[], %(sides)b::varchar[], %(quantities)b::numeric[], %(prices)b::numeric[],
            %(fees)b::numeric[], %(makers)b::boolean[], %(times)b::timestamptz[])
     WITH ORDINALITY AS fill(id, side, quantity, price, fee, is_maker, executed_at, position)
ORDER BY fill.position
ON CONFLICT (exchange, exchange_fill_id) DO NOTHING
RETURNING exchange_fill_id
"""
_POSITION_ENSURE_SQL = """
INSERT INTO position (exchange, symbol, quantity, average_price, realised_pnl, fees, updated_at)
VALUES (%(exchange)s, %(symbol)s, 0, 0, 0, 0, %(now)s) ON CONFLICT (exchange, symbol) DO NOTHING"""
_POSITION_LOCK_SQL = """SELECT id, quantity, average_price, realised_pnl, fees FROM position
WHERE exchange = %(exchange)s AND symbol = %(symbol)s FOR UPDATE"""
_POSITION_UPDATE_SQL = """UPDATE position SET quantity = %(p_quantity)s, average_price = %(p_average_price)s,
    realised_pnl = %(p_realised_pnl)s, fees = %(p_fees)s, updated_at = %(now)s WHERE id = %(p_id)s"""
_ORDER_UPDATE_SQL = """UPDATE "order" SET status = %(o_status)s, filled_quantity = %(o_filled_quantity)s,
    average_price = %(o_average_price)s, fees = %(o_fees)s, exchange_order_id = %(o_exchange_order_id)s,
    last_error = %(o_last_error)s, updated_at = %(now)s WHERE id = %(o_id)s"""
_TRANSITION_SQL = """INSERT INTO order_transition (order_id, from_status, to_status, reason, at)
    VALUES (%(o_id)s, %(t_from)s, %(t_to)s, %(t_reason)s, %(now)s)"""


def _settle(order: Order, fills: list[FillView], answer: _ExchangeAnswer | None) -> int:
    """With `order` locked in the caller's transaction: store its new fills, move the position with them,
    apply the exchange's answer, and write it all (with the status event) in one more round trip. Updates
    `order` in place; returns how many fills were new."""
    now = timezone.now()
    statements: list[str] = []
    params: dict[str, object] = {"now": now}
    created = _store_fills(order, fills, now, statements, params) if fills else 0
    transitioned = _confirm(order, answer) if answer is not None else None
    order.updated_at = now
    statements.append(_ORDER_UPDATE_SQL)
    params |= {
        "o_id": order.pk,
        "o_status": order.status,
        "o_filled_quantity": order.filled_quantity,
        "o_average_price": order.average_price,
        "o_fees": order.fees,
        "o_exchange_order_id": order.exchange_order_id,
        "o_last_error": order.last_error,
    }
    events = []
    if transitioned is not None:
        from_status, reason = transitioned
        statements.append(_TRANSITION_SQL)
        params |= {"t_from": from_status, "t_to": order.status, "t_reason": reason}
        events.append(status_event(order, from_status, order.status, reason))
    publish_many(events, using=ALIAS, along_with=[(statement, params) for statement in statements])
    return created


def _store_fills(
    order: Order, fills: list[FillView], now: datetime, statements: list[str], params: dict[str, object]
) -> int:
    """Insert the fills (new ones only) and lock the position; queue the position's update on `statements`."""
    quote = order.symbol.split("/")[-1]
    fees = [fill.fee if fill.fee_asset in ("", quote) else fill.fee * fill.price for fill in fills]
    fill_params = {
        "exchange": order.exchange,
        "order_id": order.pk,
        "symbol": order.symbol,
        "now": now,
        "ids": [fill.fill_id for fill in fills],
        "sides": [fill.side.value for fill in fills],
        "quantities": [fill.amount for fill in fills],
        "prices": [fill.price for fill in fills],
        "fees": fees,
        "makers": [fill.is_maker for fill in fills],
        "times": [fill.timestamp for fill in fills],
    }
    inserted, _, locked = execute_pipelined(
        using=ALIAS,
        statements=[(_FILLS_SQL, fill_params), (_POSITION_ENSURE_SQL, fill_params), (_POSITION_LOCK_SQL, fill_params)],
    )
    created = {row[0] for row in inserted}
    position_id, quantity, average_price, realised_pnl, position_fees = locked[0]
    if not created:
        return 0
    state = PositionState(order.symbol, quantity, average_price, realised_pnl, position_fees)
    for fill, fee in zip(fills, fees, strict=True):
        if fill.fill_id in created:
            state = state.apply(FillEvent(order.symbol, fill.side.value, fill.amount, fill.price, fee))
            order.fees += fee
    statements.append(_POSITION_UPDATE_SQL)
    params |= {
        "p_id": position_id,
        "p_quantity": state.quantity,
        "p_average_price": state.average_price,
        "p_realised_pnl": state.realised_pnl,
        "p_fees": state.fees,
    }
    return len(created)


def _confirm(order: Order, answer: _ExchangeAnswer) -> tuple[str, str] | None:
    """Apply the exchange's answer to `order` in memory; the transition it makes (from status, reason), if any."""
    if order.status in (S.NEW, S.PENDING_RISK):
        return None  # an exchange answer cannot overtake our own risk step
    order.exchange_order_id = answer.exchange_order_id or order.exchange_order_id
    order.last_error = ""
    if answer.filled >= order.filled_quantity:  # events may arrive after a newer direct read
        order.filled_quantity, order.average_price = answer.filled, answer.average_price
    target = _FROM_EXCHANGE[answer.status]
    # an exchange still saying "open" about a partly filled order is no step back
    if target == order.status or order.status in FINAL or target == S.SUBMITTED:
        return None
    check_transition(order, target)
    from_status, order.status = order.status, target
    return from_status, f"exchange {answer.status.value}"


def order_place(
    new: NewOrder,
    *,
    paper_book: OrderBook | None = None,
    risk_snapshot: RiskSnapshot | None = None,
    deferred: list[tuple[Order, OrderBook | None]] | None = None,
) -> Order:
    """The whole saga in one call (the API's path): admitted (steps 1 and 2 at once), then submitted. A known
    client_order_id answers with the stored order, taking it through the steps it has not finished.

    Called inside the caller's transaction (the bot's), the saga's steps are that transaction's: an order this
    call stored is not visible to anyone else until it commits, so confirming it needs no second lock.
    `paper_book`: see `order_submit_step`; `risk_snapshot`: see `admission.admitted`. `deferred` (inside the
    caller's transaction only): an order this call stored and admitted is not sent but appended there with
    its book, for the caller to send with others (`orders_submit_held`); it is returned `submitted`."""
    in_caller_transaction = connections[ALIAS].in_atomic_block
    order, stored_now = admitted(new, snapshot=risk_snapshot)
    if order.status == S.NEW:  # stored by step 1 alone (a stop's order, or one a crash left behind)
        order, stored_now = order_risk_step(order.pk), False
    held = stored_now and in_caller_transaction
    if deferred is not None and held and order.status == S.SUBMITTED and not order.algo:
        deferred.append((order, paper_book))
        return order
    return order_submit_step(order.pk, stored=order, held=held, paper_book=paper_book)
