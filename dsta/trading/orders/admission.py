"""Steps 1 and 2 of the saga: an order validated, stored and risk-checked against the limits and the book.

There is one admission path, `order_admit`: the limits and the book in one read, the pure risk check, then the
order and both of its transitions in one statement whose column list comes from `Order._meta`. Plain orders,
TWAP and VWAP parents and their children all enter through it, and so does the replay of a known
client_order_id (it answers with the stored order, after checking it is the caller's and the same order).
`order_create` + `order_risk_step` remain as the two halves for an order that must exist before its risk check
(a stop's closing order is stored in the trigger's transaction and checked by the worker; a crash replay
finds it `new`); they share the statement, the decision and the violation record with `order_admit`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connections, transaction
from django.utils import timezone

from dsta.kernel.outbox import publish_many
from dsta.kernel.sql import Statement
from dsta.trading import risk, services
from dsta.trading.models import Order, RiskLimitSet
from dsta.trading.models import OrderStatus as S
from dsta.trading.orders.state import (
    ALIAS,
    ZERO,
    ClientOrderIdTaken,
    OrderInputError,
    locked,
    status_event,
    transition,
)

# -- the limits and the book --------------------------------------------------------------------------------

# The limit set's fields as the risk check takes them; one mapping (`_limits`) for a stored row and the model.
_LIMIT_FIELDS = (
    "version",
    "max_order_notional",
    "max_position_notional",
    "max_total_exposure",
    "max_open_orders",
    "price_band_pct",
    "max_orders_per_minute",
)
_DECIMAL_LIMITS = frozenset(
    name for name in _LIMIT_FIELDS if RiskLimitSet._meta.get_field(name).get_internal_type() == "DecimalField"
)


def _limits(values: Sequence[Any]) -> risk.RiskLimits:
    """The risk check's limits from a limit set's values in `_LIMIT_FIELDS` order (decimals may come as text)."""
    fields: dict[str, Any] = {
        name: Decimal(str(value)) if name in _DECIMAL_LIMITS else value
        for name, value in zip(_LIMIT_FIELDS, values, strict=True)
    }
    return risk.RiskLimits(**fields)


# The limits in force are read in the same round trip as the book rather than cached: no staleness to bound,
# no invalidation to get wrong, and a limit edit binds the very next order.
# Orders of the last minute are the ids drawn since the first order of that minute: two index probes instead of
# counting a minute of orders (18,000 rows at 300 orders/s) on every order. Ids a rolled-back insert drew count
# too, so the figure errs on the safe side.
_SNAPSHOT_TEMPLATE = """
SELECT
    (SELECT coalesce(json_object_agg(symbol, quantity::text), '{{}}') FROM position WHERE exchange = %(exchange)s),
    (SELECT coalesce(json_agg(json_build_array(exchange, symbol, price::text)), '[]') FROM mark_price),
    (SELECT count(*) FROM "order"
      WHERE exchange = %(exchange)s AND status IN ('submitted', 'partially_filled') AND id <> %(exclude)s),
    (SELECT coalesce(newest.id - oldest.id + 1 - (%(exclude)s BETWEEN oldest.id AND newest.id)::int, 0)
       FROM (SELECT max(id) AS id FROM "order") AS newest,
            (SELECT min(id) AS id FROM (SELECT id FROM "order" WHERE created_at >= now() - interval '1 minute'
                                        ORDER BY created_at LIMIT 1) AS first) AS oldest),
    (SELECT json_build_array(is_open, reason) FROM circuit_breaker WHERE id = 1),
    (SELECT json_build_array({limits}) FROM risk_limit_set ORDER BY version DESC LIMIT 1)
