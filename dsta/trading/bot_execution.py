"""A signal of a strategy instance becomes (at most) one order through the saga.

Sizing is the backtest's `rebalance`, on the instance's own account: at the decision bar's close, a buy
takes `(target x equity - held value) / (close x (1 + slippage) x (1 + commission))`, a sell of a lower
target the difference at the close, a target of 0 the whole position; then rounded down to the venue's lot
size, and no order when the result is under the venue's minimum amount or notional. Like the backtest, an
unchanged target places nothing (the position is not rebalanced as the price moves).

Once per bar, in the transaction that records the signal (`bot_signals.signals_record`, with the instance row
locked): the decision (side, quantity, client order id `bot-<instance>-<bar epoch>`) is stored with the
signal and the order placed, so a bar's signal, decision and order commit together or not at all. A
retried handler decides the bar again only when nothing of it committed, and re-places the same order under
the same id (the saga and the venue return the order they hold); a redelivered event finds the bar decided.
`signal_execute` replays a stored decision (a signal decided by an earlier version, or a test's crash).
On the paper venue the order is a limit at the reference close against a book at that close: it fills at once
at the close with the venue's taker fee, the backtest's `fill_at=close`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.db import connections, transaction

from dsta.data.contracts import TIMEFRAME_SECONDS
from dsta.exchange.contracts import OrderBook, PriceLevel
from dsta.kernel.clock import utc_now
from dsta.kernel.sql import Statement, execute_pipelined
from dsta.trading import bot_book, orders, protections
from dsta.trading.bot import PAPER_VENUE
from dsta.trading.models import BotMode, BotState, Order, Signal, StrategyInstance

ALIAS = "trading"
ZERO = Decimal(0)
PAPER_BOOK_DEPTH = Decimal(10**9)  # the reference close takes any size, as in the backtest
FINAL = frozenset(orders.FINAL)


def client_order_id_for(instance_id: int, bar_time_epoch: int) -> str:
    return f"bot-{instance_id}-{bar_time_epoch}"


def order_size(
    *, book: bot_book.InstanceBook, instance: StrategyInstance, target: Decimal, price: Decimal
) -> tuple[str, Decimal]:
    """(side, quantity) moving the instance's account to `target`, rounded down to the lot size."""
    held = book.position.quantity
    if target == 0:
        return ("sell", held) if held > 0 else ("buy", ZERO)
    difference = target * book.equity(price) - held * price
    if difference > 0:
        raw = difference / (price * (1 + instance.slippage) * (1 + instance.commission))
        return "buy", raw.quantize(instance.amount_step, ROUND_DOWN) if instance.amount_step else raw
    raw = -difference / price
    return "sell", min(held, raw.quantize(instance.amount_step, ROUND_DOWN) if instance.amount_step else raw)


def _decide(
    signal: Signal, instance: StrategyInstance, book: bot_book.InstanceBook | None = None
) -> tuple[str, str, str, Decimal]:
    """(action, detail, side, quantity); action "order" asks for an order. `book`: the instance's, when the
    caller read it already."""
    if signal.stale:
        return "stale", "a back-filled bar: recorded, not traded", "", ZERO
    if instance.state == BotState.STOPPED or not instance.enabled:
        return "stopped", "the instance is stopped", "", ZERO
    if instance.mode == BotMode.LIVE and instance.armed_at is None:
        return "not_armed", "live trading is not armed", "", ZERO
    if protections.watching(instance):
        book = book or bot_book.book_of(instance)
        stopped = protections.bar_check(instance=instance, bar_time=signal.bar_time, book=book, price=signal.close)
        if stopped:
            return "protected", stopped, "", ZERO
    target = signal.target
    if target is None or target == instance.held_target:
        return "hold", "", "", ZERO
    if target < 0:
        return "unsupported", "spot venues do not short", "", ZERO
    opening = target > instance.held_target
    if opening and instance.state == BotState.PAUSED:
        return "paused", "paused: exits only", "", ZERO
    book = book or bot_book.book_of(instance)
    if opening:
        blocked = protections.entry_blocked(instance=instance, bar_time=signal.bar_time, book=book, price=signal.close)
        if blocked:
            return "protected", blocked, "", ZERO
    side, quantity = order_size(book=book, instance=instance, target=target, price=signal.close)
    if quantity <= 0 or quantity < instance.min_amount or quantity * signal.close < instance.min_notional:
        return "below_minimum", f"{side} {quantity} is under the venue's minimum", side, quantity
    return "order", "", side, quantity


