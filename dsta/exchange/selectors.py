"""Reads of the exchange domain (the paper venue's stored state)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from dsta.exchange import models
from dsta.exchange.contracts import (
    AssetBalance,
    FillView,
    OrderBook,
    OrderNotFound,
    OrderSide,
    OrderView,
    PublicTrade,
    Ticker,
    UnknownSymbol,
)
from dsta.exchange.mapping import plain
from dsta.exchange.paper_store import (
    ALIAS,
    OPEN_STATUSES,
    VENUE,
    _book_from_json,
    _order_from_row,
    order_view,
)
from dsta.kernel.clock import utc_now


def paper_balances() -> list[AssetBalance]:
    return [
        AssetBalance(asset=row.asset, free=plain(row.free), used=plain(row.used), total=plain(row.free + row.used))
        for row in models.PaperBalance.objects.using(ALIAS).order_by("asset")
    ]


def paper_order(*, client_order_id: str) -> OrderView:
    row = models.PaperOrder.objects.using(ALIAS).filter(client_order_id=client_order_id).first()
    if row is None:
        raise OrderNotFound(f"no paper order {client_order_id!r}")
    return order_view(_order_from_row(row))


def paper_open_orders(*, symbol: str | None) -> list[OrderView]:
    rows = models.PaperOrder.objects.using(ALIAS).filter(status__in=OPEN_STATUSES).order_by("id")
    if symbol is not None:
        rows = rows.filter(symbol=symbol)
    return [order_view(_order_from_row(row)) for row in rows]


def paper_fills(*, symbol: str | None, since: datetime | None, client_order_id: str | None = None) -> list[FillView]:
    rows = models.PaperFill.objects.using(ALIAS).order_by("id")
    if client_order_id is not None:
        rows = rows.filter(client_order_id=client_order_id)
    if symbol is not None:
        rows = rows.filter(symbol=symbol)
    if since is not None:
        rows = rows.filter(timestamp__gte=since)
    return [
        FillView(
            venue=VENUE,
            fill_id=row.fill_id,
            exchange_order_id=row.order_id,
            client_order_id=row.client_order_id,
            symbol=row.symbol,
            side=OrderSide(row.side),
            price=plain(row.price),
            amount=plain(row.amount),
            fee=plain(row.fee),
            fee_asset=row.fee_asset,
            is_maker=row.is_maker,
            timestamp=row.timestamp,
        )
        for row in rows
    ]


def _paper_market(symbol: str) -> models.PaperMarket:
    market = models.PaperMarket.objects.using(ALIAS).filter(symbol=symbol).first()
    if market is None or market.last_price is None:
        raise UnknownSymbol(f"paper venue has no price for {symbol!r} yet: feed a candle or a book")
    return market


def paper_ticker(*, symbol: str) -> Ticker:
    market = _paper_market(symbol)
    book = _book_from_json(symbol, market.book)
    assert market.last_price is not None
    last = plain(market.last_price)
    bid = book.bids[0].price if book and book.bids else last
    ask = book.asks[0].price if book and book.asks else last
    timestamp = book.timestamp if book else utc_now()
    return Ticker(venue=VENUE, symbol=symbol, timestamp=timestamp, bid=bid, ask=ask, last=last, base_volume=Decimal(0))


def paper_book(*, symbol: str, depth: int) -> OrderBook:
    book = _book_from_json(symbol, _paper_market(symbol).book)
    if book is None:
        raise UnknownSymbol(f"paper venue has no order book for {symbol!r}: feed one first")
    return OrderBook(VENUE, symbol, book.timestamp, book.bids[:depth], book.asks[:depth])


def paper_trades(*, symbol: str, limit: int) -> list[PublicTrade]:
    rows = models.PaperFill.objects.using(ALIAS).filter(symbol=symbol).order_by("-id")[:limit]
    return [
        PublicTrade(
            venue=VENUE,
            symbol=row.symbol,
            trade_id=row.fill_id,
            timestamp=row.timestamp,
            side=OrderSide(row.side),
            price=plain(row.price),
            amount=plain(row.amount),
        )
        for row in reversed(rows)
    ]