"""
# the only formatted part is the limit set's own column names
_SNAPSHOT_SQL = _SNAPSHOT_TEMPLATE.format(
    limits=", ".join(f"{name}::text" if name in _DECIMAL_LIMITS else name for name in _LIMIT_FIELDS)
)


RiskSnapshot = tuple[risk.RiskLimits, risk.BookSnapshot]


def limits_and_book(*, exchange: str, exclude_order_id: int | None = None) -> RiskSnapshot:
    """The limits in force and the account as the risk check sees it, read in one round trip: positions,
    marks, open orders, order rate in the last minute, breaker."""
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(*limits_and_book_statement(exchange=exchange, exclude_order_id=exclude_order_id))
        return limits_and_book_read(cursor.fetchone(), exchange=exchange)


def limits_and_book_statement(*, exchange: str, exclude_order_id: int | None = None) -> Statement:
    """The read of `limits_and_book`, for a caller that sends it in a trip of its own writes (see `admitted`)."""
    return _SNAPSHOT_SQL, {"exchange": exchange, "exclude": exclude_order_id or 0}


def limits_and_book_read(row: Sequence[Any], *, exchange: str) -> RiskSnapshot:
    """`limits_and_book` of `exchange` from the row its statement returned."""
    positions, marks, open_orders, last_minute, breaker, limits_row = row
    if limits_row is None:  # none stored yet: the defaults become version 1
        stored = services.risk_limits_current()
        limits_row = [getattr(stored, name) for name in _LIMIT_FIELDS]
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
    return _limits(limits_row), book


def risk_check(
    *, exchange: str, symbol: str, side: str, order_type: str, quantity: Decimal, price: Decimal | None
) -> risk.RiskDecision:
    """The pre-trade check against the current book, without placing or storing anything."""
    intent = risk.OrderIntent(symbol, side, quantity, order_type, price)
    return risk.check_order(intent, *limits_and_book(exchange=exchange))


@dataclass(frozen=True)
class _Decision:
    status: str  # submitted or rejected
    reason: str  # the transition's reason: the rules that failed, or the limits version that passed
    last_error: str  # the violations' messages, for the order's `last_error` and the API's answer
    decision: risk.RiskDecision
    limits_version: int


def _decide(order: Order, snapshot: RiskSnapshot | None = None) -> _Decision:
    """The pre-trade check of `order` against the limits and the book (excluding the order itself), or against
    `snapshot` when the caller read them already."""
    limits, book = snapshot or limits_and_book(exchange=order.exchange, exclude_order_id=order.pk)
    intent = risk.OrderIntent(order.symbol, order.side, order.quantity, order.order_type, order.price)
    decision = risk.check_order(intent, limits, book)
    if decision.approved:
        return _Decision(S.SUBMITTED, f"risk approved (limits v{limits.version})", "", decision, limits.version)
    return _Decision(
        S.REJECTED,
        "; ".join(v.rule for v in decision.violations)[:300],
        "; ".join(v.message for v in decision.violations)[:300],
        decision,
        limits.version,
    )


def _record_violations(decided: _Decision, order: Order) -> None:
    for violation in decided.decision.violations:
        services.violation_record(
            rule=violation.rule,
            message=violation.message,
            limit=violation.limit,
            actual=violation.actual,
            symbol=order.symbol,
            limits_version=decided.limits_version,
            context={"order_id": order.pk, "client_order_id": order.client_order_id},
        )


# -- the order ----------------------------------------------------------------------------------------------


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
    strategy_version: str = ""  # of the instance's strategy when it decided (the bot's orders)
    user_id: int | None = None
    parent_id: int | None = None
    algo: str = ""  # "twap" or "vwap": a parent worked through child orders, never sent itself
    slices: int | None = None
    interval_seconds: int | None = None


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


def order_known(new: NewOrder) -> Order | None:
    """The stored order under `new`'s client_order_id, if any: a retry gets it back. Another user's id is a
    conflict and different terms under the caller's own id a client bug: both are refused rather than answered
    with an order the caller did not place or ask for."""
    if not new.client_order_id:
        return None
    stored = Order.objects.using(ALIAS).filter(client_order_id=new.client_order_id).first()
    if stored is None:
        return None
    if stored.user_id != new.user_id:
        raise ClientOrderIdTaken({"client_order_id": "already used by another user's order; use a new id"})
    asked = (new.exchange, new.symbol, new.side, new.order_type, new.quantity, new.price, new.algo)
    held = (stored.exchange, stored.symbol, stored.side, stored.order_type, stored.quantity, stored.price, stored.algo)
    if asked != held:
        raise OrderInputError(
            {"client_order_id": f"already used by order {stored.pk} with different terms; use a new id"}
        )
    return stored


_INSERTED = [field for field in Order._meta.concrete_fields if not field.primary_key]
# The order and its first transitions (none for step 1 alone, both of step 2 for an admission) in one
# statement; a taken client_order_id inserts nothing and returns no row.
_INSERT_SQL = """
WITH created AS (
    INSERT INTO "order" ({columns}) VALUES ({values})
    ON CONFLICT (client_order_id) DO NOTHING
    RETURNING id
),
transitions AS (
    INSERT INTO order_transition (order_id, from_status, to_status, reason, at)
    SELECT created.id, step.from_status, step.to_status, step.reason, %(created_at)s
    FROM created, unnest(%(t_from)b::varchar[], %(t_to)b::varchar[], %(t_reasons)b::varchar[])
                  WITH ORDINALITY AS step(from_status, to_status, reason, position)
    ORDER BY step.position
)
SELECT id FROM created
""".format(  # nosec B608: the model's own columns
    columns=", ".join(f'"{field.column}"' for field in _INSERTED),
    values=", ".join(f"%({field.attname})s" for field in _INSERTED),
)


def _unsaved(new: NewOrder) -> Order:
    now = timezone.now()  # what auto_now_add would have stored
    return Order(
        client_order_id=new.client_order_id or f"dsta-{uuid.uuid4().hex[:24]}",
        exchange=new.exchange,
        symbol=new.symbol,
        side=new.side,
        order_type=new.order_type,
        quantity=new.quantity,
        price=new.price,
        status=S.NEW,
        strategy_instance_id=new.strategy_instance_id,
        strategy_version=new.strategy_version,
        user_id=new.user_id,
        parent_id=new.parent_id,
        algo=new.algo,
        slices=new.slices,
        interval_seconds=new.interval_seconds,
        created_at=now,
        updated_at=now,
    )


def _insert(order: Order, steps: Sequence[tuple[str, str, str]]) -> bool:
    """Store `order` and its `steps` (from, to, reason) in one statement; False when its client_order_id is
    taken. On success `order` is what the database holds."""
    params: dict[str, Any] = {field.attname: getattr(order, field.attname) for field in _INSERTED}
    params |= {
        "t_from": [step[0] for step in steps],
        "t_to": [step[1] for step in steps],
        "t_reasons": [step[2] for step in steps],
    }
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(_INSERT_SQL, params)
        row = cursor.fetchone()
    if row is None:
        return False
    order.id = row[0]
    order._state.adding, order._state.db = False, ALIAS
    return True


def order_admit(new: NewOrder, *, along: Callable[[Order], None] | None = None) -> Order:
    """Steps 1 and 2 at once: new -> pending_risk -> submitted | rejected, stored and published in one
    transaction (four round trips: the book and limits, the order with both transitions, their events, the
    commit). Nothing is committed before the risk decision, so no crash leaves a `new` order behind; the client
    retries under the same client_order_id and gets the stored order (see `order_known`). `along` runs in the
    same transaction with the stored order (an algo's plan is stored with its parent)."""
    return admitted(new, along=along)[0]


def admitted(
    new: NewOrder, *, along: Callable[[Order], None] | None = None, snapshot: RiskSnapshot | None = None
) -> tuple[Order, bool]:
    """`order_admit`, and whether this call stored the order (False: a known client_order_id's order).
    `snapshot`: the limits and book (`limits_and_book_statement`) as the caller read them in its open
    transaction, with its own last writes, just before this call: the read's trip saved."""
    _validated(new)
    order = _unsaved(new)
    if snapshot is not None and not connections[ALIAS].in_atomic_block:
        raise ValueError("a risk snapshot is only as fresh as the caller's open transaction")
    # Inside the caller's transaction (an event handler's, the bot's) no savepoint: nothing here catches an
    # error to go on, so one would only cost two round trips; an error rolls the caller's transaction back.
    with transaction.atomic(using=ALIAS, savepoint=False):
        decided = _decide(order, snapshot)
        steps = [(S.NEW, S.PENDING_RISK, "pre-trade risk check"), (S.PENDING_RISK, decided.status, decided.reason)]
        order.status, order.last_error = decided.status, decided.last_error
        if not _insert(order, steps):
            replayed = order_known(new)
            assert replayed is not None  # nosec B101: the insert found the id taken
            return replayed, False
        publish_many([status_event(order, from_status, to, why) for from_status, to, why in steps], using=ALIAS)
        if not decided.decision.approved:
            _record_violations(decided, order)
        if along is not None:
            along(order)
    return order, True


def order_create(new: NewOrder) -> Order:
    """Step 1 alone: store the order as `new`, for a risk step later (`order_risk_step`). A repeated
    client_order_id returns the stored order (idempotent; see `order_known`)."""
    _validated(new)
    order = _unsaved(new)
    with transaction.atomic(using=ALIAS):
        if _insert(order, steps=()):
            return order
    replayed = order_known(new)
    assert replayed is not None  # nosec B101: the insert found the id taken
    return replayed


def order_risk_step(order_id: int) -> Order:
    """Step 2 for an order stored by `order_create`: new -> pending_risk -> submitted (the intent is persisted)
    or rejected (violations stored, their messages in `last_error`)."""
    with transaction.atomic(using=ALIAS):
        order = locked(order_id)
        if order.status != S.NEW:
            return order  # already past this step (a replay)
        transition(order, S.PENDING_RISK, reason="pre-trade risk check")
        decided = _decide(order)
        if not decided.decision.approved:
            _record_violations(decided, order)
            order.last_error = decided.last_error
        transition(order, decided.status, reason=decided.reason)
    return order
