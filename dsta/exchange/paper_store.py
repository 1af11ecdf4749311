"""The paper venue over the exchange schema: each operation locks the account row, loads the engine's state,
applies the operation and writes back what changed with its events, all in one transaction."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from django.db import transaction

from dsta.exchange import models
from dsta.exchange.contracts import (
    BusinessError,
    FillView,
    OrderBook,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderView,
    PaperMarketFill,
    PriceLevel,
)
from dsta.exchange.events import FillRecorded, OrderUpdated
from dsta.exchange.mapping import fill_event, order_event, plain
from dsta.exchange.paper_engine import (
    Balance,
    Changes,
    MarketState,
    PaperConfig,
    PaperEngine,
    PaperFill,
    PaperOrder,
)
from dsta.kernel.clock import utc_now
from dsta.kernel.outbox import publish_many
from dsta.kernel.sql import Statement, execute_pipelined

ALIAS = "exchange"
VENUE = "paper"
T = TypeVar("T")

OPEN_STATUSES = (OrderStatus.OPEN.value, OrderStatus.PARTIALLY_FILLED.value)


def order_view(order: PaperOrder) -> OrderView:
    return OrderView(
        venue=VENUE,
        exchange_order_id=order.order_id,
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        order_type=order.order_type,
        status=order.status,
        amount=order.amount,
        filled=order.filled,
        remaining=order.remaining,
        price=order.price,
        average_price=order.average_price,
        fee=order.fee,
        fee_asset=order.quote,
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


def fill_view(fill: PaperFill) -> FillView:
    return FillView(
        venue=VENUE,
        fill_id=fill.fill_id,
        exchange_order_id=fill.order_id,
        client_order_id=fill.client_order_id,
        symbol=fill.symbol,
        side=fill.side,
        price=fill.price,
        amount=fill.amount,
        fee=fill.fee,
        fee_asset=fill.fee_asset,
        is_maker=fill.is_maker,
        timestamp=fill.timestamp,
    )


def _order_from_row(row: models.PaperOrder) -> PaperOrder:
    return PaperOrder(
        order_id=row.order_id,
        client_order_id=row.client_order_id,
        symbol=row.symbol,
        side=OrderSide(row.side),
        order_type=OrderType(row.order_type),
        amount=plain(row.amount),
        price=plain(row.price) if row.price is not None else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
        status=OrderStatus(row.status),
        filled=plain(row.filled),
        cost=plain(row.cost),
        fee=plain(row.fee),
        reserved=plain(row.reserved),
    )


def _book_to_json(book: OrderBook | None) -> dict[str, object] | None:
    if book is None:
        return None
    return {
        "timestamp": book.timestamp.isoformat(),
        "bids": [[str(level.price), str(level.amount)] for level in book.bids],
        "asks": [[str(level.price), str(level.amount)] for level in book.asks],
    }


def _book_from_json(symbol: str, data: dict[str, object] | None) -> OrderBook | None:
    if data is None:
        return None

    def levels(key: str) -> tuple[PriceLevel, ...]:
        raw = data[key]
        assert isinstance(raw, list)
        return tuple(PriceLevel(Decimal(price), Decimal(amount)) for price, amount in raw)

    timestamp = data["timestamp"]
    assert isinstance(timestamp, str)
    return OrderBook(VENUE, symbol, datetime.fromisoformat(timestamp), levels("bids"), levels("asks"))


def _account() -> models.PaperAccount:
    account, _ = models.PaperAccount.objects.using(ALIAS).select_for_update().get_or_create(pk=1)
    return account


_ORDER_COLUMNS = (
    "order_id, client_order_id, symbol, side, order_type, amount, price, created_at, updated_at, status, filled, "
    "cost, fee, reserved"
)
_OPEN = "status IN ('open', 'partially_filled')"


def _load_sql(*, symbols: tuple[str, ...] | None, client_order_ids: tuple[str, ...]) -> list[Statement]:
    """The engine's state in one round trip: several statements, each (read committed) with its own snapshot
    taken after the one before it, so the reads that follow the account lock see every committed change.
    `symbols`: the markets (and their open orders) the operation touches; None: all of them."""
    orders = f"SELECT {_ORDER_COLUMNS} FROM paper_order WHERE {_OPEN}" + (  # nosec B608: only module constants are interpolated; values travel as parameters
        " AND symbol = ANY(%(symbols)s)" if symbols is not None else ""
    )
    if client_order_ids:
        orders += f" UNION SELECT {_ORDER_COLUMNS} FROM paper_order WHERE client_order_id = ANY(%(ids)s)"  # nosec B608: only module constants are interpolated; values travel as parameters
    markets = "SELECT symbol, last_price, book::text, last_bar_time FROM paper_market" + (  # nosec B608: only module constants are interpolated; values travel as parameters
        " WHERE symbol = ANY(%(symbols)s)" if symbols is not None else ""
    )
    statements = [
        "SELECT maker_fee, taker_fee, slippage_bps, slippage_jitter_bps, participation, seed, next_sequence, "
        "market_fill FROM paper_account WHERE id = 1 FOR UPDATE",
        "SELECT asset, free, used FROM paper_balance",
        orders,
        markets,
    ]
    params = {"symbols": list(symbols or ()), "ids": list(client_order_ids)}
    return [(statement, params) for statement in statements]


def _load(engine_scope: list[Statement]) -> tuple[PaperEngine, int]:
    account_rows, balances, orders, markets = execute_pipelined(using=ALIAS, statements=engine_scope)
    if not account_rows:  # the venue's first operation ever: create the account row, then read again
        _account()
        account_rows, balances, orders, markets = execute_pipelined(using=ALIAS, statements=engine_scope)
    maker_fee, taker_fee, slippage_bps, slippage_jitter_bps, participation, seed, next_sequence, fill = account_rows[0]
    config = PaperConfig(
        maker_fee, taker_fee, slippage_bps, slippage_jitter_bps, participation, seed, PaperMarketFill(fill)
    )
    engine = PaperEngine(config, next_sequence=next_sequence)
    for asset, free, used in balances:
        engine.balances[asset] = Balance(asset, plain(free), plain(used))
    for row in orders:
        engine.load_order(_order_from_tuple(row))
    for symbol, last_price, book, last_bar_time in markets:
        engine.markets[symbol] = MarketState(
            book=_book_from_json(symbol, json.loads(book) if book is not None else None),
            last_price=plain(last_price) if last_price is not None else None,
            last_bar_time=last_bar_time,
        )
    return engine, next_sequence


def _order_from_tuple(row: tuple) -> PaperOrder:  # type: ignore[type-arg]
    order_id, client_order_id, symbol, side, order_type, amount, price, created, updated = row[:9]
    status, filled, cost, fee, reserved = row[9:]
    return PaperOrder(
        order_id=order_id,
        client_order_id=client_order_id,
        symbol=symbol,
        side=OrderSide(side),
        order_type=OrderType(order_type),
        amount=plain(amount),
        price=plain(price) if price is not None else None,
        created_at=created,
        updated_at=updated,
        status=OrderStatus(status),
        filled=plain(filled),
        cost=plain(cost),
        fee=plain(fee),
        reserved=plain(reserved),
    )


@contextmanager
def _engine(
    *, symbols: tuple[str, ...] | None = None, client_order_ids: tuple[str, ...] = (), feeds_market: bool = False
) -> Iterator[PaperEngine]:
    """Locked engine with the balances, the open orders (of `symbols`, or all), named orders and market state;
    `feeds_market`: the operation fed those markets (a book), so their state is written back."""
    with transaction.atomic(using=ALIAS):
        engine, next_sequence = _load(_load_sql(symbols=symbols, client_order_ids=client_order_ids))
        yield engine
        touched = symbols if symbols and feeds_market else ()
        _persist(engine, engine.take_changes(), touched_markets=touched, next_sequence=next_sequence)


# Every write of an operation in one round trip (plus the outbox's): upserts from unnest()ed arrays.
_BALANCES_SQL = """INSERT INTO paper_balance (asset, free, used)
SELECT * FROM unnest(%(assets)b::varchar[], %(frees)b::numeric[], %(useds)b::numeric[])
ON CONFLICT (asset) DO UPDATE SET free = EXCLUDED.free, used = EXCLUDED.used"""
_ORDERS_SQL = f"""INSERT INTO paper_order ({_ORDER_COLUMNS})
SELECT * FROM unnest(%(o_order_id)b::varchar[], %(o_client_order_id)b::varchar[], %(o_symbol)b::varchar[],
    %(o_side)b::varchar[], %(o_order_type)b::varchar[], %(o_amount)b::numeric[], %(o_price)b::numeric[],
    %(o_created_at)b::timestamptz[], %(o_updated_at)b::timestamptz[], %(o_status)b::varchar[],
    %(o_filled)b::numeric[], %(o_cost)b::numeric[], %(o_fee)b::numeric[], %(o_reserved)b::numeric[])
