"""Pre-trade risk checks: pure functions over limits and a snapshot of the book, so the check itself costs
microseconds and the same code runs in the order saga, the dry-run and the `/risk/check` endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True)
class RiskLimits:
    max_order_notional: Decimal
    max_position_notional: Decimal  # per symbol, absolute, after the order
    max_total_exposure: Decimal  # sum of absolute position notionals, after the order
    max_open_orders: int
    price_band_pct: Decimal  # a limit price may stray this far from the last price
    max_orders_per_minute: int
    version: int = 1


@dataclass(frozen=True)
class OrderIntent:
    symbol: str
    side: str  # "buy" or "sell"
    quantity: Decimal
    order_type: str  # "market" or "limit"
    limit_price: Decimal | None = None


@dataclass(frozen=True)
class BookSnapshot:
    """What the check needs to know about the account at the moment of the order."""

    positions: dict[str, Decimal]  # symbol -> signed quantity
    last_prices: dict[str, Decimal]
    open_orders: int
    orders_last_minute: int
    halted: bool = False  # circuit breaker
    halt_reason: str = ""


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    limit: str = ""
    actual: str = ""


@dataclass(frozen=True)
class RiskDecision:
    approved: bool
    violations: tuple[Violation, ...] = field(default_factory=tuple)


def check_order(intent: OrderIntent, limits: RiskLimits, book: BookSnapshot) -> RiskDecision:
    violations: list[Violation] = []
    if book.halted and not _only_reduces(intent, book):
        violations.append(Violation("circuit_breaker", f"trading is halted: {book.halt_reason or 'breaker open'}"))
    if intent.quantity <= ZERO:
        violations.append(Violation("quantity", "quantity must be positive", actual=str(intent.quantity)))
    last = book.last_prices.get(intent.symbol)
    if last is None:
        violations.append(Violation("price", f"no last price for {intent.symbol}; cannot value the order"))
        return RiskDecision(False, tuple(violations))
    price = intent.limit_price if intent.order_type == "limit" and intent.limit_price is not None else last
    if intent.order_type == "limit":
        if intent.limit_price is None or intent.limit_price <= ZERO:
            violations.append(Violation("price", "a limit order needs a positive limit price"))
        elif abs(intent.limit_price - last) / last * 100 > limits.price_band_pct:
            violations.append(
                Violation(
                    "price_band",
                    f"limit price is more than {limits.price_band_pct}% from the last price {last}",
                    str(limits.price_band_pct),
                    str(abs(intent.limit_price - last) / last * 100),
                )
            )
    notional = intent.quantity * price
    if notional > limits.max_order_notional:
        violations.append(
            Violation(
                "max_order_notional", "order notional above the limit", str(limits.max_order_notional), str(notional)
            )
        )
    signed = intent.quantity if intent.side == "buy" else -intent.quantity
    position_after = book.positions.get(intent.symbol, ZERO) + signed
    position_notional = abs(position_after) * price
    if position_notional > limits.max_position_notional:
        violations.append(
            Violation(
                "max_position_notional",
                f"{intent.symbol} position after the order above the limit",
                str(limits.max_position_notional),
                str(position_notional),
            )
        )
    exposure = position_notional
    for symbol, quantity in book.positions.items():
        if symbol != intent.symbol:
            exposure += abs(quantity) * book.last_prices.get(symbol, ZERO)
    if exposure > limits.max_total_exposure:
        violations.append(
            Violation(
                "max_total_exposure",
                "total exposure after the order above the limit",
                str(limits.max_total_exposure),
                str(exposure),
            )
        )
    if book.open_orders >= limits.max_open_orders:
        violations.append(
            Violation("max_open_orders", "too many open orders", str(limits.max_open_orders), str(book.open_orders))
        )
    if book.orders_last_minute >= limits.max_orders_per_minute:
        violations.append(
            Violation(
                "order_rate",
                "order rate per minute reached",
                str(limits.max_orders_per_minute),
                str(book.orders_last_minute),
            )
        )
    return RiskDecision(not violations, tuple(violations))


def _only_reduces(intent: OrderIntent, book: BookSnapshot) -> bool:
    """A halt stops new risk, not its removal: an order that shrinks a position without flipping it (a stop-loss
    closing a long, say) still goes through an open breaker."""
    held = book.positions.get(intent.symbol, ZERO)
    if intent.side == "sell":
        return held > ZERO and intent.quantity <= held
    return held < ZERO and intent.quantity <= -held