def signal_decide(signal: Signal, *, book: bot_book.InstanceBook | None = None) -> list[Statement]:
    """Decide a new signal of `signal.instance` (locked by the caller) in memory: its action, detail and, for
    an order, side, quantity and client order id. Returns the statements to send after the signal's row in
    the same trip: for an order, the paper venue's mark at the bar's close, then the risk check's read of the
    limits and the book (last), whose rows `signal_place` takes."""
    instance = signal.instance
    action, detail, side, quantity = _decide(signal, instance, book)
    signal.action, signal.detail, signal.decided_at = action, detail[:300], utc_now()
    if action != "order":
        return []
    signal.order_side, signal.order_quantity = side, quantity
    signal.client_order_id = client_order_id_for(instance.pk, int(signal.bar_time.timestamp()))
    mark = [_paper_mark(instance, signal)] if instance.venue == PAPER_VENUE else []
    return [*mark, orders.limits_and_book_statement(exchange=instance.venue)]


@dataclass
class OrderRound:
    """The orders of one bar pass (every instance of its markets deciding the bar in one transaction), each
    admitted as its instance decides and all sent once every instance has: one venue operation per venue
    instead of one per order (`orders.orders_submit_held`). Each admission sees the round's approved orders
    before it as the venue is about to answer them (the paper venue fills them at once, at the close): in the
    positions, not among the open orders, which is how it saw them when each order went out on its own."""

    deferred: list[tuple[Order, OrderBook | None]] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)

    def seen(self, snapshot: orders.RiskSnapshot, *, venue: str) -> orders.RiskSnapshot:
        """`snapshot` (read after this round's orders were stored) with the round's orders on `venue` filled."""
        pending = [order for order, _ in self.deferred if order.exchange == venue]
        if not pending:
            return snapshot
        limits, book = snapshot
        positions = dict(book.positions)
        for order in pending:
            signed = order.quantity if order.side == "buy" else -order.quantity
            positions[order.symbol] = positions.get(order.symbol, ZERO) + signed
        return limits, replace(book, positions=positions, open_orders=max(book.open_orders - len(pending), 0))


def signal_place(signal: Signal, *, written: list[list[tuple[Any, ...]]], batch: OrderRound) -> Order | None:
    """Admit the order of a signal decided (`signal_decide`) and stored in the caller's open transaction, to
    be sent with the rest of `batch` (`round_submit`); `written`: the rows its statements returned, in their
    order. An order already known (a replay) is taken through its steps now."""
    if signal.action != "order":
        return None
    instance = signal.instance
    snapshot = orders.limits_and_book_read(written[-1][0], exchange=instance.venue)
    before = len(batch.deferred)
    order = _order_placed(
        signal, instance, decided_now=True, risk_snapshot=batch.seen(snapshot, venue=instance.venue), batch=batch
    )
    if len(batch.deferred) > before:
        batch.signals.append(signal)
    else:
        _after_placed(signal, instance, order)
    return order


def round_submit(batch: OrderRound) -> list[Order]:
    """Send the round's admitted orders (`orders.orders_submit_held`), then move each instance with its answer."""
    placed = orders.orders_submit_held(batch.deferred)
    for signal, order in zip(batch.signals, placed, strict=True):
        _after_placed(signal, signal.instance, order)
    batch.deferred.clear()
    batch.signals.clear()
    return placed