ON CONFLICT (client_order_id) DO UPDATE SET status = EXCLUDED.status, filled = EXCLUDED.filled,
    cost = EXCLUDED.cost, fee = EXCLUDED.fee, reserved = EXCLUDED.reserved, updated_at = EXCLUDED.updated_at"""  # nosec B608: constant column lists
_FILL_COLUMNS = "fill_id, order_id, client_order_id, symbol, side, price, amount, fee, fee_asset, is_maker, timestamp"
_FILLS_SQL = f"""INSERT INTO paper_fill ({_FILL_COLUMNS})
SELECT * FROM unnest(%(f_fill_id)b::varchar[], %(f_order_id)b::varchar[], %(f_client_order_id)b::varchar[],
    %(f_symbol)b::varchar[], %(f_side)b::varchar[], %(f_price)b::numeric[], %(f_amount)b::numeric[],
    %(f_fee)b::numeric[], %(f_fee_asset)b::varchar[], %(f_is_maker)b::boolean[], %(f_timestamp)b::timestamptz[])"""  # nosec B608: constant column lists
_SEQUENCE_SQL = "UPDATE paper_account SET next_sequence = %(sequence)s WHERE id = 1"
# a fed market's state, in the same round trip as the rest (it was a read and a write of its own)
_MARKETS_SQL = """INSERT INTO paper_market (symbol, last_price, book, last_bar_time)
SELECT symbol, last_price, book::jsonb, last_bar_time
FROM unnest(%(m_symbol)b::varchar[], %(m_last_price)b::numeric[], %(m_book)b::text[],
            %(m_last_bar_time)b::timestamptz[]) AS market(symbol, last_price, book, last_bar_time)
