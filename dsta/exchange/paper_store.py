"""The paper venue over the exchange schema: each operation locks the account row, loads the engine's state,
applies the operation and writes back what changed with its events, all in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from django.db import transaction

from dsta.exchange import models
from dsta.exchange.contracts import (
    FillView,
    OrderBook,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderView,
    PriceLevel,
)
from dsta.exchange.events import FillRecorded, OrderUpdated
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

ALIAS = "exchange"
VENUE = "paper"
T = TypeVar("T")

OPEN_STATUSES = (OrderStatus.OPEN.value, OrderStatus.PARTIALLY_FILLED.value)


def plain(value: Decimal) -> Decimal:
    """A stored amount without the column's trailing zeros (100.000000000000000000 -> 100); same value."""
    reduced = value.normalize()
    return reduced.quantize(Decimal(1)) if reduced == reduced.to_integral_value() else reduced


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


def fill_event(fill: FillView) -> FillRecorded:
    return FillRecorded(
        venue=fill.venue,
        fill_id=fill.fill_id,
        client_order_id=fill.client_order_id,
        exchange_order_id=fill.exchange_order_id,
        symbol=fill.symbol,
        side=fill.side.value,
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


def _config(account: models.PaperAccount) -> PaperConfig:
    return PaperConfig(
        maker_fee=account.maker_fee,
        taker_fee=account.taker_fee,
        slippage_bps=account.slippage_bps,
        slippage_jitter_bps=account.slippage_jitter_bps,
        participation=account.participation,
        seed=account.seed,
    )


@contextmanager
def _engine(
    *, symbol: str | None = None, client_order_ids: tuple[str, ...] = (), feeds_market: bool = False
) -> Iterator[PaperEngine]:
    """Locked engine with the balances, the open orders (of `symbol`, or all), named orders and market state."""
    with transaction.atomic(using=ALIAS):
        account = _account()
        engine = PaperEngine(_config(account), next_sequence=account.next_sequence)
        for balance in models.PaperBalance.objects.using(ALIAS).all():
            engine.balances[balance.asset] = Balance(balance.asset, plain(balance.free), plain(balance.used))
        open_rows = models.PaperOrder.objects.using(ALIAS).filter(status__in=OPEN_STATUSES)
        if symbol is not None:
            open_rows = open_rows.filter(symbol=symbol)
        for row in open_rows:
            engine.load_order(_order_from_row(row))
        for row in models.PaperOrder.objects.using(ALIAS).filter(client_order_id__in=client_order_ids):
            engine.load_order(_order_from_row(row))
        markets = models.PaperMarket.objects.using(ALIAS)
        for market in markets.filter(symbol=symbol) if symbol is not None else markets.all():
            engine.markets[market.symbol] = MarketState(
                book=_book_from_json(market.symbol, market.book),
                last_price=plain(market.last_price) if market.last_price is not None else None,
            )
        yield engine
        touched = (symbol,) if symbol and feeds_market else ()
        _persist(engine, engine.take_changes(), touched_markets=touched)
        if engine.sequence != account.next_sequence:
            account.next_sequence = engine.sequence
            account.save(using=ALIAS, update_fields=["next_sequence"])


def _persist(engine: PaperEngine, changes: Changes, *, touched_markets: tuple[str, ...]) -> None:
    # one upsert per table: a paper order costs a fixed number of round trips however much it touched
    models.PaperBalance.objects.using(ALIAS).bulk_create(
        [
            models.PaperBalance(asset=asset, free=engine.balances[asset].free, used=engine.balances[asset].used)
            for asset in sorted(changes.balances)
        ],
        update_conflicts=True,
        unique_fields=["asset"],
        update_fields=["free", "used"],
    )
    models.PaperOrder.objects.using(ALIAS).bulk_create(
        [
            models.PaperOrder(
                order_id=order.order_id,
                client_order_id=order.client_order_id,
                symbol=order.symbol,
                side=order.side.value,
                order_type=order.order_type.value,
                status=order.status.value,
                amount=order.amount,
                price=order.price,
                filled=order.filled,
                cost=order.cost,
                fee=order.fee,
                reserved=order.reserved,
                created_at=order.created_at,
                updated_at=order.updated_at,
            )
            for order in changes.orders.values()
        ],
        update_conflicts=True,
        unique_fields=["client_order_id"],
        update_fields=["status", "filled", "cost", "fee", "reserved", "updated_at"],
    )
    models.PaperFill.objects.using(ALIAS).bulk_create(
        [models.PaperFill(**{**asdict(fill), "side": fill.side.value}) for fill in changes.fills]
    )
    for symbol in touched_markets:
        market = engine.markets.get(symbol)
        if market is not None:
            models.PaperMarket.objects.using(ALIAS).update_or_create(
                symbol=symbol, defaults={"last_price": market.last_price, "book": _book_to_json(market.book)}
            )
    events: list[OrderUpdated | FillRecorded] = [fill_event(fill_view(fill)) for fill in changes.fills]
    events += [
        OrderUpdated(
            venue=VENUE,
            client_order_id=order.client_order_id,
            exchange_order_id=order.order_id,
            symbol=order.symbol,
            side=order.side.value,
            order_type=order.order_type.value,
            status=order.status.value,
            amount=order.amount,
            filled=order.filled,
            average_price=order.average_price,
            updated_at=order.updated_at,
        )
        for order in changes.orders.values()
    ]
    if events:
        publish_many(events, using=ALIAS)


def _run(operation: Callable[[PaperEngine], T], **scope: object) -> T:
    with _engine(**scope) as engine:  # type: ignore[arg-type]
        return operation(engine)


def submit(*, request_symbol: str, operation: Callable[[PaperEngine], PaperOrder], client_order_id: str) -> OrderView:
    return order_view(_run(operation, symbol=request_symbol, client_order_ids=(client_order_id,)))


def cancel(*, client_order_id: str, now: datetime | None = None) -> OrderView:
    moment = now or utc_now()
    return order_view(
        _run(lambda engine: engine.cancel(client_order_id, now=moment), client_order_ids=(client_order_id,))
    )


def feed_bar_or_book(*, symbol: str, operation: Callable[[PaperEngine], None]) -> None:
    _run(operation, symbol=symbol, feeds_market=True)


def deposit(*, asset: str, amount: Decimal) -> None:
    _run(lambda engine: engine.deposit(asset, amount))


def reset(*, config: PaperConfig) -> None:
    """Wipe the paper venue (balances, orders, fills, markets) and set its fill model."""
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
            next_sequence=1,
        )
