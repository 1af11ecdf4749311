"""The order path: a persisted state machine, the placement saga (risk -> submitted -> exchange -> confirm),
fills into positions, P&L snapshots and reconciliation against the exchange.

The saga never creates a duplicate exchange order: the order is stored as `submitted` (with its
client_order_id) before the exchange is called, the exchange deduplicates on that id, and a resume
re-submits every order left `submitted` with the same id. Each step is its own function so a crash between
any two can be replayed (tests do exactly that).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connections, transaction
from django.db.models import Q
from django.utils import timezone

from dsta.exchange import api as exchange_api
from dsta.exchange.contracts import (
    BusinessError,
    FillView,
    OrderNotFound,
    OrderRequest,
    OrderSide,
    OrderType,
    OrderView,
    TransientError,
)
from dsta.exchange.contracts import OrderStatus as ExchangeStatus
from dsta.kernel.clock import utc_now
from dsta.kernel.outbox import publish, publish_many
from dsta.kernel.sql import execute_pipelined
from dsta.trading import risk
from dsta.trading.events import OrderStatusChanged, RiskViolationRaised
from dsta.trading.models import (
    OPEN_STATUSES,
    MarkPrice,
    Order,
    OrderTransition,
    PnlSnapshot,
    Position,
    RiskViolation,
)
from dsta.trading.models import OrderStatus as S
from dsta.trading.positions import FillEvent, PositionState

ALIAS = "trading"
ZERO = Decimal(0)

TRANSITIONS: dict[str, frozenset[str]] = {
    S.NEW: frozenset({S.PENDING_RISK, S.REJECTED}),
    S.PENDING_RISK: frozenset({S.SUBMITTED, S.REJECTED}),
    S.SUBMITTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.FILLED, S.CANCELLED, S.EXPIRED}),
}
FINAL = frozenset({S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED})
_FROM_EXCHANGE = {
    ExchangeStatus.OPEN: S.SUBMITTED,
    ExchangeStatus.PARTIALLY_FILLED: S.PARTIALLY_FILLED,
    ExchangeStatus.FILLED: S.FILLED,
    ExchangeStatus.CANCELLED: S.CANCELLED,
    ExchangeStatus.REJECTED: S.REJECTED,
    ExchangeStatus.EXPIRED: S.EXPIRED,
}


class IllegalTransition(RuntimeError):
    pass


class OrderInputError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


# -- state machine ------------------------------------------------------------------------------------------


def _check_transition(order: Order, to_status: str) -> None:
    if to_status not in TRANSITIONS.get(order.status, frozenset()):
        raise IllegalTransition(f"order {order.pk}: {order.status} -> {to_status} is not allowed")


def transition(order: Order, to_status: str, *, reason: str = "") -> None:
    """Move `order` (locked by the caller's transaction) to `to_status`; store the transition and publish it."""
    _check_transition(order, to_status)
    from_status = order.status
    order.status = to_status
    order.save(using=ALIAS)
    OrderTransition.objects.using(ALIAS).create(
        order=order, from_status=from_status, to_status=to_status, reason=reason[:300]
    )
    publish(_status_event(order, from_status, to_status, reason), using=ALIAS)


def _status_event(order: Order, from_status: str, to_status: str, reason: str) -> OrderStatusChanged:
    return OrderStatusChanged(
        order_id=order.pk,
        client_order_id=order.client_order_id,
        exchange=order.exchange,
        symbol=order.symbol,
        side=order.side,
        from_status=from_status,
        to_status=to_status,
        reason=reason[:300],
        filled_quantity=order.filled_quantity,
        average_price=order.average_price,
    )


_ORDER_FIELDS = [field.attname for field in Order._meta.concrete_fields]
_LOCK_ORDER_SQL = 'SELECT {} FROM "order" WHERE {{}} FOR UPDATE'.format(  # nosec B608: the model's own columns
    ", ".join(f'"{field.column}"' for field in Order._meta.concrete_fields)
)


def _lock_order(where: str, value: int | str) -> Order | None:
    """The order row under a row lock, as a model instance (the hot path's read, without the ORM's compiler)."""
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(_LOCK_ORDER_SQL.format(where), [value])
        row = cursor.fetchone()
    return None if row is None else Order.from_db(ALIAS, _ORDER_FIELDS, row)


def _locked(order_id: int) -> Order:
    order = _lock_order("id = %s", order_id)
    if order is None:
        raise Order.DoesNotExist(f"order {order_id} does not exist")
    return order


# -- risk ---------------------------------------------------------------------------------------------------


def current_limits() -> risk.RiskLimits:
    from dsta.trading.services import risk_limits_current

    row = risk_limits_current()
    return risk.RiskLimits(
        max_order_notional=row.max_order_notional,
        max_position_notional=row.max_position_notional,
        max_total_exposure=row.max_total_exposure,
        max_open_orders=row.max_open_orders,
        price_band_pct=row.price_band_pct,
        max_orders_per_minute=row.max_orders_per_minute,
        version=row.version,
    )


# The limits in force are read in the same round trip as the book rather than cached: no staleness to bound,
# no invalidation to get wrong, and a limit edit binds the very next order.
# Orders of the last minute are the ids drawn since the first order of that minute: two index probes instead of
# counting a minute of orders (18,000 rows at 300 orders/s) on every order. Ids a rolled-back insert drew count
# too, so the figure errs on the safe side.
_SNAPSHOT_SQL = """
SELECT
    (SELECT coalesce(json_object_agg(symbol, quantity::text), '{}') FROM position WHERE exchange = %(exchange)s),
    (SELECT coalesce(json_agg(json_build_array(exchange, symbol, price::text)), '[]') FROM mark_price),
    (SELECT count(*) FROM "order"
      WHERE exchange = %(exchange)s AND status IN ('submitted', 'partially_filled') AND id <> %(exclude)s),
    (SELECT coalesce(newest.id - oldest.id + 1 - (%(exclude)s BETWEEN oldest.id AND newest.id)::int, 0)
       FROM (SELECT max(id) AS id FROM "order") AS newest,
            (SELECT min(id) AS id FROM (SELECT id FROM "order" WHERE created_at >= now() - interval '1 minute'
                                        ORDER BY created_at LIMIT 1) AS first) AS oldest),
    (SELECT json_build_array(is_open, reason) FROM circuit_breaker WHERE id = 1),
    (SELECT json_build_array(version, max_order_notional::text, max_position_notional::text,
                             max_total_exposure::text, max_open_orders, price_band_pct::text, max_orders_per_minute)
       FROM risk_limit_set ORDER BY version DESC LIMIT 1)
"""


def limits_and_book(*, exchange: str, exclude_order_id: int | None = None) -> tuple[risk.RiskLimits, risk.BookSnapshot]:
    """The limits in force and the account as the risk check sees it, read in one round trip: positions,
    marks, open orders, order rate in the last minute, breaker."""
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(_SNAPSHOT_SQL, {"exchange": exchange, "exclude": exclude_order_id or 0})
        positions, marks, open_orders, last_minute, breaker, limits_row = cursor.fetchone()
    if limits_row is None:  # none stored yet: the defaults become version 1
        limits = current_limits()
    else:
        version, order_notional, position_notional, exposure, max_open, band, per_minute = limits_row
        limits = risk.RiskLimits(
            max_order_notional=Decimal(order_notional),
            max_position_notional=Decimal(position_notional),
            max_total_exposure=Decimal(exposure),
            max_open_orders=max_open,
            price_band_pct=Decimal(band),
            max_orders_per_minute=per_minute,
            version=version,
        )
    # The venue's own marks win; other venues' marks stand in (the paper venue trades at real prices).
    prices: dict[str, Decimal] = {}
    for venue, symbol, price in marks:
        if venue == exchange or symbol not in prices:
            prices[symbol] = Decimal(price)
    is_open, reason = breaker or (False, "")
    book = risk.BookSnapshot(
        positions={symbol: Decimal(quantity) for symbol, quantity in positions.items()},
        last_prices=prices,
        open_orders=open_orders,
        orders_last_minute=last_minute,
        halted=is_open,
        halt_reason=reason,
    )
    return limits, book


def book_snapshot(*, exchange: str, exclude_order_id: int | None = None) -> risk.BookSnapshot:
    """The account as the risk check sees it (see `limits_and_book`)."""
    return limits_and_book(exchange=exchange, exclude_order_id=exclude_order_id)[1]


def risk_check(
    *, exchange: str, symbol: str, side: str, order_type: str, quantity: Decimal, price: Decimal | None
) -> risk.RiskDecision:
    """The pre-trade check against the current book, without placing or storing anything."""
    intent = risk.OrderIntent(symbol, side, quantity, order_type, price)
    return risk.check_order(intent, *limits_and_book(exchange=exchange))


def _record_violations(decision: risk.RiskDecision, *, limits_version: int, order: Order) -> None:
    for violation in decision.violations:
        row = RiskViolation.objects.using(ALIAS).create(
            rule=violation.rule,
            message=violation.message[:300],
            limit=violation.limit[:60],
            actual=violation.actual[:60],
            symbol=order.symbol,
            limits_version=limits_version,
            context={"order_id": order.pk, "client_order_id": order.client_order_id},
        )
        publish(
            RiskViolationRaised(
                violation_id=row.pk,
                rule=row.rule,
                message=row.message,
                symbol=row.symbol,
                limit=row.limit,
                actual=row.actual,
            ),
            using=ALIAS,
        )


# -- the saga -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewOrder:
    exchange: str
    symbol: str
    side: str
    order_type: str
    quantity: Decimal
    price: Decimal | None = None
    client_order_id: str = ""
    strategy_instance_id: int | None = None
    user_id: int | None = None
    parent_id: int | None = None


def _validated(new: NewOrder) -> None:
    errors: dict[str, str] = {}
    if new.side not in ("buy", "sell"):
        errors["side"] = "expected buy or sell"
    if new.order_type not in ("market", "limit"):
        errors["order_type"] = "expected market or limit"
    if new.quantity <= ZERO:
        errors["quantity"] = "must be positive"
    if new.order_type == "limit" and (new.price is None or new.price <= ZERO):
        errors["price"] = "a limit order needs a positive price"
    if new.order_type == "market" and new.price is not None:
        errors["price"] = "a market order takes no price"
    if errors:
        raise OrderInputError(errors)


def order_create(new: NewOrder) -> Order:
    """Step 1: store the order as `new`. A repeated client_order_id returns the stored order (idempotent)."""
    _validated(new)
    client_order_id = new.client_order_id or f"dsta-{uuid.uuid4().hex[:24]}"
    with transaction.atomic(using=ALIAS):
        order, created = Order.objects.using(ALIAS).get_or_create(
            client_order_id=client_order_id,
            defaults={
                "exchange": new.exchange,
                "symbol": new.symbol,
                "side": new.side,
                "order_type": new.order_type,
                "quantity": new.quantity,
                "price": new.price,
                "strategy_instance_id": new.strategy_instance_id,
                "user_id": new.user_id,
                "parent_id": new.parent_id,
            },
        )
    if not created:
        _same_order_or_refuse(order, new)
    return order


def _same_order_or_refuse(stored: Order, new: NewOrder) -> None:
    """A retry under a known client_order_id gets the stored order; a different order under that id is a client
    bug, refused rather than silently answered with an order it did not ask for."""
    asked = (new.exchange, new.symbol, new.side, new.order_type, new.quantity, new.price)
    held = (stored.exchange, stored.symbol, stored.side, stored.order_type, stored.quantity, stored.price)
    if asked != held:
        raise OrderInputError(
            {"client_order_id": f"already used by order {stored.pk} with different terms; use a new id"}
        )


def order_risk_step(order_id: int) -> Order:
    """Step 2: new -> pending_risk -> submitted (the intent is persisted) or rejected (violations stored)."""
    with transaction.atomic(using=ALIAS):
        order = _locked(order_id)
        if order.status != S.NEW:
            return order  # already past this step (a replay)
        transition(order, S.PENDING_RISK, reason="pre-trade risk check")
        intent = risk.OrderIntent(order.symbol, order.side, order.quantity, order.order_type, order.price)
        limits, book = limits_and_book(exchange=order.exchange, exclude_order_id=order.pk)
        decision = risk.check_order(intent, limits, book)
        if decision.approved:
            transition(order, S.SUBMITTED, reason=f"risk approved (limits v{limits.version})")
        else:
            _record_violations(decision, limits_version=limits.version, order=order)
            transition(order, S.REJECTED, reason="; ".join(v.rule for v in decision.violations))
    return order


# Steps 1 and 2 of `order_place` in one transaction and four round trips: the book and limits, then the order
# and both of its transitions in one statement, then their events. Nothing is committed before the risk
# decision, so no crash leaves a `new` order behind; the client retries under the same client_order_id.
_ADMIT_SQL = """
WITH created AS (
    INSERT INTO "order" (client_order_id, exchange, symbol, side, order_type, quantity, price, status,
                         filled_quantity, fees, exchange_order_id, last_error, strategy_instance_id, user_id,
                         algo, parent_id, created_at, updated_at)
    VALUES (%(client_order_id)s, %(exchange)s, %(symbol)s, %(side)s, %(order_type)s, %(quantity)s, %(price)s,
            %(status)s, 0, 0, '', '', %(strategy_instance_id)s, %(user_id)s, '', %(parent_id)s, %(now)s, %(now)s)
    ON CONFLICT (client_order_id) DO NOTHING
    RETURNING id
),
transitions AS (
    INSERT INTO order_transition (order_id, from_status, to_status, reason, at)
    SELECT created.id, step.from_status, step.to_status, step.reason, %(now)s
    FROM created, unnest(%(from)b::varchar[], %(to)b::varchar[], %(reasons)b::varchar[])
                  WITH ORDINALITY AS step(from_status, to_status, reason, position)
    ORDER BY step.position
)
SELECT id FROM created
"""


def _order_admit(new: NewOrder) -> Order | None:
    """new -> pending_risk -> submitted | rejected, stored and published at once. None when the
    client_order_id is taken (the caller falls back to the step functions, which return the stored order)."""
    _validated(new)
    client_order_id = new.client_order_id or f"dsta-{uuid.uuid4().hex[:24]}"
    now = timezone.now()  # what auto_now_add would have stored
    with transaction.atomic(using=ALIAS):
        limits, book = limits_and_book(exchange=new.exchange)
        decision = risk.check_order(
            risk.OrderIntent(new.symbol, new.side, new.quantity, new.order_type, new.price), limits, book
        )
        if decision.approved:
            final, reason = S.SUBMITTED, f"risk approved (limits v{limits.version})"
        else:
            final, reason = S.REJECTED, "; ".join(v.rule for v in decision.violations)
        steps = [(S.NEW, S.PENDING_RISK, "pre-trade risk check"), (S.PENDING_RISK, final, reason[:300])]
        with connections[ALIAS].cursor() as cursor:
            cursor.execute(
                _ADMIT_SQL,
                {
                    "client_order_id": client_order_id,
                    "exchange": new.exchange,
                    "symbol": new.symbol,
                    "side": new.side,
                    "order_type": new.order_type,
                    "quantity": new.quantity,
                    "price": new.price,
                    "status": final,
                    "strategy_instance_id": new.strategy_instance_id,
                    "user_id": new.user_id,
                    "parent_id": new.parent_id,
                    "now": now,
                    "from": [step[0] for step in steps],
                    "to": [step[1] for step in steps],
                    "reasons": [step[2] for step in steps],
                },
            )
            row = cursor.fetchone()
        if row is None:
            return None
        order = Order(
            id=row[0],
            client_order_id=client_order_id,
            exchange=new.exchange,
            symbol=new.symbol,
            side=new.side,
            order_type=new.order_type,
            quantity=new.quantity,
            price=new.price,
            status=final,
            strategy_instance_id=new.strategy_instance_id,
            user_id=new.user_id,
            parent_id=new.parent_id,
            created_at=now,
            updated_at=now,
        )
        order._state.adding, order._state.db = False, ALIAS
        publish_many(
            [_status_event(order, from_status, to_status, why) for from_status, to_status, why in steps], using=ALIAS
        )
        if not decision.approved:
            _record_violations(decision, limits_version=limits.version, order=order)
    return order


def order_submit_step(order_id: int, *, stored: Order | None = None) -> Order:
    """Step 3: send a `submitted` order to the exchange under its client_order_id and record the answer.
    Business errors reject it; transient errors leave it `submitted` for `orders_resume`. `stored` is the
    order as its caller just committed it (saves reading it back)."""
    order = stored if stored is not None and stored.pk == order_id else Order.objects.using(ALIAS).get(pk=order_id)
    if order.status != S.SUBMITTED or order.algo:
        return order  # an algo parent is worked through its children
    request = OrderRequest(
        symbol=order.symbol,
        side=OrderSide(order.side),
        order_type=OrderType(order.order_type),
        amount=order.quantity,
        client_order_id=order.client_order_id,
        price=order.price,
    )
    try:
        view = exchange_api.order_submit(venue=order.exchange, request=request)
    except BusinessError as exc:
        with transaction.atomic(using=ALIAS):
            order = _locked(order_id)
            if order.status == S.SUBMITTED:
                order.last_error = str(exc)[:300]
                transition(order, S.REJECTED, reason=f"exchange: {exc}")
        return order
    except TransientError as exc:
        Order.objects.using(ALIAS).filter(pk=order_id).update(last_error=f"transient: {exc}"[:300])
        order.refresh_from_db(using=ALIAS)
        return order
    return order_record_exchange_view(order_id, view)


def order_record_exchange_view(order_id: int, view: OrderView) -> Order:
    """Step 4 (confirm): store the exchange's answer and the order's new fills; move the status with it."""
    if view.fills_complete:
        fills = list(view.fills)  # the venue sent them with its answer
    else:  # read them; nothing filled needs no read (that list grows with the account's history)
        fills = exchange_api.fills_list(venue=view.venue, symbol=view.symbol, client_order_id=view.client_order_id)
    answer = _ExchangeAnswer(view.status, view.filled, view.average_price, view.exchange_order_id)
    with transaction.atomic(using=ALIAS):
        order = _locked(order_id)
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
        order = _lock_order("client_order_id = %s", client_order_id)
        if order is None:
            return False
        _settle(order, [], _ExchangeAnswer(status, filled, average_price, exchange_order_id))
    return True


def fill_record(*, fill: FillView) -> bool:
    """An `exchange.fill` event: store it once against its order and move the position. False when the fill
    is known already or the order is not ours."""
    with transaction.atomic(using=ALIAS):
        order = _lock_order("client_order_id = %s", fill.client_order_id)
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
        events.append(_status_event(order, from_status, order.status, reason))
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
    _check_transition(order, target)
    from_status, order.status = order.status, target
    return from_status, f"exchange {answer.status.value}"


def order_place(new: NewOrder) -> Order:
    """The whole saga in one call (the API's path): admitted (steps 1 and 2 at once), then submitted."""
    admitted = _order_admit(new)
    if admitted is None:  # a known client_order_id: replay the steps, each returns what is stored
        order = order_create(new)
        order = order_risk_step(order.pk)
        return order_submit_step(order.pk)
    return order_submit_step(admitted.pk, stored=admitted)


def orders_resume() -> int:
    """Finish every order a crash or a transient error left behind: `new`/`pending_risk` rerun the risk
    step, `submitted` ones are re-submitted with the same client_order_id (the exchange returns the order it
    already has), `partially_filled` ones are re-read. Returns how many orders it touched."""
    touched = 0
    active = Order.objects.using(ALIAS).exclude(status__in=FINAL).filter(algo="")
    for order_id, status in active.values_list("id", "status"):
        if status == S.NEW:
            order_risk_step(order_id)
            order_submit_step(order_id)
        elif status == S.PENDING_RISK:
            # the risk step's transaction rolled back as a whole, so pending_risk is never committed alone
            continue
        elif status == S.SUBMITTED:
            order_submit_step(order_id)
        else:
            order_sync(order_id)
        touched += 1
    return touched


def order_sync(order_id: int) -> Order:
    order = Order.objects.using(ALIAS).get(pk=order_id)
    if order.status in FINAL:
        return order
    try:
        view = exchange_api.order_get(venue=order.exchange, client_order_id=order.client_order_id)
    except OrderNotFound:
        return order_submit_step(order_id) if order.status == S.SUBMITTED else order
    return order_record_exchange_view(order_id, view)


def order_cancel(order_id: int, *, actor_id: int | None) -> Order:
    order = Order.objects.using(ALIAS).get(pk=order_id)
    if order.status in FINAL:
        raise IllegalTransition(f"order {order_id} is already {order.status}")
    if order.status not in OPEN_STATUSES:
        raise IllegalTransition(f"order {order_id} is {order.status}; only submitted orders can be cancelled")
    if order.algo:
        # the parent is never at the exchange: cancelling it stops the slices not yet placed
        with transaction.atomic(using=ALIAS):
            order = _locked(order_id)
            if order.status in OPEN_STATUSES:
                transition(order, S.CANCELLED, reason="cancelled; remaining slices not placed")
        return order
    try:
        view = exchange_api.order_cancel(venue=order.exchange, client_order_id=order.client_order_id)
    except OrderNotFound:
        # never reached the exchange: cancel it here so no resume submits it later
        with transaction.atomic(using=ALIAS):
            order = _locked(order_id)
            if order.status == S.SUBMITTED:
                transition(order, S.CANCELLED, reason="cancelled before reaching the exchange")
        return order
    return order_record_exchange_view(order_id, view)


# -- fills and positions ------------------------------------------------------------------------------------


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


# -- reconciliation -----------------------------------------------------------------------------------------


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


def positions_reconcile(*, exchange: str, repair: bool, actor_id: int | None) -> Reconciliation:
    """Compare spot positions with the exchange's base-asset balances and open orders with the exchange's.
    With `repair`, positions take the exchange's quantity (average cost and P&L are kept) and it is audited.
    Spot balances are the truth only when the account holds nothing but what DSTA traded."""
    from dsta.core import api as core_api

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
        core_api.audit_record(
            actor_id=actor_id,
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


# -- TWAP ---------------------------------------------------------------------------------------------------

QUANTUM = Decimal("0.0000000001")


def twap_create(new: NewOrder, *, slices: int, duration_seconds: int) -> Order:
    """A parent order risk-checked at its full size, to be worked as `slices` market child orders spread
    evenly over `duration_seconds` (the `twap_slice` actor places them). Returns the parent."""
    errors: dict[str, str] = {}
    if not 1 <= slices <= 1000:
        errors["slices"] = "between 1 and 1000"
    if not 0 <= duration_seconds <= 7 * 86400:
        errors["duration_seconds"] = "between 0 and 604800"
    if new.order_type != "market":
        errors["order_type"] = "TWAP slices are market orders"
    if errors:
        raise OrderInputError(errors)
    parent = order_create(new)
    Order.objects.using(ALIAS).filter(pk=parent.pk, algo="").update(
        algo="twap", slices=slices, interval_seconds=duration_seconds // slices if slices else 0
    )
    return order_risk_step(parent.pk)


def twap_slice_quantity(parent: Order, index: int) -> Decimal:
    """Equal slices, quantised; the last one takes the remainder so the slices sum to the parent exactly."""
    assert parent.slices
    even = (parent.quantity / parent.slices).quantize(QUANTUM, rounding="ROUND_DOWN")
    return parent.quantity - even * (parent.slices - 1) if index == parent.slices - 1 else even


def twap_place_slice(parent_id: int, index: int) -> Order:
    """Place slice `index` of a TWAP parent (idempotent: the child's client_order_id is derived from the
    parent's, so a redelivered message finds the child it already placed) and roll the children up."""
    parent = Order.objects.using(ALIAS).get(pk=parent_id)
    if parent.algo != "twap" or parent.status not in OPEN_STATUSES:
        return parent  # rejected by risk, cancelled, or done
    child = order_create(
        NewOrder(
            exchange=parent.exchange,
            symbol=parent.symbol,
            side=parent.side,
            order_type="market",
            quantity=twap_slice_quantity(parent, index),
            client_order_id=f"{parent.client_order_id}-{index}",
            strategy_instance_id=parent.strategy_instance_id,
            user_id=parent.user_id,
            parent_id=parent.pk,
        )
    )
    order_risk_step(child.pk)
    order_submit_step(child.pk)
    return twap_roll_up(parent_id)


def twap_roll_up(parent_id: int) -> Order:
    """The parent's fill, price and fees from its children; final once every slice is placed and final."""
    with transaction.atomic(using=ALIAS):
        parent = _locked(parent_id)
        children = list(Order.objects.using(ALIAS).filter(parent_id=parent_id))
        filled = sum((child.filled_quantity for child in children), ZERO)
        notional = sum((child.filled_quantity * (child.average_price or ZERO) for child in children), ZERO)
        parent.filled_quantity = filled
        parent.average_price = notional / filled if filled else None
        parent.fees = sum((child.fees for child in children), ZERO)
        parent.save(using=ALIAS)
        done = len(children) == parent.slices and all(child.status in FINAL for child in children)
        if parent.status in FINAL:
            return parent
        if done and filled == parent.quantity:
            transition(parent, S.FILLED, reason="every slice filled")
        elif done:
            target = S.CANCELLED if filled else S.REJECTED
            if parent.status == S.PARTIALLY_FILLED and target == S.REJECTED:
                target = S.CANCELLED
            transition(parent, target, reason=f"slices done, {filled} of {parent.quantity} filled")
        elif filled and parent.status == S.SUBMITTED:
            transition(parent, S.PARTIALLY_FILLED, reason="a slice filled")
    return parent
