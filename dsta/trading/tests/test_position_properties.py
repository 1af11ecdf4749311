"""Properties of PositionState.apply over any sequence of fills (hypothesis): the quantity is the signed sum
of the fills, the fees are their sum, and the P&L accounts for every unit of cash: realised P&L (fees
included) plus unrealised P&L at any mark equals the cash the fills moved plus the position valued at that
mark. Equivalently, gross realised plus unrealised, less the fees, is the change in equity."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from dsta.trading.positions import FillEvent, PositionState, replay

D = Decimal
SYMBOL = "BTC/USDT"
TOLERANCE = D("1e-9")  # the average price divides; Decimal rounds at 28 significant digits

fills = st.builds(
    FillEvent,
    symbol=st.just(SYMBOL),
    side=st.sampled_from(["buy", "sell"]),
    quantity=st.decimals(min_value=D("0.001"), max_value=D(1000), places=3),
    price=st.decimals(min_value=D("0.01"), max_value=D(100000), places=2),
    fee=st.decimals(min_value=D(0), max_value=D(50), places=4),
)
marks = st.decimals(min_value=D("0.01"), max_value=D(100000), places=2)


@settings(max_examples=300, deadline=None)
@given(sequence=st.lists(fills, max_size=40), mark=marks)
def test_quantity_fees_and_pnl_account_for_every_fill(sequence: list[FillEvent], mark: Decimal) -> None:
    state = replay(SYMBOL, sequence)
    signed = [fill.quantity if fill.side == "buy" else -fill.quantity for fill in sequence]
    assert state.quantity == sum(signed, D(0))
    assert state.fees == sum((fill.fee for fill in sequence), D(0))
    cash = sum((-q * fill.price - fill.fee for q, fill in zip(signed, sequence, strict=True)), D(0))
    equity_change = cash + state.quantity * mark
    gross_realised = state.realised_pnl + state.fees
    assert abs(gross_realised + state.unrealised_pnl(mark) - state.fees - equity_change) <= TOLERANCE
    if state.quantity == 0:
        assert state.average_price == 0 and abs(state.realised_pnl - cash) <= TOLERANCE


@settings(max_examples=200, deadline=None)
@given(sequence=st.lists(fills, min_size=1, max_size=20))
def test_the_average_price_lies_within_the_prices_of_the_fills(sequence: list[FillEvent]) -> None:
    state = PositionState(SYMBOL)
    for fill in sequence:
        state = state.apply(fill)
        if state.quantity != 0:
            assert min(f.price for f in sequence) - TOLERANCE <= state.average_price
            assert state.average_price <= max(f.price for f in sequence) + TOLERANCE
