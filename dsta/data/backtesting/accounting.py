"""Fills and trades, shared by the event-driven engine and the fast path so both do the same arithmetic
in the same order (their results are compared for exact equality)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Costs:
    commission: float  # fraction of notional, charged on every fill
    slippage: float  # fraction of price, always against the trader


@dataclass
class Book:
    """Cash and position of one symbol, and the round trip currently open."""

    cash: float
    qty: float = 0.0
    entry_index: int = -1
    cash_at_entry: float = 0.0
    entry_notional: float = 0.0  # sum of qty * fill price over the fills that grew the position
    entry_qty: float = 0.0
    fees: float = 0.0


@dataclass(frozen=True)
class TradeRecord:
    entry_index: int
    exit_index: int
    side: str  # "long" or "short"
    qty: float
    entry_price: float  # average fill price, slippage included
    exit_price: float
    fees: float
    pnl: float  # cash after the round trip minus cash before it
    return_pct: float  # pnl over the notional committed
    exit_reason: str  # signal, stop_loss, take_profit, end_of_data


def rebalance(
    book: Book,
    *,
    target: float,
    price: float,
    index: int,
    costs: Costs,
    reason: str = "signal",
    other_value: float = 0.0,
    cap_to_cash: bool = False,
) -> TradeRecord | None:
    """Move to `target` (fraction of equity, signed) at `price`. Returns the round trip this closed, if any
    (a flip from long to short closes the long, then opens the short).

    A portfolio passes the marked value of its other positions (`other_value`: equity is the whole account's)
    and `cap_to_cash`: a buy never spends more than the cash on hand, so the account never borrows."""
    closed = None
    if book.qty != 0 and (target == 0 or (target > 0) != (book.qty > 0)):
        closed = close_position(book, price=price, index=index, costs=costs, reason=reason)
    if target != 0:
        equity = book.cash + book.qty * price + other_value
        difference = target * equity - book.qty * price
        if cap_to_cash and difference > book.cash:
            difference = max(book.cash, 0.0)
        if difference > 0:
            _fill(
                book,
                qty=difference / (price * (1 + costs.slippage) * (1 + costs.commission)),
                buy=True,
                price=price,
                index=index,
                costs=costs,
            )
        elif difference < 0:
            _fill(book, qty=-difference / price, buy=False, price=price, index=index, costs=costs)
    return closed


def _fill(book: Book, *, qty: float, buy: bool, price: float, index: int, costs: Costs) -> None:
    fill = price * (1 + costs.slippage) if buy else price * (1 - costs.slippage)
    fee = qty * fill * costs.commission
    if book.qty == 0:
        book.entry_index, book.cash_at_entry = index, book.cash
        book.entry_notional = book.entry_qty = book.fees = 0.0
    grows = (book.qty >= 0) if buy else (book.qty <= 0)
    if grows:
        book.entry_notional += qty * fill
        book.entry_qty += qty
    book.cash += -(qty * fill) - fee if buy else qty * fill - fee
    book.qty += qty if buy else -qty
    book.fees += fee


def close_position(
    book: Book, *, price: float, index: int, costs: Costs, reason: str, slipped: bool = True
) -> TradeRecord:
    """Flatten at `price` and record the round trip. `slipped=False` for a resting limit (take-profit)."""
    long = book.qty > 0
    costs_here = costs if slipped else Costs(costs.commission, 0.0)
    _fill(book, qty=abs(book.qty), buy=not long, price=price, index=index, costs=costs_here)
    exit_fill = price * (1 - costs_here.slippage) if long else price * (1 + costs_here.slippage)
    pnl = book.cash - book.cash_at_entry
    record = TradeRecord(
        entry_index=book.entry_index,
        exit_index=index,
        side="long" if long else "short",
        qty=book.entry_qty,
        entry_price=book.entry_notional / book.entry_qty,
        exit_price=exit_fill,
        fees=book.fees,
        pnl=pnl,
        return_pct=pnl / book.entry_notional * 100,
        exit_reason=reason,
    )
    book.qty = 0.0
    book.entry_index = -1
    return record
