"""Writes of the exchange domain: the live-order journal (idempotent submit) and the paper venue's operations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction

from dsta.exchange import models, paper_store, selectors
from dsta.exchange.ccxt_venue import CcxtVenue
from dsta.exchange.contracts import (
    BusinessError,
    InvalidOrder,
    OhlcvBar,
    OrderBook,
    OrderNotFound,
    OrderRequest,
    OrderView,
    SubmitOutcome,
)
from dsta.exchange.mapping import fill_event, order_event
from dsta.exchange.paper_engine import PaperConfig, PaperEngine, PaperOrder
from dsta.exchange.resilience import redis_client
from dsta.kernel.clock import utc_now
from dsta.kernel.outbox import publish

ALIAS = "exchange"


def _publish_order(view: OrderView) -> None:
    publish(order_event(view), using=ALIAS)


def _intent(venue: str, request: OrderRequest) -> tuple[models.OrderIntent, bool]:
    """The journal row of this client order id, created on first sight; a reuse for another order is refused."""
    fields = {
        "symbol": request.symbol,
        "side": request.side.value,
        "order_type": request.order_type.value,
        "amount": request.amount,
        "price": request.price,
    }
    try:
        with transaction.atomic(using=ALIAS):
            intent, created = models.OrderIntent.objects.using(ALIAS).get_or_create(
                venue=venue, client_order_id=request.client_order_id, defaults=fields
            )
    except IntegrityError:  # a concurrent submit of the same id created it first
        intent = models.OrderIntent.objects.using(ALIAS).get(venue=venue, client_order_id=request.client_order_id)
        created = False
    stored = (intent.symbol, intent.side, intent.order_type, intent.amount, intent.price)
    if stored != tuple(fields.values()):
        raise InvalidOrder(f"client_order_id {request.client_order_id!r} was already used for another order")
    return intent, created


def live_order_submit(*, venue: CcxtVenue, request: OrderRequest) -> OrderView:
    """Submit once per client order id: a repeated call (or a retry after a lost answer) finds the first order."""
    # Concurrent submits of one client order id (two workers, a double click) take turns, so the second
    # sees the first one's answer instead of racing it to the venue. The lock expires if its holder dies.
    with redis_client().lock(f"dsta:exchange:submit:{venue.name}:{request.client_order_id}", timeout=120):
        intent, first_sight = _intent(venue.name, request)
        if intent.exchange_order_id:
            view = venue.get_order(request.client_order_id, request.symbol)
        else:
            # seen before without an answer (a crash, a lost reply): ask the venue before sending again
            found = None if first_sight else venue.find_order(request.client_order_id, request.symbol)
            view = found or venue.create_order(request)
            models.OrderIntent.objects.using(ALIAS).filter(pk=intent.pk).update(
                exchange_order_id=view.exchange_order_id
            )
    with transaction.atomic(using=ALIAS):
        _publish_order(view)
    return view


def live_intent(*, venue: str, client_order_id: str) -> models.OrderIntent:
    intent = models.OrderIntent.objects.using(ALIAS).filter(venue=venue, client_order_id=client_order_id).first()
    if intent is None:
        raise OrderNotFound(f"{venue}: no order with client_order_id {client_order_id!r} was submitted through DSTA")
    return intent


def live_order_cancel(*, venue: CcxtVenue, client_order_id: str) -> OrderView:
    intent = live_intent(venue=venue.name, client_order_id=client_order_id)
    view = venue.cancel_order(client_order_id, intent.symbol, intent.exchange_order_id)
    with transaction.atomic(using=ALIAS):
        _publish_order(view)
    return view


def live_fills_sync(*, venue: CcxtVenue, symbol: str) -> int:
    """Record the venue's fills of `symbol` not seen before and publish `exchange.fill` for each; returns how
    many were new. Safe to run repeatedly and concurrently: the unique (venue, fill_id) decides."""
    latest = (
        models.LiveFill.objects.using(ALIAS)
        .filter(venue=venue.name, symbol=symbol)
        .order_by("-timestamp")
        .values_list("timestamp", flat=True)
        .first()
    )
    fills = venue.fills(symbol, latest)
    client_ids = dict(
        models.OrderIntent.objects.using(ALIAS)
        .filter(venue=venue.name, exchange_order_id__in={fill.exchange_order_id for fill in fills})
        .values_list("exchange_order_id", "client_order_id")
    )
    new = 0
    for fill in fills:
        client_order_id = fill.client_order_id or client_ids.get(fill.exchange_order_id, "")
        with transaction.atomic(using=ALIAS):
            _, created = models.LiveFill.objects.using(ALIAS).get_or_create(
                venue=venue.name,
                fill_id=fill.fill_id,
                defaults={
                    "exchange_order_id": fill.exchange_order_id,
                    "client_order_id": client_order_id,
                    "symbol": fill.symbol,
                    "side": fill.side.value,
                    "price": fill.price,
                    "amount": fill.amount,
                    "fee": fill.fee,
                    "fee_asset": fill.fee_asset,
                    "is_maker": fill.is_maker,
                    "timestamp": fill.timestamp,
                },
            )
            if created:
                publish(fill_event(replace(fill, client_order_id=client_order_id)), using=ALIAS)
                new += 1
    return new


# -- paper venue ------------------------------------------------------------------------------------------


def paper_order_submit(
    *, request: OrderRequest, now: datetime | None = None, book: OrderBook | None = None
) -> OrderView:
    """The order with all of its fills: those this submit made, or for a repeated submit those made before (so a
    retry gets the very answer the first call got). `book`: fed first, in the same operation (`paper_book_feed`)."""
    view = paper_store.submit(
        request_symbol=request.symbol,
        client_order_id=request.client_order_id,
        operation=_submit_operation(request, book, now or utc_now()),
        feeds_market=book is not None,
    )
    return _with_all_fills(view)


def _submit_operation(
    request: OrderRequest, book: OrderBook | None, moment: datetime
) -> Callable[[PaperEngine], PaperOrder]:
    """The engine's submit of `request` at `moment`, with `book` fed first when given."""

    def run(engine: PaperEngine) -> PaperOrder:
        if book is not None:
            engine.on_book(book, now=book.timestamp)
        return engine.submit(request, now=moment)

    return run


