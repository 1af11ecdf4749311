"""The paper venue: DSTA's own matching engine (paper_engine.py) on its stored book (paper_store.py)."""

from __future__ import annotations

from datetime import datetime

from dsta.exchange import selectors, services
from dsta.exchange.contracts import (
    AssetBalance,
    FillView,
    Market,
    OhlcvBar,
    OrderBook,
    OrderRequest,
    OrderView,
    PublicTrade,
    Ticker,
    UnknownVenue,
    VenueStatus,
)


class PaperVenue:
    name = "paper"

    def markets(self) -> list[Market]:
        return []  # any BASE/QUOTE symbol trades

    def ticker(self, symbol: str) -> Ticker:
        return selectors.paper_ticker(symbol=symbol)

    def order_book(self, symbol: str, depth: int) -> OrderBook:
        return selectors.paper_book(symbol=symbol, depth=depth)

    def trades(self, symbol: str, limit: int) -> list[PublicTrade]:
        return selectors.paper_trades(symbol=symbol, limit=limit)  # its own fills

    def ohlcv(self, symbol: str, timeframe: str, since: datetime | None, limit: int) -> list[OhlcvBar]:
        raise UnknownVenue("the paper venue has no candle history; fetch from a live venue")

    def balance(self) -> list[AssetBalance]:
        return selectors.paper_balances()

    def submit(self, request: OrderRequest) -> OrderView:
        return services.paper_order_submit(request=request)

    def order(self, client_order_id: str) -> OrderView:
        return selectors.paper_order(client_order_id=client_order_id)

    def cancel(self, client_order_id: str) -> OrderView:
        return services.paper_order_cancel(client_order_id=client_order_id)

    def open_orders(self, symbol: str | None) -> list[OrderView]:
        return selectors.paper_open_orders(symbol=symbol)

    def fills(self, symbol: str | None, since: datetime | None, client_order_id: str | None) -> list[FillView]:
        # An indexed read by client order id, so confirming one order does not cost the account's history.
        return selectors.paper_fills(symbol=symbol, since=since, client_order_id=client_order_id)

    def fills_sync(self, symbol: str) -> int:
        return 0  # it publishes its fills as it makes them

    def status(self) -> VenueStatus:
        return VenueStatus(venue=self.name, reachable=True, detail="simulated")
