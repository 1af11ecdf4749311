"""Live venues through ccxt: building the client (credentials from core, base URL from settings), calling it
through our rate limiter, retries and breaker, and normalising its answers and errors into our contracts."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from django.conf import settings

from dsta.core import api as core
from dsta.exchange import contracts as c
from dsta.exchange.resilience import (
    BreakerPolicy,
    CircuitBreaker,
    Limits,
    RateLimiter,
    RetryPolicy,
    call_resiliently,
)
from dsta.kernel.clock import from_epoch_ms, to_epoch_ms, utc_now

if TYPE_CHECKING:
    import ccxt

T = TypeVar("T")

# Spot only: without this ccxt's load_markets also asks for futures/options markets.
_CCXT_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False},
    "gate": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "unifiedAccount": False},
    "htx": {"fetchMarkets": {"types": {"spot": True, "linear": False, "inverse": False}}, "fetchCurrencies": False},
}

# Venues that accept only some book depths: ask for the smallest allowed one that covers the request.
_BOOK_DEPTHS: dict[str, tuple[int, ...]] = {"htx": (5, 10, 20, 150)}

_STATUS = {
    "open": c.OrderStatus.OPEN,
    "closed": c.OrderStatus.FILLED,
    "canceled": c.OrderStatus.CANCELLED,
    "cancelled": c.OrderStatus.CANCELLED,
    "rejected": c.OrderStatus.REJECTED,
    "expired": c.OrderStatus.EXPIRED,
}


def base_url_for(venue: str) -> str | None:
    """Configured override of a venue's REST host (e.g. a local fake in tests), or None for the real one."""
    configured: dict[str, str] = getattr(settings, "DSTA_EXCHANGE_URLS", {})
    return os.environ.get(f"DSTA_EXCHANGE_{venue.upper()}_URL") or configured.get(venue) or None


def _rewrite_urls(value: Any, base: str) -> Any:
    if isinstance(value, dict):
        return {key: _rewrite_urls(item, base) for key, item in value.items()}
    if isinstance(value, str) and value.startswith("http"):
        parts = urlsplit(value)
        return base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
    return value


def dec(value: Any, default: Decimal | None = None) -> Decimal:
    if value is None or value == "":
        if default is None:
            raise c.ExchangeUnavailable("malformed response: a required number is missing")
        return default
    return Decimal(str(value))