ON CONFLICT (symbol) DO UPDATE SET last_price = EXCLUDED.last_price, book = EXCLUDED.book,
    last_bar_time = EXCLUDED.last_bar_time"""


def _json_text(value: object) -> str | None:
    return None if value is None else json.dumps(value)


def _persist(engine: PaperEngine, changes: Changes, *, touched_markets: tuple[str, ...], next_sequence: int) -> None:
    statements: list[str] = []
    params: dict[str, Any] = {}
    if changes.balances:
        assets = sorted(changes.balances)
        statements.append(_BALANCES_SQL)
        params |= {
            "assets": assets,
            "frees": [engine.balances[asset].free for asset in assets],
            "useds": [engine.balances[asset].used for asset in assets],
        }
    if changes.orders:
        statements.append(_ORDERS_SQL)
        rows = list(changes.orders.values())
        for column in _ORDER_COLUMNS.split(", "):
            values = [getattr(order, column) for order in rows]
            params[f"o_{column}"] = [
                value.value if column in ("side", "order_type", "status") else value for value in values
            ]
    if changes.fills:
        statements.append(_FILLS_SQL)
        for column in _FILL_COLUMNS.split(", "):
            values = [getattr(fill, column) for fill in changes.fills]
            params[f"f_{column}"] = [value.value if column == "side" else value for value in values]
    if engine.sequence != next_sequence:
        statements.append(_SEQUENCE_SQL)
        params["sequence"] = engine.sequence
    markets = [(symbol, engine.markets[symbol]) for symbol in touched_markets if symbol in engine.markets]
    if markets:
        statements.append(_MARKETS_SQL)
        params |= {
            "m_symbol": [symbol for symbol, _ in markets],
            "m_last_price": [market.last_price for _, market in markets],
            "m_book": [_json_text(_book_to_json(market.book)) for _, market in markets],
            "m_last_bar_time": [market.last_bar_time for _, market in markets],
        }
    events: list[OrderUpdated | FillRecorded] = [fill_event(fill_view(fill)) for fill in changes.fills]
    events += [order_event(order_view(order)) for order in changes.orders.values()]
    # the writes and their events in one round trip
    publish_many(events, using=ALIAS, along_with=[(statement, params) for statement in statements])


def _run(operation: Callable[[PaperEngine], T], **scope: object) -> T:
    with _engine(**scope) as engine:  # type: ignore[arg-type]
        return operation(engine)


def submit(
    *,
    request_symbol: str,
    operation: Callable[[PaperEngine], PaperOrder],
    client_order_id: str,
    feeds_market: bool = False,
) -> OrderView:
    """The order as the venue holds it, with the fills this submit made (a repeat submit makes none).
    `feeds_market`: the operation feeds the symbol's market too (a book), so its state is written back."""
    outcome = submit_each(
        symbols=(request_symbol,),
        client_order_ids=(client_order_id,),
        operations=[operation],
        feeds_market=feeds_market,
        refusals=(),
    )[0]
    assert isinstance(outcome, OrderView)  # nosec B101: no refusal is caught, so none is returned
    return outcome


