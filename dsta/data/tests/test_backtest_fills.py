"""The fast path's fill loop, plain and compiled, against the accounting module it writes out: the same
trades and equity to the last bit, on random targets (long, short, flips, partial sizes, holds)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsta.data.backtesting.accounting import Book, Costs, TradeRecord, close_position, rebalance
from dsta.data.backtesting.fills import run_fills


def accounting_reference(
    targets: np.ndarray,
    opens: np.ndarray,
    closes: np.ndarray,
    *,
    warmup: int,
    next_open: bool,
    costs: Costs,
    close_at_end: bool,
) -> tuple[np.ndarray, list[TradeRecord]]:
    """Bar by bar through `accounting`, the way the event engine fills market orders."""
    book, trades, equity = Book(cash=10_000.0), [], np.empty(len(closes))
    held, pending = 0.0, None
    for t in range(len(closes)):
        if pending is not None:
            closed = rebalance(book, target=pending, price=opens[t], index=t, costs=costs)
            trades += [closed] if closed else []
            pending = None
        wanted = targets[t] if t >= warmup and not np.isnan(targets[t]) else held
        if wanted != held:
            if next_open:
                pending = wanted
            else:
                closed = rebalance(book, target=wanted, price=closes[t], index=t, costs=costs)
                trades += [closed] if closed else []
        held = wanted
        equity[t] = book.cash + book.qty * closes[t]
    if close_at_end and book.qty != 0:
        trades.append(close_position(book, price=closes[-1], index=len(closes) - 1, costs=costs, reason="end_of_data"))
        equity[-1] = book.cash
    return equity, trades


@settings(max_examples=60, deadline=None)
@given(
    choices=st.lists(st.sampled_from([np.nan, np.nan, 0.0, 1.0, 0.5, -1.0, -0.25]), min_size=2, max_size=80),
    seed=st.integers(0, 2**16),
    warmup=st.integers(0, 10),
    next_open=st.booleans(),
    close_at_end=st.booleans(),
    commission=st.sampled_from([0.0, 0.001, 0.0075]),
    slippage=st.sampled_from([0.0, 0.0005]),
)
def test_plain_and_compiled_fills_match_the_accounting_module(
    choices, seed, warmup, next_open, close_at_end, commission, slippage
):
    generator = np.random.default_rng(seed)
    closes = 100 * np.cumprod(1 + generator.normal(0, 0.02, len(choices)))
    opens = closes * (1 + generator.normal(0, 0.005, len(choices)))
    targets = np.array(choices)
    costs = Costs(commission, slippage)
    expected_equity, expected_trades = accounting_reference(
        targets, opens, closes, warmup=warmup, next_open=next_open, costs=costs, close_at_end=close_at_end
    )
    for compiled in (False, True):
        equity, trades = run_fills(
            targets,
            opens,
            closes,
            warmup=warmup,
            next_open=next_open,
            initial_cash=10_000.0,
            commission=commission,
            slippage=slippage,
            close_at_end=close_at_end,
            compiled=compiled,
        )
        assert trades.records() == expected_trades
        assert np.array_equal(equity, expected_equity)


def test_columns_hold_the_round_trips_in_order():
    closes = np.array([10.0, 11.0, 12.0, 11.0, 13.0])
    equity, trades = run_fills(
        np.array([1.0, np.nan, 0.0, -1.0, np.nan]),
        closes,
        closes,
        warmup=0,
        next_open=False,
        initial_cash=1_000.0,
        close_at_end=True,
    )
    assert [(t.entry_index, t.exit_index, t.side, t.exit_reason) for t in trades.records()] == [
        (0, 2, "long", "signal"),
        (3, 4, "short", "end_of_data"),
    ]
    assert equity[2] == pytest.approx(1_200.0) and equity[-1] == pytest.approx(1_200.0 * (1 - 2 / 11))
