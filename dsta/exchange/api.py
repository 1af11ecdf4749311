"""Facade of the exchange domain: every exchange interaction of other domains goes through here."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from dsta.exchange import services, venues
from dsta.exchange.contracts import (
    DEFAULT_COSTS,
    AssetBalance,
    BusinessError,
    CostModel,
    FillView,
    InvalidOrder,
    Market,
    OhlcvBar,
    OrderBook,
    OrderRequest,
    OrderView,
    PaperMarketFill,
    PublicTrade,
    SubmitOutcome,
    Ticker,
    Venue,
    VenueHealth,
    VenueStatus,
)
from dsta.exchange.paper_engine import PaperConfig


def venues_list() -> list[Venue]:
    """The venues DSTA trades on, the paper venue included."""
    return list(venues.VENUES)


def clients_reset() -> None:
    """Forget the cached ccxt clients (after credentials or base URLs change; tests)."""
    venues.live_venues_forget()


def markets_list(*, venue: str) -> list[Market]:
    """Spot markets with their precision and limits (the paper venue takes any BASE/QUOTE symbol)."""
    return venues.venue_for(venue).markets()


def ticker_get(*, venue: str, symbol: str) -> Ticker:
    return venues.venue_for(venue).ticker(symbol)


def order_book_get(*, venue: str, symbol: str, depth: int = 20) -> OrderBook:
    if depth < 1:
        raise InvalidOrder("depth must be at least 1")
    return venues.venue_for(venue).order_book(symbol, depth)


def trades_recent(*, venue: str, symbol: str, limit: int = 50) -> list[PublicTrade]:
    """The venue's latest public trades of a market, oldest first (the paper venue: its own fills)."""
    return venues.venue_for(venue).trades(symbol, limit)


def ohlcv_fetch(
    *, venue: str, symbol: str, timeframe: str, since: datetime | None = None, limit: int = 1000
) -> list[OhlcvBar]:
    """Candles from the venue, oldest first (the data domain's backfill and sync use this)."""
    return venues.venue_for(venue).ohlcv(symbol, timeframe, since, limit)


def balance_get(*, venue: str) -> list[AssetBalance]:
    return venues.venue_for(venue).balance()


def order_submit(*, venue: str, request: OrderRequest, paper_book: OrderBook | None = None) -> OrderView:
    """Place an order; `request.client_order_id` makes it idempotent (a repeat returns the first order).

    `paper_book` (the paper venue only): the book to trade against, fed to the venue in the same operation as
    the order, as `paper_book_feed` then `order_submit` would (resting orders of the symbol match it first), in
    one transaction instead of two. A live venue refuses it: its book is the market's."""
    if not request.client_order_id:
        raise InvalidOrder("client_order_id is required")
    if paper_book is None:
        return venues.venue_for(venue).submit(request)
    if venue != venues.PAPER_VENUE or paper_book.symbol != request.symbol:
        raise InvalidOrder("paper_book is the paper venue's input, for the order's own symbol")
    return services.paper_order_submit(request=request, book=paper_book)


def orders_submit(
    *, venue: str, requests: list[OrderRequest], paper_books: list[OrderBook | None] | None = None
) -> list[SubmitOutcome]:
    """Place several orders (each as `order_submit` would), answered in the given order: an order the venue
    refuses on its merits (a business error) is answered with the refusal's message and the others stand. The
    paper venue takes them in one operation (one transaction, `paper_books` fed as in `order_submit`); a live
    venue in turn. A transient error fails the call: orders it had placed are found again by their
    client_order_id (a repeat returns the first order)."""
    books = paper_books if paper_books is not None else [None] * len(requests)
    if len(books) != len(requests):
        raise InvalidOrder("paper_books: one book (or None) per request")
    if any(not request.client_order_id for request in requests):
        raise InvalidOrder("client_order_id is required")
    if venue == venues.PAPER_VENUE:
        pairs = zip(requests, books, strict=True)
        if any(book is not None and book.symbol != request.symbol for request, book in pairs):
            raise InvalidOrder("paper_book is the paper venue's input, for the order's own symbol")
        return services.paper_orders_submit(requests=requests, books=books) if requests else []
    if any(book is not None for book in books):
        raise InvalidOrder("paper_book is the paper venue's input, for the order's own symbol")
    chosen = venues.venue_for(venue)
    outcomes = []
    for request in requests:
        try:
            outcomes.append(SubmitOutcome(request.client_order_id, chosen.submit(request)))
        except BusinessError as refusal:
            outcomes.append(SubmitOutcome(request.client_order_id, None, str(refusal)))
    return outcomes


