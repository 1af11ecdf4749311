"""The paper exchange's matching core: pure Python state, no I/O, deterministic under a seed.

`services.paper_*` loads this state from the exchange schema, applies one operation and writes back what the
engine marked dirty, so the venue survives a restart; the benchmark drives the core directly.

Fill model (documented in README):
- market order: walks the last order book fed for its symbol (taker fee); without a book it fills at once at
  the last price (the last candle's close: the backtest's fill_at="close"), or, with `market_fill` next_open
  or before any price is known, waits for the next candle and fills at its open. A deterministic slippage
  (base bps plus a seeded jitter drawn from the seed and the client order id) moves the price against the
  taker. The defaults are the backtest's cost model (exchange.contracts.DEFAULT_COSTS), jitter 0.
- limit order: a marketable part fills at once against the book as taker (up to the limit price), or without
  a book, when the last price crosses it, entirely at the last price (taker, unslipped as limits); the rest
  rests and fills at its limit price as maker when a later book or candle crosses it (a candle's low/high
  crossing strictly; at most `participation` of the candle's volume per candle, so big orders fill partially).
- fees are charged in the quote asset; a buy reserves quote (price x amount plus fee), a sell reserves base.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from dsta.exchange.contracts import (
    DEFAULT_COSTS,
    InsufficientFunds,
    InvalidOrder,
    OhlcvBar,
    OrderBook,
    OrderNotFound,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    PaperMarketFill,
    PriceLevel,
)

ZERO = Decimal(0)
MARKET_BUY_RESERVE_BUFFER = Decimal("1.05")  # a waiting market buy reserves 5% above the last price


@dataclass(frozen=True)
class PaperConfig:
    maker_fee: Decimal = DEFAULT_COSTS.commission
    taker_fee: Decimal = DEFAULT_COSTS.commission
    slippage_bps: Decimal = DEFAULT_COSTS.slippage * 10_000  # fixed part, against the taker
    slippage_jitter_bps: Decimal = Decimal("0")  # seeded random part in [0, jitter)
    participation: Decimal = Decimal("0.1")  # share of a candle's volume a resting order can take
    seed: int = 0
    market_fill: PaperMarketFill = PaperMarketFill.LAST_CLOSE


@dataclass
class Balance:
    asset: str
    free: Decimal = ZERO
    used: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.free + self.used


@dataclass
class PaperOrder:
    order_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    amount: Decimal
    price: Decimal | None
    created_at: datetime
    updated_at: datetime
    status: OrderStatus = OrderStatus.OPEN
    filled: Decimal = ZERO
    cost: Decimal = ZERO  # quote spent/received on fills so far
    fee: Decimal = ZERO
    reserved: Decimal = ZERO  # still locked in `used` for this order (quote for buys, base for sells)

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    @property
    def average_price(self) -> Decimal | None:
        return self.cost / self.filled if self.filled else None

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/")[1]


@dataclass(frozen=True)
class PaperFill:
    fill_id: str
    order_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_asset: str
    is_maker: bool
    timestamp: datetime


@dataclass
class MarketState:
    book: OrderBook | None = None
    last_price: Decimal | None = None
    last_bar_time: datetime | None = None  # open time of the newest candle fed


@dataclass
class Changes:
    """What one operation touched, for the service to persist and publish."""

    orders: dict[str, PaperOrder] = field(default_factory=dict)
    fills: list[PaperFill] = field(default_factory=list)
    balances: set[str] = field(default_factory=set)


class PaperEngine:
    def __init__(self, config: PaperConfig | None = None, *, next_sequence: int = 1) -> None:
        self.config = config or PaperConfig()
        self.balances: dict[str, Balance] = {}
        self.orders: dict[str, PaperOrder] = {}  # by client order id, final ones included while loaded
        self.open_by_symbol: dict[str, dict[str, PaperOrder]] = {}
        self.markets: dict[str, MarketState] = {}
        self.sequence = next_sequence  # order and fill ids; persisted so ids never repeat after a restart
        self.changes = Changes()

    # -- state loading (used by the service after a restart) --------------------------------------------

    def load_order(self, order: PaperOrder) -> None:
        self.orders[order.client_order_id] = order
        if not order.status.is_final:
            self.open_by_symbol.setdefault(order.symbol, {})[order.client_order_id] = order

    def take_changes(self) -> Changes:
        changes, self.changes = self.changes, Changes()
        return changes

    # -- balances ------------------------------------------------------------------------------------------

    def balance(self, asset: str) -> Balance:
        found = self.balances.get(asset)
        if found is None:
            found = self.balances[asset] = Balance(asset)
        return found

    def deposit(self, asset: str, amount: Decimal) -> None:
        if amount <= 0:
            raise InvalidOrder("deposit amount must be positive")
        self.balance(asset).free += amount
        self.changes.balances.add(asset)

    def _reserve(self, order: PaperOrder, amount: Decimal) -> None:
        asset = order.quote if order.side is OrderSide.BUY else order.base
        balance = self.balance(asset)
        if balance.free < amount:
            raise InsufficientFunds(f"{asset}: need {amount}, free {balance.free}")
        balance.free -= amount
        balance.used += amount
        order.reserved += amount
        self.changes.balances.add(asset)

    def _release(self, order: PaperOrder) -> None:
        if order.reserved:
            asset = order.quote if order.side is OrderSide.BUY else order.base
            balance = self.balance(asset)
            balance.used -= order.reserved
            balance.free += order.reserved
            order.reserved = ZERO
            self.changes.balances.add(asset)

    # -- orders --------------------------------------------------------------------------------------------

    def _next_id(self) -> str:
        value = self.sequence
        self.sequence += 1
        return str(value)

    def submit(self, request: OrderRequest, *, now: datetime) -> PaperOrder:
        existing = self.orders.get(request.client_order_id)
        if existing is not None:
            self._check_same_request(existing, request)
            return existing  # idempotent: a retried submit returns the first order
        self._validate(request)
        order = PaperOrder(
            order_id=self._next_id(),
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            amount=request.amount,
            price=request.price,
            created_at=now,
            updated_at=now,
        )
        market = self.markets.setdefault(order.symbol, MarketState())
        self._reserve(order, self._reserve_amount(order, market))
        self.orders[order.client_order_id] = order
        self.changes.orders[order.client_order_id] = order
        if market.book is not None:
            self._take_from_book(order, market.book, now=now, at_submit=True)
        elif market.last_price is not None and self.config.market_fill is PaperMarketFill.LAST_CLOSE:
            self._take_at_last_price(order, market.last_price, now=now)
        if not order.status.is_final:
            self.open_by_symbol.setdefault(order.symbol, {})[order.client_order_id] = order
        return order

    def cancel(self, client_order_id: str, *, now: datetime) -> PaperOrder:
        order = self.orders.get(client_order_id)
        if order is None:
            raise OrderNotFound(f"no paper order {client_order_id!r}")
        if order.status.is_final:
            return order
        order.status = OrderStatus.CANCELLED
        order.updated_at = now
        self._release(order)
        self.open_by_symbol.get(order.symbol, {}).pop(client_order_id, None)
        self.changes.orders[client_order_id] = order
        return order

    @staticmethod
    def _check_same_request(existing: PaperOrder, request: OrderRequest) -> None:
        same = (existing.symbol, existing.side, existing.order_type, existing.amount, existing.price) == (
            request.symbol,
            request.side,
            request.order_type,
            request.amount,
            request.price,
        )
        if not same:
            raise InvalidOrder(f"client_order_id {request.client_order_id!r} was already used for another order")

    @staticmethod
    def _validate(request: OrderRequest) -> None:
        parts = request.symbol.split("/")
        if len(parts) != 2 or not all(parts):
            raise InvalidOrder(f"symbol {request.symbol!r} is not BASE/QUOTE")
        if request.amount <= 0:
            raise InvalidOrder("amount must be positive")
        if request.order_type is OrderType.LIMIT and (request.price is None or request.price <= 0):
            raise InvalidOrder("a limit order needs a positive price")
        if request.order_type is OrderType.MARKET and request.price is not None:
            raise InvalidOrder("a market order takes no price")

    def _reserve_amount(self, order: PaperOrder, market: MarketState) -> Decimal:
        if order.side is OrderSide.SELL:
            return order.amount
        if order.price is not None:
            return order.amount * order.price * (1 + max(self.config.maker_fee, self.config.taker_fee))
        reference = self._reference_buy_price(order.symbol, order.amount, market)
        return order.amount * reference * MARKET_BUY_RESERVE_BUFFER * (1 + self.config.taker_fee)

    @staticmethod
    def _reference_buy_price(symbol: str, amount: Decimal, market: MarketState) -> Decimal:
        if market.book is not None and market.book.asks:
            # the worst level the order would reach (or the last one): an upper bound for the walk
            left = amount
            for level in market.book.asks:
                left -= level.amount
                if left <= 0:
                    return level.price
            return market.book.asks[-1].price
        if market.last_price is None:
            raise InvalidOrder(f"no price known for {symbol}: feed a book or a candle first")
        return market.last_price

    # -- price feed ----------------------------------------------------------------------------------------

    def on_book(self, book: OrderBook, *, now: datetime) -> None:
        market = self.markets.setdefault(book.symbol, MarketState())
        market.book = book
        if book.bids and book.asks:
            market.last_price = (book.bids[0].price + book.asks[0].price) / 2
        for order in list(self.open_by_symbol.get(book.symbol, {}).values()):
            self._take_from_book(order, book, now=now, at_submit=False)

    def on_bar(self, symbol: str, bar: OhlcvBar, *, now: datetime) -> None:
        """A closed candle; one not newer than the last fed is ignored (fed again, or late): it must neither
        fill an order a second time nor move the price back."""
        market = self.markets.setdefault(symbol, MarketState())
        if market.last_bar_time is not None and bar.open_time <= market.last_bar_time:
            return
        market.last_bar_time = bar.open_time
        # fills come in submission order, so the earliest resting order is served first
        budget = bar.volume * self.config.participation
        for order in sorted(self.open_by_symbol.get(symbol, {}).values(), key=lambda o: int(o.order_id)):
            if order.order_type is OrderType.MARKET:
                self._fill_market(order, order.remaining, self._slipped(order, bar.open), now=now)
                if not order.status.is_final:  # funds ran short of the whole amount at this price
                    self._finish(order, OrderStatus.EXPIRED, now=now)
            elif order.price is not None and self._bar_crosses(order, bar) and budget > 0:
                amount = min(order.remaining, budget)
                budget -= amount
                self._fill(order, amount, order.price, is_maker=True, now=now)
        market.last_price = bar.close

    def _take_at_last_price(self, order: PaperOrder, last: Decimal, *, now: datetime) -> None:
        """No book: a market order, or a limit the last price crosses, fills at once at the last price."""
        if order.order_type is OrderType.MARKET:
            self._fill_market(order, order.remaining, self._slipped(order, last), now=now)
            if not order.status.is_final:  # funds ran short of the whole amount at this price
                self._finish(order, OrderStatus.EXPIRED, now=now)
            return
        assert order.price is not None
        if last <= order.price if order.side is OrderSide.BUY else last >= order.price:
            self._fill(order, order.remaining, last, is_maker=False, now=now)

    @staticmethod
    def _bar_crosses(order: PaperOrder, bar: OhlcvBar) -> bool:
        assert order.price is not None
        return bar.low < order.price if order.side is OrderSide.BUY else bar.high > order.price

    def _take_from_book(self, order: PaperOrder, book: OrderBook, *, now: datetime, at_submit: bool) -> None:
        levels = book.asks if order.side is OrderSide.BUY else book.bids
        resting = order.order_type is OrderType.LIMIT and not at_submit
        for level in self._levels_within(order, levels):
            if order.remaining <= 0:
                break
            amount = min(order.remaining, level.amount)
            if order.order_type is OrderType.MARKET:
                if self._fill_market(order, amount, self._slipped(order, level.price), now=now) < amount:
                    break
                continue
            else:
                # a resting order fills at its own price (maker); a marketable new one at the level (taker)
                assert order.price is not None
                price = order.price if resting else level.price
            self._fill(order, amount, price, is_maker=resting, now=now)
        if order.order_type is OrderType.MARKET and not order.status.is_final:
            # the book ran dry: an unfilled market remainder expires instead of waiting
            self._finish(order, OrderStatus.EXPIRED, now=now)

    @staticmethod
    def _levels_within(order: PaperOrder, levels: Iterable[PriceLevel]) -> Iterable[PriceLevel]:
        for level in levels:
            if order.price is not None and (
                level.price > order.price if order.side is OrderSide.BUY else level.price < order.price
            ):
                return
            yield level

    def _slipped(self, order: PaperOrder, price: Decimal) -> Decimal:
        digest = hashlib.blake2b(f"{self.config.seed}:{order.client_order_id}".encode(), digest_size=8).digest()
        jitter = Decimal(int.from_bytes(digest, "big") % 10_000) / Decimal(10_000) * self.config.slippage_jitter_bps
        factor = (self.config.slippage_bps + jitter) / Decimal(10_000)
        return price * (1 + factor) if order.side is OrderSide.BUY else price * (1 - factor)

    def _fill_market(self, order: PaperOrder, amount: Decimal, price: Decimal, *, now: datetime) -> Decimal:
        """Fill up to `amount`, less if a buy's funds do not cover it at this price; returns what filled."""
        if order.side is OrderSide.BUY:
            available = order.reserved + self.balance(order.quote).free
            amount = min(amount, available / (price * (1 + self.config.taker_fee)))
        if amount > 0:
            self._fill(order, amount, price, is_maker=False, now=now)
        return amount

    def _fill(self, order: PaperOrder, amount: Decimal, price: Decimal, *, is_maker: bool, now: datetime) -> None:
        fee_rate = self.config.maker_fee if is_maker else self.config.taker_fee
        notional = amount * price
        fee = notional * fee_rate
        base, quote = self.balance(order.base), self.balance(order.quote)
        if order.side is OrderSide.BUY:
            spend = notional + fee
            if spend > order.reserved + quote.free:
                raise InsufficientFunds(f"{order.quote}: fill needs {spend}")
            from_reserve = min(spend, order.reserved)
            order.reserved -= from_reserve
            quote.used -= from_reserve
            quote.free -= spend - from_reserve
            base.free += amount
        else:
            order.reserved -= amount
            base.used -= amount
            quote.free += notional - fee
        order.filled += amount
        order.cost += notional
        order.fee += fee
        order.updated_at = now
        self.changes.balances.update((order.base, order.quote))
        self.changes.fills.append(
            PaperFill(
                fill_id=self._next_id(),
                order_id=order.order_id,
                client_order_id=order.client_order_id,
                symbol=order.symbol,
                side=order.side,
                price=price,
                amount=amount,
                fee=fee,
                fee_asset=order.quote,
                is_maker=is_maker,
                timestamp=now,
            )
        )
        if order.remaining <= 0:
            self._finish(order, OrderStatus.FILLED, now=now)
        else:
            order.status = OrderStatus.PARTIALLY_FILLED
            self.changes.orders[order.client_order_id] = order

    def _finish(self, order: PaperOrder, status: OrderStatus, *, now: datetime) -> None:
        order.status = status
        order.updated_at = now
        self._release(order)  # what a buy reserved above its actual cost goes back to free
        self.open_by_symbol.get(order.symbol, {}).pop(order.client_order_id, None)
        self.changes.orders[order.client_order_id] = order
