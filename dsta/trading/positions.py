"""Positions and P&L from fills only: average cost, realised and unrealised P&L, fees. Decimal throughout."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True)
class FillEvent:
    symbol: str
    side: str  # "buy" or "sell"
    quantity: Decimal
    price: Decimal
    fee: Decimal  # in the quote currency


@dataclass(frozen=True)
class PositionState:
    symbol: str
    quantity: Decimal = ZERO  # signed: negative when short
    average_price: Decimal = ZERO  # of the open quantity
    realised_pnl: Decimal = ZERO  # fees included
    fees: Decimal = ZERO

    def unrealised_pnl(self, mark: Decimal) -> Decimal:
        return (mark - self.average_price) * self.quantity

    def apply(self, fill: FillEvent) -> PositionState:
        """The position after `fill`. Adding to a position moves the average price; reducing realises P&L
        against it; crossing through zero realises the old side and opens the new one at the fill price."""
        if fill.symbol != self.symbol:
            raise ValueError(f"fill for {fill.symbol} applied to {self.symbol}")
        if fill.quantity <= ZERO or fill.price <= ZERO or fill.fee < ZERO:
            raise ValueError("fills need a positive quantity and price, and a non-negative fee")
        signed = fill.quantity if fill.side == "buy" else -fill.quantity
        quantity, average, realised = self.quantity, self.average_price, self.realised_pnl - fill.fee
        if quantity == ZERO or (quantity > ZERO) == (signed > ZERO):
            new_quantity = quantity + signed
            average = (average * abs(quantity) + fill.price * abs(signed)) / abs(new_quantity)
            return PositionState(self.symbol, new_quantity, average, realised, self.fees + fill.fee)
        closing = min(abs(signed), abs(quantity))
        direction = Decimal(1) if quantity > ZERO else Decimal(-1)
        realised += (fill.price - average) * closing * direction
        new_quantity = quantity + signed
        if new_quantity == ZERO:
            average = ZERO
        elif (new_quantity > ZERO) != (quantity > ZERO):
            average = fill.price  # flipped: the remainder opened at this fill
        return PositionState(self.symbol, new_quantity, average, realised, self.fees + fill.fee)


def replay(symbol: str, fills: list[FillEvent]) -> PositionState:
    state = PositionState(symbol)
    for fill in fills:
        state = state.apply(fill)
    return state