def signal_execute(*, signal_id: int) -> Signal:
    """Decide a stored signal's bar once and place its order, or re-place the one already decided."""
    # no savepoint inside an event handler's transaction: an error rolls it back whole (the handler retries)
    with transaction.atomic(using=ALIAS, savepoint=False):
        # the signal and its instance locked in one statement: one decision at a time per instance
        signal = Signal.objects.using(ALIAS).select_related("instance").select_for_update().get(pk=signal_id)
        instance = signal.instance
        if not signal.action:
            written = execute_pipelined(using=ALIAS, statements=signal_decide(signal))
            signal.save(
                using=ALIAS,
                update_fields=["action", "detail", "decided_at", "order_side", "order_quantity", "client_order_id"],
            )
            batch = OrderRound()
            signal_place(signal, written=written, batch=batch)
            round_submit(batch)
        elif signal.action == "order":
            if instance.venue == PAPER_VENUE:
                execute_pipelined(using=ALIAS, statements=[_paper_mark(instance, signal)])
            _after_placed(signal, instance, _order_placed(signal, instance, decided_now=False))
    return signal


def _order_placed(
    signal: Signal,
    instance: StrategyInstance,
    *,
    decided_now: bool,
    risk_snapshot: orders.RiskSnapshot | None = None,
    batch: OrderRound | None = None,
) -> Order:
    """Place the decided order (into `batch`, to be sent with it, when given), or take the one placed already
    (a replay). A decision made in this transaction has no order yet: the order is stored in the transaction
    that stores its decision."""
    order = None if decided_now else Order.objects.using(ALIAS).filter(client_order_id=signal.client_order_id).first()
    if order is not None and order.status in FINAL:
        return order
    assert signal.order_quantity is not None  # nosec B101: an "order" decision has its quantity
    paper = instance.venue == PAPER_VENUE
    return orders.order_place(
        orders.NewOrder(
            exchange=instance.venue,
            symbol=instance.symbol,
            side=signal.order_side,
            order_type="limit" if paper else "market",
            quantity=signal.order_quantity,
            price=signal.close if paper else None,
            client_order_id=signal.client_order_id,
            strategy_instance_id=instance.pk,
            strategy_version=instance.strategy_version,
        ),
        paper_book=_paper_book_at(instance, signal) if paper else None,
        risk_snapshot=risk_snapshot,
        deferred=batch.deferred if batch is not None else None,
    )


def _after_placed(signal: Signal, instance: StrategyInstance, order: Order) -> None:
    """Move the instance's held target with its answered order (idempotent, as is the cooldown a losing exit
    starts)."""
    if order.status != "rejected" and signal.target is not None and instance.held_target != signal.target:
        instance.held_target, instance.updated_at = signal.target, utc_now()
        with connections[ALIAS].cursor() as cursor:  # the ORM's save compiles this on every order
            cursor.execute(_HELD_TARGET_SQL, [instance.held_target, instance.updated_at, instance.pk])
    if order.filled_quantity:
        protections.after_order(instance=instance, signal=signal, order=order)


_HELD_TARGET_SQL = "UPDATE strategy_instance SET held_target = %s, updated_at = %s WHERE id = %s"
# the paper venue's mark set to the decision bar's close whatever it was (a read and a write in one statement)
_PAPER_MARK_SQL = """
INSERT INTO mark_price (exchange, symbol, price, as_of, updated_at) VALUES (%s, %s, %s, %s, now())
ON CONFLICT (exchange, symbol) DO UPDATE SET price = EXCLUDED.price, as_of = EXCLUDED.as_of, updated_at = now()
"""


def _paper_mark(instance: StrategyInstance, signal: Signal) -> Statement:
    """The paper venue's mark for the risk check at the reference venue's close of the decision bar (the paper
    venue's price is the last one it was given, as its own last price is); written before the order."""
    return _PAPER_MARK_SQL, [instance.venue, instance.symbol, signal.close, signal.bar_time]


def _paper_book_at(instance: StrategyInstance, signal: Signal) -> OrderBook:
    """The paper venue's book at the decision bar's close; it goes to the venue with the order, in the
    submit's own operation."""
    closed_at = signal.bar_time + timedelta(seconds=TIMEFRAME_SECONDS[instance.timeframe])
    level = (PriceLevel(signal.close, PAPER_BOOK_DEPTH),)
    return OrderBook(venue=instance.venue, symbol=instance.symbol, timestamp=closed_at, bids=level, asks=level)