def order_get(*, venue: str, client_order_id: str) -> OrderView:
    return venues.venue_for(venue).order(client_order_id)


def order_cancel(*, venue: str, client_order_id: str) -> OrderView:
    return venues.venue_for(venue).cancel(client_order_id)


def orders_cancel_batch(*, venue: str, client_order_ids: list[str]) -> list[OrderView]:
    """Cancel each order; one that is already final comes back unchanged."""
    chosen = venues.venue_for(venue)
    return [chosen.cancel(client_order_id) for client_order_id in client_order_ids]


def orders_open_list(*, venue: str, symbol: str | None = None) -> list[OrderView]:
    return venues.venue_for(venue).open_orders(symbol)


def fills_list(
    *, venue: str, symbol: str | None = None, since: datetime | None = None, client_order_id: str | None = None
) -> list[FillView]:
    """The account's fills, oldest first; `client_order_id` narrows them to one order's."""
    return venues.venue_for(venue).fills(symbol, since, client_order_id)


def fills_sync(*, venue: str, symbol: str) -> int:
    """Pull a venue's new fills of `symbol` and publish `exchange.fill` once per fill; returns how many were new
    (the paper venue publishes its fills as it makes them, so 0)."""
    return venues.venue_for(venue).fills_sync(symbol)


def venue_status(*, venue: str) -> VenueStatus:
    return venues.venue_for(venue).status()


def exchange_health() -> list[VenueHealth]:
    """Breaker state and rate-limit tokens of every live venue (shared across processes through Redis)."""
    return [venues.live_venue_for(venue.name).health() for venue in venues.VENUES if not venue.paper]


# -- paper venue (dry runs, tests) ------------------------------------------------------------------------


def paper_price_feed(*, symbol: str, bar: OhlcvBar) -> None:
    """Drive the paper venue with a closed candle: waiting market orders and crossed limit orders fill."""
    services.paper_bar_feed(symbol=symbol, bar=bar)


def paper_book_feed(*, book: OrderBook) -> None:
    """Drive the paper venue with an order book: market orders walk it, crossed limit orders fill."""
    services.paper_book_feed(book=book)


def paper_deposit(*, asset: str, amount: Decimal) -> None:
    services.paper_deposit(asset=asset, amount=amount)


def paper_reset(
    *,
    maker_fee: Decimal = DEFAULT_COSTS.commission,
    taker_fee: Decimal = DEFAULT_COSTS.commission,
    slippage_bps: Decimal = DEFAULT_COSTS.slippage * 10_000,
    slippage_jitter_bps: Decimal = Decimal("0"),
    participation: Decimal = Decimal("0.1"),
    seed: int = 0,
    market_fill: PaperMarketFill = PaperMarketFill.LAST_CLOSE,
) -> None:
    """Empty the paper venue and set its fill model; deterministic for a given seed and input sequence. The
    defaults are the backtest's cost model (DEFAULT_COSTS) and its fill_at="close"."""
    services.paper_reset(
        config=PaperConfig(
            maker_fee=maker_fee,
            taker_fee=taker_fee,
            slippage_bps=slippage_bps,
            slippage_jitter_bps=slippage_jitter_bps,
            participation=participation,
            seed=seed,
            market_fill=PaperMarketFill(market_fill),
        )
    )


def paper_costs_set(*, costs: CostModel) -> None:
    """Give the paper venue a backtest's cost model (commission as maker and taker fee, slippage in bps, no
    jitter) without touching its balances, orders or prices."""
    services.paper_costs_set(
        maker_fee=costs.commission, taker_fee=costs.commission, slippage_bps=costs.slippage * 10_000
    )
