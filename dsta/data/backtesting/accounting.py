"""Fills and trades, shared by the event-driven engine and the fast path so both do the same arithmetic
in the same order (their results are compared for exact equality)."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec


@dataclass(frozen=True, slots=True)
class Costs:
    commission: float  # fraction of notional, charged on every fill
    slippage: float  # fraction of price, always against the trader


@dataclass(slots=True)
class Book:
    """Cash and position of one symbol, and the round trip currently open."""

    cash: float
    qty: float = 0.0
    entry_index: int = -1
    cash_at_entry: float = 0.0
    entry_notional: float = 0.0  # sum of qty * fill price over the fills that grew the position
    entry_qty: float = 0.0
    fees: float = 0.0


class TradeRecord(msgspec.Struct, frozen=True):
    """One round trip. A frozen msgspec Struct rather than a frozen dataclass: a backtest makes one per
    round trip (28k over 1M bars), and a Struct is built ten times faster (positional or keyword fields,
    equality and immutability the same; `msgspec.structs.replace` / `asdict` for the dataclass helpers)."""

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
    qty = book.qty
    if qty != 0 and (target == 0 or (target > 0) != (qty > 0)):
        closed = _close(book, price, index, costs.commission, costs.slippage, reason)
        qty = book.qty
    if target != 0:
        equity = book.cash + qty * price + other_value
        difference = target * equity - qty * price
        if cap_to_cash and difference > book.cash:
            difference = max(book.cash, 0.0)
        commission, slippage = costs.commission, costs.slippage
        if difference > 0:
            _fill(
                book, difference / (price * (1 + slippage) * (1 + commission)), True, price, index, commission, slippage
            )
        elif difference < 0:
            _fill(book, -difference / price, False, price, index, commission, slippage)
    return closed


# The two below take their arguments by position: a backtest calls them once per fill, up to 10^5 times.
def _fill(book: Book, qty: float, buy: bool, price: float, index: int, commission: float, slippage: float) -> None:
    fill = price * (1 + slippage) if buy else price * (1 - slippage)
    fee = qty * fill * commission
    held = book.qty
    if held == 0:
        book.entry_index, book.cash_at_entry = index, book.cash
        book.entry_notional = book.entry_qty = book.fees = 0.0
    if (held >= 0) if buy else (held <= 0):  # the fill grows the position
        book.entry_notional += qty * fill
        book.entry_qty += qty
    book.cash += -(qty * fill) - fee if buy else qty * fill - fee
    book.qty = held + (qty if buy else -qty)
    book.fees += fee


def close_position(
    book: Book, *, price: float, index: int, costs: Costs, reason: str, slipped: bool = True
) -> TradeRecord:
    """Flatten at `price` and record the round trip. `slipped=False` for a resting limit (take-profit)."""
    return _close(book, price, index, costs.commission, costs.slippage if slipped else 0.0, reason)


def _close(book: Book, price: float, index: int, commission: float, slippage: float, reason: str) -> TradeRecord:
    long = book.qty > 0
    _fill(book, abs(book.qty), not long, price, index, commission, slippage)
    pnl = book.cash - book.cash_at_entry
    record = TradeRecord(
        book.entry_index,
        index,
        "long" if long else "short",
        book.entry_qty,
        book.entry_notional / book.entry_qty,
        price * (1 - slippage) if long else price * (1 + slippage),  # the exit's fill price
        book.fees,
        pnl,
        pnl / book.entry_notional * 100,
        reason,
    )
    book.qty = 0.0
    book.entry_index = -1
    return record
