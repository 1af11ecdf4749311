"""Facade of the exchange domain: every exchange interaction of other domains goes through here."""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal

from dsta.exchange import selectors, services
from dsta.exchange.ccxt_venue import CcxtVenue
from dsta.exchange.contracts import (
    DEFAULT_COSTS,
    AssetBalance,
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
    Ticker,
    UnknownVenue,
    Venue,
    VenueHealth,
    VenueStatus,
)
from dsta.exchange.paper_engine import PaperConfig

_VENUES = (
    Venue(name="binance", ccxt_id="binance", display_name="Binance", paper=False),
    Venue(name="gateio", ccxt_id="gate", display_name="Gate.io", paper=False),
    Venue(name="htx", ccxt_id="htx", display_name="HTX (Huobi)", paper=False),
    Venue(name="paper", ccxt_id="", display_name="Paper exchange", paper=True),
)
_BY_NAME = {venue.name: venue for venue in _VENUES}
PAPER = "paper"

_clients: dict[str, CcxtVenue] = {}
_clients_lock = threading.Lock()


def _live(venue: str) -> CcxtVenue:
    if venue not in _BY_NAME or _BY_NAME[venue].paper:
        raise UnknownVenue(f"unknown live venue {venue!r}; expected one of {sorted(n for n in _BY_NAME if n != PAPER)}")
    with _clients_lock:
        client = _clients.get(venue)
        if client is None:
            client = _clients[venue] = CcxtVenue(_BY_NAME[venue])
        return client


def _is_paper(venue: str) -> bool:
    if venue not in _BY_NAME:
        raise UnknownVenue(f"unknown venue {venue!r}; expected one of {sorted(_BY_NAME)}")
    return venue == PAPER


def venues_list() -> list[Venue]:
    """The venues DSTA trades on, the paper venue included."""
    return list(_VENUES)


def clients_reset() -> None:
    """Forget the cached ccxt clients (after credentials or base URLs change; tests)."""
    with _clients_lock:
        _clients.clear()


def markets_list(*, venue: str) -> list[Market]:
    """Spot markets with their precision and limits (the paper venue takes any BASE/QUOTE symbol)."""
    if _is_paper(venue):
        return []
    return _live(venue).markets()


def ticker_get(*, venue: str, symbol: str) -> Ticker:
    if _is_paper(venue):
        return selectors.paper_ticker(symbol=symbol)
    return _live(venue).ticker(symbol)


def order_book_get(*, venue: str, symbol: str, depth: int = 20) -> OrderBook:
    if depth < 1:
        raise InvalidOrder("depth must be at least 1")
    if _is_paper(venue):
        return selectors.paper_book(symbol=symbol, depth=depth)
    return _live(venue).order_book(symbol, depth)


def trades_recent(*, venue: str, symbol: str, limit: int = 50) -> list[PublicTrade]:
    """The venue's latest public trades of a market, oldest first (the paper venue: its own fills)."""
    if _is_paper(venue):
        return selectors.paper_trades(symbol=symbol, limit=limit)
    return _live(venue).trades(symbol, limit)


def ohlcv_fetch(
    *, venue: str, symbol: str, timeframe: str, since: datetime | None = None, limit: int = 1000
) -> list[OhlcvBar]:
    """Candles from the venue, oldest first (the data domain's backfill and sync use this)."""
    if _is_paper(venue):
        raise UnknownVenue("the paper venue has no candle history; fetch from a live venue")
    return _live(venue).ohlcv(symbol, timeframe, since, limit)


def balance_get(*, venue: str) -> list[AssetBalance]:
    if _is_paper(venue):
        return selectors.paper_balances()
    return _live(venue).balance()


def order_submit(*, venue: str, request: OrderRequest) -> OrderView:
    """Place an order; `request.client_order_id` makes it idempotent (a repeat returns the first order)."""
    if not request.client_order_id:
        raise InvalidOrder("client_order_id is required")
    if _is_paper(venue):
        return services.paper_order_submit(request=request)
    return services.live_order_submit(venue=_live(venue), request=request)


def order_get(*, venue: str, client_order_id: str) -> OrderView:
    if _is_paper(venue):
        return selectors.paper_order(client_order_id=client_order_id)
    intent = services.live_intent(venue=venue, client_order_id=client_order_id)
    return _live(venue).get_order(client_order_id, intent.symbol)


def order_cancel(*, venue: str, client_order_id: str) -> OrderView:
    if _is_paper(venue):
        return services.paper_order_cancel(client_order_id=client_order_id)
    return services.live_order_cancel(venue=_live(venue), client_order_id=client_order_id)


def orders_cancel_batch(*, venue: str, client_order_ids: list[str]) -> list[OrderView]:
    """Cancel each order; one that is already final comes back unchanged."""
    return [order_cancel(venue=venue, client_order_id=client_order_id) for client_order_id in client_order_ids]


def orders_open_list(*, venue: str, symbol: str | None = None) -> list[OrderView]:
    if _is_paper(venue):
        return selectors.paper_open_orders(symbol=symbol)
    return _live(venue).open_orders(symbol)


def fills_list(
    *, venue: str, symbol: str | None = None, since: datetime | None = None, client_order_id: str | None = None
) -> list[FillView]:
    """The account's fills, oldest first; `client_order_id` narrows them to one order's (an indexed read on the
    paper venue, so confirming an order does not cost the account's whole history)."""
    if _is_paper(venue):
        return selectors.paper_fills(symbol=symbol, since=since, client_order_id=client_order_id)
    fills = _live(venue).fills(symbol, since)
    return fills if client_order_id is None else [fill for fill in fills if fill.client_order_id == client_order_id]


def fills_sync(*, venue: str, symbol: str) -> int:
    """Pull a live venue's new fills of `symbol` and publish `exchange.fill` once per fill; returns how many
    were new (the paper venue publishes its fills as it makes them, so 0)."""
    if _is_paper(venue):
        return 0
    return services.live_fills_sync(venue=_live(venue), symbol=symbol)


def venue_status(*, venue: str) -> VenueStatus:
    if _is_paper(venue):
        return VenueStatus(venue=venue, reachable=True, detail="simulated")
    return _live(venue).status()


def exchange_health() -> list[VenueHealth]:
    """Breaker state and rate-limit tokens of every live venue (shared across processes through Redis)."""
    return [_live(venue.name).health() for venue in _VENUES if not venue.paper]


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