def _with_all_fills(view: OrderView) -> OrderView:
    """`view` with every fill of its order: a repeated submit makes none, so the first submit's are read."""
    if view.fills_complete:
        return view
    fills = selectors.paper_fills(symbol=None, since=None, client_order_id=view.client_order_id)
    return replace(view, fills=tuple(fills))


def paper_orders_submit(*, requests: Sequence[OrderRequest], books: Sequence[OrderBook | None]) -> list[SubmitOutcome]:
    """`paper_order_submit` of each request (with its book, fed first) in one operation of the venue: one lock,
    one read, one write for all of them. A refused order (a business error) is answered as such; the others
    stand."""
    moment = utc_now()
    answers = paper_store.submit_each(
        symbols=tuple(dict.fromkeys(request.symbol for request in requests)),
        client_order_ids=tuple(request.client_order_id for request in requests),
        operations=[_submit_operation(request, book, moment) for request, book in zip(requests, books, strict=True)],
        feeds_market=any(book is not None for book in books),
    )
    return [
        SubmitOutcome(request.client_order_id, None, str(answer))
        if isinstance(answer, BusinessError)
        else SubmitOutcome(request.client_order_id, _with_all_fills(answer))
        for request, answer in zip(requests, answers, strict=True)
    ]


def paper_order_cancel(*, client_order_id: str, now: datetime | None = None) -> OrderView:
    return paper_store.cancel(client_order_id=client_order_id, now=now)


def paper_bar_feed(*, symbol: str, bar: OhlcvBar) -> None:
    """A closed candle: waiting market orders fill at its open, crossed limit orders at their price."""
    paper_store.feed_bar_or_book(symbol=symbol, operation=lambda engine: engine.on_bar(symbol, bar, now=bar.open_time))


def paper_book_feed(*, book: OrderBook) -> None:
    paper_store.feed_bar_or_book(symbol=book.symbol, operation=lambda engine: engine.on_book(book, now=book.timestamp))


def paper_deposit(*, asset: str, amount: Decimal) -> None:
    paper_store.deposit(asset=asset, amount=amount)


def paper_reset(*, config: PaperConfig) -> None:
    paper_store.reset(config=config)


def paper_costs_set(*, maker_fee: Decimal, taker_fee: Decimal, slippage_bps: Decimal) -> None:
    paper_store.costs_set(maker_fee=maker_fee, taker_fee=taker_fee, slippage_bps=slippage_bps)