def opt_dec(value: Any) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def translate(error: Exception, client: ccxt.Exchange | None = None) -> c.ExchangeError:
    """ccxt's exception hierarchy onto ours; order matters (subclasses first)."""
    import ccxt

    if isinstance(error, c.ExchangeError):
        return error
    message = str(error)[:500]
    if isinstance(error, ccxt.InsufficientFunds):
        return c.InsufficientFunds(message)
    if isinstance(error, ccxt.OrderNotFound):
        return c.OrderNotFound(message)
    if isinstance(error, ccxt.BadSymbol):
        return c.UnknownSymbol(message)
    if isinstance(error, ccxt.InvalidOrder | ccxt.BadRequest | ccxt.ArgumentsRequired):
        return c.InvalidOrder(message)
    if isinstance(error, ccxt.AuthenticationError):
        return c.AuthenticationFailed(message)
    if isinstance(error, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        return c.RateLimited(message, retry_after=_retry_after(client))
    if isinstance(error, ccxt.OperationFailed):  # network errors, timeouts, 5xx, bad or empty responses
        return c.ExchangeUnavailable(message)
    if isinstance(error, ccxt.BaseError):
        return c.ExchangeError(message)
    # ccxt's parsers fail with these on a garbled body (e.g. malformed JSON handed on as text)
    return c.ExchangeUnavailable(f"malformed response: {type(error).__name__}: {message}")


def _retry_after(client: ccxt.Exchange | None) -> float | None:
    headers = getattr(client, "last_response_headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _our_client_id(venue_client_id: str) -> str:
    # Gate.io prefixes user order ids with "t-"
    return venue_client_id.removeprefix("t-")


class CcxtVenue:
    """One live venue. Thread-safe enough for Django's threads: ccxt calls are serialised per instance."""

    def __init__(self, venue: c.Venue, *, sleep: Callable[[float], None] | None = None) -> None:
        self.venue = venue
        self.name = venue.name
        import ccxt  # 4-5 s to import: loaded by the first live venue, not by every process at start

        exchange_class = getattr(ccxt, venue.ccxt_id)
        config: dict[str, Any] = {
            "enableRateLimit": True,  # ccxt computes each call's weight; our shared bucket does the waiting
            "timeout": int(getattr(settings, "DSTA_EXCHANGE_TIMEOUT_MS", 10_000)),
            "options": dict(_CCXT_OPTIONS.get(venue.ccxt_id, {})),
        }
        for field, key in (("apiKey", "api_key"), ("secret", "secret"), ("password", "password")):
            value = core.secret_get(key=f"exchange/{venue.name}/{key}")
            if value:
                config[field] = value
        self.client: ccxt.Exchange = exchange_class(config)
        base = base_url_for(venue.name)
        if base:
            self.client.urls["api"] = _rewrite_urls(self.client.urls["api"], base)
            self.client.hostname = urlsplit(base).netloc
        self.limiter = RateLimiter(
            venue.name,
            Limits(
                capacity=float(getattr(settings, "DSTA_EXCHANGE_BURST", 50)),
                refill_per_second=1000.0 / float(self.client.rateLimit),
            ),
            **({"sleep": sleep} if sleep else {}),
        )
        self.client.throttle = self._throttle
        self.breaker = CircuitBreaker(venue.name, BreakerPolicy(**getattr(settings, "DSTA_EXCHANGE_BREAKER", {})))
        self.retry = RetryPolicy(**getattr(settings, "DSTA_EXCHANGE_RETRY", {}))
        self.sleep = sleep
        self._lock = threading.RLock()
        self._markets_loaded = False
        self._buys_by_cost = venue.ccxt_id in ("gate", "htx")

    def _throttle(self, cost: float | None = None) -> None:
        self.limiter.acquire(float(cost or 1))

    # -- plumbing ---------------------------------------------------------------------------------------

    def _call(
        self, operation: Callable[[ccxt.Exchange], T], *, before_retry: Callable[[], T | None] | None = None
    ) -> T:
        def attempt() -> T:
            with self._lock:
                try:
                    return operation(self.client)
                except Exception as error:  # noqa: BLE001  (every failure leaves as one of our errors)
                    raise translate(error, self.client) from error

        extra: dict[str, Any] = {"sleep": self.sleep} if self.sleep else {}
        return call_resiliently(attempt, breaker=self.breaker, policy=self.retry, before_retry=before_retry, **extra)

    def _ensure_markets(self) -> None:
        if not self._markets_loaded:
            self._call(lambda client: client.load_markets())
            self._markets_loaded = True

    def _market_symbol(self, symbol: str) -> str:
        self._ensure_markets()
        if symbol not in self.client.markets:
            raise c.UnknownSymbol(f"{self.name} has no market {symbol!r}")
        return symbol

    # -- market data ------------------------------------------------------------------------------------

    def markets(self) -> list[c.Market]:
        self._ensure_markets()
        result = []
        for market in self.client.markets.values():
            if not market.get("spot"):
                continue
            precision, limits = market.get("precision") or {}, market.get("limits") or {}
            result.append(
                c.Market(
                    symbol=market["symbol"],
                    base=market["base"],
                    quote=market["quote"],
                    price_tick=dec(precision.get("price"), Decimal(0)),
                    amount_step=dec(precision.get("amount"), Decimal(0)),
                    min_amount=dec((limits.get("amount") or {}).get("min"), Decimal(0)),
                    min_notional=dec((limits.get("cost") or {}).get("min"), Decimal(0)),
                )
            )
        return sorted(result, key=lambda market: market.symbol)

    def ticker(self, symbol: str) -> c.Ticker:
        symbol = self._market_symbol(symbol)

        def fetch(client: ccxt.Exchange) -> c.Ticker:
            raw = client.fetch_ticker(symbol)
            return c.Ticker(
                venue=self.name,
                symbol=symbol,
                timestamp=from_epoch_ms(raw["timestamp"]) if raw.get("timestamp") else utc_now(),
                bid=dec(raw.get("bid")),
                ask=dec(raw.get("ask")),
                last=dec(raw.get("last")),
                base_volume=dec(raw.get("baseVolume"), Decimal(0)),
            )

        return self._call(fetch)

    def order_book(self, symbol: str, depth: int) -> c.OrderBook:
        symbol = self._market_symbol(symbol)
        allowed = _BOOK_DEPTHS.get(self.venue.ccxt_id)
        limit = next((size for size in allowed if size >= depth), None) if allowed else depth

        def fetch(client: ccxt.Exchange) -> c.OrderBook:
            raw = client.fetch_order_book(symbol, limit)
            return c.OrderBook(
                venue=self.name,
                symbol=symbol,
                timestamp=from_epoch_ms(raw["timestamp"]) if raw.get("timestamp") else utc_now(),
                bids=tuple(c.PriceLevel(dec(price), dec(amount)) for price, amount, *_ in raw["bids"][:depth]),
                asks=tuple(c.PriceLevel(dec(price), dec(amount)) for price, amount, *_ in raw["asks"][:depth]),
            )

        return self._call(fetch)

    def ohlcv(self, symbol: str, timeframe: str, since: datetime | None, limit: int) -> list[c.OhlcvBar]:
        symbol = self._market_symbol(symbol)
        since_ms = to_epoch_ms(since) if since else None

        def fetch(client: ccxt.Exchange) -> list[c.OhlcvBar]:
            rows = client.fetch_ohlcv(symbol, timeframe, since_ms, limit)
            return [
                c.OhlcvBar(from_epoch_ms(row[0]), dec(row[1]), dec(row[2]), dec(row[3]), dec(row[4]), dec(row[5]))
                for row in rows
            ]

        return self._call(fetch)

    def trades(self, symbol: str, limit: int) -> list[c.PublicTrade]:
        symbol = self._market_symbol(symbol)

        def fetch(client: ccxt.Exchange) -> list[c.PublicTrade]:
            rows = client.fetch_trades(symbol, None, limit)
            return [
                c.PublicTrade(
                    venue=self.name,
                    symbol=symbol,
                    trade_id=str(row.get("id") or ""),
                    timestamp=from_epoch_ms(row["timestamp"]),
                    side=c.OrderSide(row["side"]),
                    price=dec(row.get("price")),
                    amount=dec(row.get("amount")),
                )
                for row in rows
            ]

        return self._call(fetch)

    def balance(self) -> list[c.AssetBalance]:
        def fetch(client: ccxt.Exchange) -> list[c.AssetBalance]:
            raw = client.fetch_balance()
            result = []
            for asset, totals in sorted(raw.items()):
                if asset in ("free", "used", "total", "info") or not isinstance(totals, dict):
                    continue
                free, used = dec(totals.get("free"), Decimal(0)), dec(totals.get("used"), Decimal(0))
                result.append(c.AssetBalance(asset=asset, free=free, used=used, total=free + used))
            return result

        return self._call(fetch)

    def status(self) -> c.VenueStatus:
        try:
            self._call(lambda client: client.fetch_time())
        except c.ExchangeError as error:
            return c.VenueStatus(venue=self.name, reachable=False, detail=str(error))
        return c.VenueStatus(venue=self.name, reachable=True, detail="ok")

    # -- orders -----------------------------------------------------------------------------------------

    def order_view(self, raw: dict[str, Any], *, client_order_id: str | None = None) -> c.OrderView:
        amount = dec(raw.get("amount"), Decimal(0))
        filled = dec(raw.get("filled"), Decimal(0))
        status = _STATUS.get(raw.get("status") or "open", c.OrderStatus.OPEN)
        if status is c.OrderStatus.OPEN and filled > 0:
            status = c.OrderStatus.PARTIALLY_FILLED
        fee = raw.get("fee") or {}
        created = from_epoch_ms(raw["timestamp"]) if raw.get("timestamp") else utc_now()
        updated_ms = raw.get("lastUpdateTimestamp") or raw.get("lastTradeTimestamp")
        return c.OrderView(
            venue=self.name,
            exchange_order_id=str(raw.get("id") or ""),
            client_order_id=client_order_id or _our_client_id(raw.get("clientOrderId") or ""),
            symbol=raw.get("symbol") or "",
            side=c.OrderSide(raw.get("side") or "buy"),
            order_type=c.OrderType(raw.get("type") or "limit"),
            status=status,
            amount=amount,
            filled=filled,
            remaining=dec(raw.get("remaining"), amount - filled),
            price=opt_dec(raw.get("price")),
            average_price=opt_dec(raw.get("average")),
            fee=dec(fee.get("cost"), Decimal(0)),
            fee_asset=fee.get("currency") or "",
            created_at=created,
            updated_at=from_epoch_ms(updated_ms) if updated_ms else created,
        )

    def find_order(self, client_order_id: str, symbol: str) -> c.OrderView | None:
        """The order with this client id on the venue, or None: how a retried create learns the first one landed."""
        try:
            raw = self._call_once(lambda client: client.fetch_order(None, symbol, {"clientOrderId": client_order_id}))
        except c.OrderNotFound:
            return None
        return self.order_view(raw, client_order_id=client_order_id)

    def _call_once(self, operation: Callable[[ccxt.Exchange], T]) -> T:
        with self._lock:
            try:
                return operation(self.client)
            except Exception as error:  # noqa: BLE001
                raise translate(error, self.client) from error

    def create_order(self, request: c.OrderRequest) -> c.OrderView:
        symbol = self._market_symbol(request.symbol)
        price = str(request.price) if request.price is not None else None
        params = {"clientOrderId": request.client_order_id}
        if request.order_type is c.OrderType.MARKET and request.side is c.OrderSide.BUY and self._buys_by_cost:
            # Gate.io and HTX size a market buy in quote; ccxt derives that cost from amount x price, so the
            # base amount asked for is priced at the current ask (the venue then fills what that cost buys)
            price = str(self.ticker(symbol).ask)

        def create(client: ccxt.Exchange) -> dict[str, Any]:
            # ccxt rounds amount and price to the market's precision from their exact string form
            result: dict[str, Any] = client.create_order(
                symbol, request.order_type.value, request.side.value, str(request.amount), price, params
            )
            if not result.get("id"):  # an answer without the order: unknown outcome, so look it up and retry
                raise c.ExchangeUnavailable(f"{self.name}: create order answer carries no order id")
            return result

        def already_there() -> dict[str, Any] | None:
            found = self.find_order(request.client_order_id, symbol)
            return None if found is None else {"view": found}

        raw = self._call(create, before_retry=already_there)
        if "view" in raw:
            view: c.OrderView = raw["view"]
            return view
        view = self.order_view(raw, client_order_id=request.client_order_id)
        if not view.symbol:
            view = self.get_order(request.client_order_id, symbol)
        return view

    def get_order(self, client_order_id: str, symbol: str) -> c.OrderView:
        symbol = self._market_symbol(symbol)
        raw = self._call(lambda client: client.fetch_order(None, symbol, {"clientOrderId": client_order_id}))
        return self.order_view(raw, client_order_id=client_order_id)

    def cancel_order(self, client_order_id: str, symbol: str, exchange_order_id: str) -> c.OrderView:
        symbol = self._market_symbol(symbol)
        self._call(lambda client: client.cancel_order(exchange_order_id, symbol))
        return self.get_order(client_order_id, symbol)

    def open_orders(self, symbol: str | None) -> list[c.OrderView]:
        if symbol is not None:
            symbol = self._market_symbol(symbol)
        rows = self._call(lambda client: client.fetch_open_orders(symbol))
        return [self.order_view(row) for row in rows]

    def fills(self, symbol: str | None, since: datetime | None) -> list[c.FillView]:
        if symbol is not None:
            symbol = self._market_symbol(symbol)
        since_ms = to_epoch_ms(since) if since else None
        rows = self._call(lambda client: client.fetch_my_trades(symbol, since_ms))
        return [
            c.FillView(
                venue=self.name,
                fill_id=str(row.get("id")),
                exchange_order_id=str(row.get("order") or ""),
                client_order_id=str((row.get("info") or {}).get("clientOrderId") or ""),
                symbol=row["symbol"],
                side=c.OrderSide(row["side"]),
                price=dec(row.get("price")),
                amount=dec(row.get("amount")),
                fee=dec((row.get("fee") or {}).get("cost"), Decimal(0)),
                fee_asset=(row.get("fee") or {}).get("currency") or "",
                is_maker=row.get("takerOrMaker") == "maker",
                timestamp=from_epoch_ms(row["timestamp"]),
            )
            for row in rows
        ]

    def health(self) -> c.VenueHealth:
        return self.breaker.health(self.limiter.tokens_left())
