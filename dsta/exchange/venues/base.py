"""What every venue behind the exchange facade does: the paper venue and each ccxt venue alike."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

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
    VenueStatus,
)


class TradingVenue(Protocol):
    name: str

    def markets(self) -> list[Market]: ...

    def ticker(self, symbol: str) -> Ticker: ...

    def order_book(self, symbol: str, depth: int) -> OrderBook: ...

    def trades(self, symbol: str, limit: int) -> list[PublicTrade]: ...

    def ohlcv(self, symbol: str, timeframe: str, since: datetime | None, limit: int) -> list[OhlcvBar]: ...

    def balance(self) -> list[AssetBalance]: ...

    def submit(self, request: OrderRequest) -> OrderView:
        """Idempotent per `request.client_order_id`: a repeat returns the first order."""
        ...

    def order(self, client_order_id: str) -> OrderView: ...

    def cancel(self, client_order_id: str) -> OrderView: ...

    def open_orders(self, symbol: str | None) -> list[OrderView]: ...

    def fills(self, symbol: str | None, since: datetime | None, client_order_id: str | None) -> list[FillView]: ...

    def fills_sync(self, symbol: str) -> int:
        """Publish `exchange.fill` for the venue's fills not seen before; how many were new."""
        ...

    def status(self) -> VenueStatus: ...
