from __future__ import annotations

from decimal import Decimal as D

import pytest

from dsta.trading.positions import FillEvent, PositionState, replay


def fill(side: str, qty: str, price: str, fee: str = "0") -> FillEvent:
    return FillEvent("BTC/USDT", side, D(qty), D(price), D(fee))


def test_adding_moves_the_average_and_reducing_realises_against_it():
    state = replay("BTC/USDT", [fill("buy", "1", "100", "0.1"), fill("buy", "3", "120", "0.36")])
    assert (state.quantity, state.average_price) == (D("4"), D("115"))
    state = state.apply(fill("sell", "1.5", "130", "0.195"))
    assert state.quantity == D("2.5") and state.average_price == D("115")
    assert state.realised_pnl == D("1.5") * 15 - D("0.1") - D("0.36") - D("0.195")
    assert state.fees == D("0.655")
    assert state.unrealised_pnl(D("110")) == D("-12.5")


def test_crossing_through_zero_realises_the_long_and_opens_a_short_at_the_fill():
    state = replay("BTC/USDT", [fill("buy", "2", "100"), fill("sell", "5", "90")])
    assert state.quantity == D("-3") and state.average_price == D("90")
    assert state.realised_pnl == D("-20")
    assert state.apply(fill("buy", "3", "80")).realised_pnl == D("-20") + D("30")


def test_closing_flat_resets_the_average():
    state = replay("BTC/USDT", [fill("sell", "1", "50"), fill("buy", "1", "40", "0.05")])
    assert (state.quantity, state.average_price, state.realised_pnl) == (D(0), D(0), D("9.95"))


@pytest.mark.parametrize("bad", [fill("buy", "0", "1"), fill("buy", "1", "-1"), fill("buy", "1", "1", "-1")])
def test_nonsense_fills_are_refused(bad):
    with pytest.raises(ValueError):
        PositionState("BTC/USDT").apply(bad)


def test_a_fill_for_another_symbol_is_refused():
    with pytest.raises(ValueError, match="applied to"):
        PositionState("ETH/USDT").apply(fill("buy", "1", "1"))
