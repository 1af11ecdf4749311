"""Frozen dataclasses and errors that cross the exchange domain's boundary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


@dataclass(frozen=True)
class Venue:
    name: str  # our name, used in URLs and stored ids
    ccxt_id: str  # the ccxt exchange class that speaks its dialect
    display_name: str
    paper: bool  # True for the simulated venue used by dry-run trading


@dataclass(frozen=True)
class CostModel:
    """The one cost model of simulated fills, used by the backtest engine and the paper venue alike:
    `commission` is charged on the notional of every fill, `slippage` moves a market fill's price against
    the taker (buy at price x (1 + slippage), sell at price x (1 - slippage)); both are fractions."""

    commission: Decimal = Decimal("0.001")
    slippage: Decimal = Decimal("0")


DEFAULT_COSTS = CostModel()


class PaperMarketFill(StrEnum):
    """When a paper market order fills without a book: at once at the last price (the backtest's
    fill_at="close"), or at the next candle's open (fill_at="next_open")."""

    LAST_CLOSE = "last_close"
    NEXT_OPEN = "next_open"


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class OrderStatus(StrEnum):
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class Market:
    symbol: str  # unified, e.g. "BTC/USDT"
    base: str
    quote: str
    price_tick: Decimal
    amount_step: Decimal
    min_amount: Decimal
    min_notional: Decimal


@dataclass(frozen=True)
class Ticker:
    venue: str
    symbol: str
    timestamp: datetime
    bid: Decimal
    ask: Decimal
    last: Decimal
    base_volume: Decimal


@dataclass(frozen=True)
class PriceLevel:
    price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class OrderBook:
    venue: str
    symbol: str
    timestamp: datetime
    bids: tuple[PriceLevel, ...]  # best (highest) first
    asks: tuple[PriceLevel, ...]  # best (lowest) first


@dataclass(frozen=True)
class OhlcvBar:
    open_time: datetime  # UTC
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True)
class PublicTrade:
    venue: str
    symbol: str
    trade_id: str
    timestamp: datetime
    side: OrderSide  # the taker's side
    price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class AssetBalance:
    asset: str
    free: Decimal
    used: Decimal
    total: Decimal


@dataclass(frozen=True)
class OrderRequest:
    symbol: str
    side: OrderSide
    order_type: OrderType
    amount: Decimal
    client_order_id: str  # idempotency key: a retried submit with the same id never opens a second order
    price: Decimal | None = None  # required for limit orders


@dataclass(frozen=True)
class OrderView:
    venue: str
    exchange_order_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    status: OrderStatus
    amount: Decimal
    filled: Decimal
    remaining: Decimal
    price: Decimal | None
    average_price: Decimal | None
    fee: Decimal
    fee_asset: str
    created_at: datetime
    updated_at: datetime
    # Fills that came with this answer (a venue that fills at once can say so without a second call). They are
    # all of the order's fills only when their amounts add up to `filled`; otherwise ask `fills_list`.
    fills: tuple[FillView, ...] = ()

    @property
    def fills_complete(self) -> bool:
        return sum((fill.amount for fill in self.fills), Decimal(0)) == self.filled


@dataclass(frozen=True)
class SubmitOutcome:
    """One order of `orders_submit`: the venue's answer, or, when the venue refused that order on its merits
    (a business error), the refusal's message; the batch's other orders stand."""

    client_order_id: str
    view: OrderView | None
    refusal: str = ""


@dataclass(frozen=True)
class FillView:
    venue: str
    fill_id: str
    exchange_order_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_asset: str
    is_maker: bool
    timestamp: datetime


@dataclass(frozen=True)
class VenueHealth:
    venue: str
    breaker_state: BreakerState
    consecutive_failures: int
    last_error: str
    rate_limit_tokens_left: Decimal


@dataclass(frozen=True)
class VenueStatus:
    venue: str
    reachable: bool
    detail: str


# Errors. The facade raises only these; ccxt's exceptions are translated at the adapter.


class ExchangeError(Exception):
    """Base of every error the exchange facade raises."""


class BusinessError(ExchangeError):
    """The venue refused the request on its merits; retrying the same request cannot help."""


class InsufficientFunds(BusinessError):
    pass


class InvalidOrder(BusinessError):
    pass


class OrderNotFound(BusinessError):
    pass


class UnknownVenue(BusinessError):
    pass


class UnknownSymbol(BusinessError):
    pass


class AuthenticationFailed(BusinessError):
    pass


class TransientError(ExchangeError):
    """The venue could not answer now (throttled, down, slow, garbled); the same request may succeed later."""


class RateLimited(TransientError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ExchangeUnavailable(TransientError):
    pass


class CircuitOpen(ExchangeUnavailable):
    """Calls to this venue are refused locally until the breaker lets a probe through."""


# What callers see when the exchange runs as its own service and cannot be reached (dsta.kernel.rpc): the
# transient error they already handle (an order stays `submitted` and is resumed under its client_order_id).
REMOTE_UNAVAILABLE_ERROR = ExchangeUnavailable
