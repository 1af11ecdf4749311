"""A live venue: ccxt's REST client (rate limit, retries, breaker: ccxt_venue.py) plus DSTA's record of the
orders it placed there (order intents, fills seen), which make submits idempotent and fills exactly-once."""

from __future__ import annotations

from datetime import datetime

from dsta.exchange import services
from dsta.exchange.ccxt_venue import CcxtVenue
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
    VenueHealth,
    VenueStatus,
)


class LiveVenue:
    def __init__(self, client: CcxtVenue) -> None:
        self.client = client
        self.name = client.name

    def markets(self) -> list[Market]:
        return self.client.markets()

    def ticker(self, symbol: str) -> Ticker:
        return self.client.ticker(symbol)

    def order_book(self, symbol: str, depth: int) -> OrderBook:
        return self.client.order_book(symbol, depth)

    def trades(self, symbol: str, limit: int) -> list[PublicTrade]:
        return self.client.trades(symbol, limit)

    def ohlcv(self, symbol: str, timeframe: str, since: datetime | None, limit: int) -> list[OhlcvBar]:
        return self.client.ohlcv(symbol, timeframe, since, limit)

    def balance(self) -> list[AssetBalance]:
        return self.client.balance()

    def submit(self, request: OrderRequest) -> OrderView:
        return services.live_order_submit(venue=self.client, request=request)

    def order(self, client_order_id: str) -> OrderView:
        intent = services.live_intent(venue=self.name, client_order_id=client_order_id)
        return self.client.get_order(client_order_id, intent.symbol)

    def cancel(self, client_order_id: str) -> OrderView:
        return services.live_order_cancel(venue=self.client, client_order_id=client_order_id)

    def open_orders(self, symbol: str | None) -> list[OrderView]:
        return self.client.open_orders(symbol)

    def fills(self, symbol: str | None, since: datetime | None, client_order_id: str | None) -> list[FillView]:
        fills = self.client.fills(symbol, since)
        return fills if client_order_id is None else [fill for fill in fills if fill.client_order_id == client_order_id]

    def fills_sync(self, symbol: str) -> int:
        return services.live_fills_sync(venue=self.client, symbol=symbol)

    def status(self) -> VenueStatus:
        return self.client.status()

    def health(self) -> VenueHealth:
        return self.client.health()