def submit_each(
    *,
    symbols: tuple[str, ...],
    client_order_ids: tuple[str, ...],
    operations: Sequence[Callable[[PaperEngine], PaperOrder]],
    feeds_market: bool = False,
    refusals: tuple[type[BusinessError], ...] = (BusinessError,),
) -> list[OrderView | BusinessError]:
    """Several submits in one operation of the venue (one lock, one read, one write): each operation's order
    as `submit` answers it, in the given order, or the refusal (one of `refusals`) that it raised, which leaves
    the others standing. `client_order_ids`: the orders the operations name (a repeat finds its first order)."""
    taken: list[PaperOrder | BusinessError] = []
    with _engine(symbols=symbols, client_order_ids=client_order_ids, feeds_market=feeds_market) as engine:
        for operation in operations:
            try:
                taken.append(operation(engine))
            except refusals as refusal:
                taken.append(refusal)
        fills: dict[str, list[FillView]] = {}
        for fill in engine.changes.fills:
            fills.setdefault(fill.client_order_id, []).append(fill_view(fill))
    # the views once every operation ran: a later one's book may have filled an earlier one's resting order
    return [
        outcome
        if isinstance(outcome, BusinessError)
        else replace(order_view(outcome), fills=tuple(fills.get(outcome.client_order_id, ())))
        for outcome in taken
    ]


def cancel(*, client_order_id: str, now: datetime | None = None) -> OrderView:
    moment = now or utc_now()
    return order_view(
        _run(lambda engine: engine.cancel(client_order_id, now=moment), client_order_ids=(client_order_id,))
    )


def feed_bar_or_book(*, symbol: str, operation: Callable[[PaperEngine], None]) -> None:
    _run(operation, symbols=(symbol,), feeds_market=True)


def deposit(*, asset: str, amount: Decimal) -> None:
    _run(lambda engine: engine.deposit(asset, amount))


def reset(*, config: PaperConfig) -> None:
    """Wipe the paper venue (balances, orders, fills, markets) and set its fill model. Order and fill ids keep
    counting: a reset venue must not hand out an id that a consumer has already seen."""
    with transaction.atomic(using=ALIAS):
        _account()
        for model in (models.PaperBalance, models.PaperOrder, models.PaperFill, models.PaperMarket):
            model.objects.using(ALIAS).all().delete()
        models.PaperAccount.objects.using(ALIAS).filter(pk=1).update(
            maker_fee=config.maker_fee,
            taker_fee=config.taker_fee,
            slippage_bps=config.slippage_bps,
            slippage_jitter_bps=config.slippage_jitter_bps,
            participation=config.participation,
            seed=config.seed,
            market_fill=config.market_fill.value,
        )  # next_sequence carries on: trading keys fills by (venue, fill id), so ids never repeat, resets included


def costs_set(*, maker_fee: Decimal, taker_fee: Decimal, slippage_bps: Decimal) -> None:
    with transaction.atomic(using=ALIAS):
        _account()
        models.PaperAccount.objects.using(ALIAS).filter(pk=1).update(
            maker_fee=maker_fee, taker_fee=taker_fee, slippage_bps=slippage_bps, slippage_jitter_bps=0
        )
