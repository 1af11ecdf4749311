"""The fast path's inner loop: held targets turned into fills, round trips and an equity curve in one pass
over the bars, with `accounting`'s arithmetic written out operation for operation (same operands, same
order), so it gives the event engine's trades to the last bit.

One source, two ways to run it: as plain Python (short series: no compiler to load) and compiled by numba
(long series and optimisation batches). Both do the same IEEE double operations; numba runs without
fastmath, so no reassociation or fused multiply-add changes a result. numba is imported on first compiled
use only: it costs a second or more of start-up, more than a CLI backtest of a few thousand bars."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dsta.data.backtesting.accounting import TradeRecord

COMPILE_FROM_BARS = 50_000  # below this the plain loop finishes before numba would have loaded
SIDES = {1: "long", -1: "short"}
REASONS = {0: "signal", 1: "end_of_data"}


@dataclass(frozen=True)
class TradeColumns:
    """The round trips as columns (what metrics need, without one object per trade)."""

    entry_index: np.ndarray
    exit_index: np.ndarray
    side: np.ndarray  # 1 long, -1 short
    qty: np.ndarray
    entry_price: np.ndarray
    exit_price: np.ndarray
    fees: np.ndarray
    pnl: np.ndarray
    return_pct: np.ndarray
    reason: np.ndarray  # 0 signal, 1 end_of_data

    def __len__(self) -> int:
        return len(self.pnl)

    def records(self) -> list[TradeRecord]:
        return [
            TradeRecord(entry, exit_, SIDES[side], qty, entry_price, exit_price, fees, pnl, pct, REASONS[reason])
            for entry, exit_, side, qty, entry_price, exit_price, fees, pnl, pct, reason in zip(
                *(column.tolist() for column in self._columns()), strict=True
            )
        ]

    def _columns(self) -> tuple[np.ndarray, ...]:
        return (
            self.entry_index,
            self.exit_index,
            self.side,
            self.qty,
            self.entry_price,
            self.exit_price,
            self.fees,
            self.pnl,
            self.return_pct,
            self.reason,
        )


def fill_targets(  # noqa: C901, PLR0912, PLR0913, PLR0915 (one flat function is what the compiler wants)
    targets: Any,
    opens: Any,
    closes: Any,
    warmup: int,
    next_open: bool,
    initial_cash: float,
    commission: float,
    slippage: float,
    close_at_end: bool,
    equity: Any,
    ints: Any,
    floats: Any,
) -> int:
    """Trade `targets` (NaN = hold; ignored before `warmup`) over the bars. Writes the equity at each close
    into `equity` and each round trip into a column of `ints` (rows: entry, exit, side, reason) and `floats`
    (rows: qty, entry price, exit price, fees, pnl, return %); returns the number of round trips.

    First the decisions: the held target changes at bar t, so it fills at t + 1's open (or t's close).
    Then the fills, each exactly accounting.rebalance (a close of the open round trip, then a fill of the
    difference) with other_value = 0 and no cash cap; end of data closes what is left."""
    count = len(closes)
    fill_index = np.empty(count, np.int64)
    fill_target = np.empty(count)
    fill_price = np.empty(count)
    fills = 0
    held = 0.0
    for t in range(count):
        raw = targets[t]
        wanted = raw if t >= warmup and raw == raw else held  # raw == raw: not NaN
        if wanted != held:
            at = t + 1 if next_open else t
            if at < count:
                fill_index[fills], fill_target[fills] = at, wanted
                fill_price[fills] = opens[at] if next_open else closes[at]
                fills += 1
        held = wanted

    up, down = 1 + slippage, 1 - slippage
    cash, qty = initial_cash, 0.0
    entry_index, cash_at_entry, entry_notional, entry_qty, fees = -1, 0.0, 0.0, 0.0, 0.0
    trades = 0
    bar = 0
    for event in range(fills + 1):
        if event < fills:
            index, target, price, reason = fill_index[event], fill_target[event], fill_price[event], 0
        elif close_at_end and qty != 0:
            index, target, price, reason = count - 1, 0.0, closes[count - 1], 1
        else:
            break
        while bar < index:  # bars before this fill are marked with the position held until now
            equity[bar] = cash + qty * closes[bar]
            bar += 1
        for step in range(2):  # step 0: close the open round trip (flat or flip); step 1: fill the difference
            if step == 0:
                if qty == 0 or (target != 0 and (target > 0) == (qty > 0)):
                    continue
                buy, size = qty < 0, abs(qty)
            else:
                if target == 0:
                    continue
                marked = cash + qty * price + 0.0
                difference = target * marked - qty * price
                if difference > 0:
                    buy, size = True, difference / (price * up * (1 + commission))
                elif difference < 0:
                    buy, size = False, -difference / price
                else:
                    continue
            fill = price * up if buy else price * down
            fee = size * fill * commission
            if qty == 0:
                entry_index, cash_at_entry = index, cash
                entry_notional = entry_qty = fees = 0.0
            if (qty >= 0) if buy else (qty <= 0):
                entry_notional += size * fill
                entry_qty += size
            if buy:
                cash += -(size * fill) - fee
                qty += size
            else:
                cash += size * fill - fee
                qty += -size
            fees += fee
            if step == 0:
                pnl = cash - cash_at_entry
                ints[0, trades], ints[1, trades] = entry_index, index
                ints[2, trades], ints[3, trades] = -1 if buy else 1, reason
                floats[0, trades], floats[1, trades], floats[2, trades] = entry_qty, entry_notional / entry_qty, fill
                floats[3, trades], floats[4, trades], floats[5, trades] = fees, pnl, pnl / entry_notional * 100
                trades += 1
                qty, entry_index = 0.0, -1
    while bar < count:
        equity[bar] = cash + qty * closes[bar]
        bar += 1
    return trades


_compiled: Callable[..., int] | None = None
_compiling = threading.Lock()


def compiled_fill_targets() -> Callable[..., int]:
    """`fill_targets` compiled (cached on disk by numba, so later processes load it in a fraction)."""
    global _compiled
    with _compiling:
        if _compiled is None:
            import numba

            _compiled = numba.njit(cache=True, nogil=True)(fill_targets)
    return _compiled


def warm_up() -> None:
    """Load the compiler and the compiled loop ahead of the first long backtest (worker boot)."""
    run_fills(np.zeros(2), np.ones(2), np.ones(2), warmup=0, next_open=True, initial_cash=1.0, compiled=True)
    run_fills(np.zeros(2), np.ones(2), np.ones(2), warmup=0, next_open=False, initial_cash=1.0, compiled=True)


def run_fills(
    targets: np.ndarray,
    opens: np.ndarray,
    closes: np.ndarray,
    *,
    warmup: int,
    next_open: bool,
    initial_cash: float,
    commission: float = 0.0,
    slippage: float = 0.0,
    close_at_end: bool = True,
    compiled: bool | None = None,
) -> tuple[np.ndarray, TradeColumns]:
    """Equity at each close and the round trips; `compiled=None` picks by length."""
    count = len(closes)
    equity = np.empty(count)
    ints = np.empty((4, count + 1), np.int64)  # at most one round trip closes per fill, plus end of data
    floats = np.empty((6, count + 1))  # a row per column: each contiguous
    if compiled if compiled is not None else count >= COMPILE_FROM_BARS:
        function = compiled_fill_targets()
        arguments: tuple[Any, ...] = (
            np.ascontiguousarray(targets, dtype=np.float64),
            np.ascontiguousarray(opens, dtype=np.float64),
            np.ascontiguousarray(closes, dtype=np.float64),
        )
    else:  # lists: a Python loop reads them several times faster than numpy arrays
        function = fill_targets
        arguments = (np.asarray(targets, np.float64).tolist(), opens.tolist(), closes.tolist())
    trades = function(
        *arguments,
        int(warmup),
        bool(next_open),
        float(initial_cash),
        float(commission),
        float(slippage),
        bool(close_at_end),
        equity,
        ints,
        floats,
    )
    ints, floats = ints[:, :trades], floats[:, :trades]
    columns = TradeColumns(
        entry_index=ints[0],
        exit_index=ints[1],
        side=ints[2],
        qty=floats[0],
        entry_price=floats[1],
        exit_price=floats[2],
        fees=floats[3],
        pnl=floats[4],
        return_pct=floats[5],
        reason=ints[3],
    )
    return equity, columns
