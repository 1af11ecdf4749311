from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from dsta.trading.risk import BookSnapshot, OrderIntent, RiskLimits, check_order

LIMITS = RiskLimits(
    max_order_notional=D("10000"),
    max_position_notional=D("20000"),
    max_total_exposure=D("30000"),
    max_open_orders=5,
    price_band_pct=D("5"),
    max_orders_per_minute=10,
)
BOOK = BookSnapshot(
    positions={"BTC/USDT": D("0.1"), "ETH/USDT": D("2")},
    last_prices={"BTC/USDT": D("50000"), "ETH/USDT": D("3000")},
    open_orders=1,
    orders_last_minute=2,
)


def rules(intent: OrderIntent, book: BookSnapshot = BOOK, limits: RiskLimits = LIMITS) -> set[str]:
    decision = check_order(intent, limits, book)
    assert decision.approved == (not decision.violations)
    return {violation.rule for violation in decision.violations}


def test_a_sound_order_passes():
    assert rules(OrderIntent("BTC/USDT", "buy", D("0.1"), "market")) == set()


@pytest.mark.parametrize(
    ("intent", "book", "expected"),
    [
        (OrderIntent("BTC/USDT", "buy", D("0.35"), "market"), BOOK, {"max_order_notional", "max_position_notional"}),
        (OrderIntent("BTC/USDT", "buy", D("0.1"), "limit", D("53000")), BOOK, {"price_band"}),
        (OrderIntent("BTC/USDT", "buy", D("0.1"), "limit", None), BOOK, {"price"}),
        (OrderIntent("BTC/USDT", "buy", D("0"), "market"), BOOK, {"quantity"}),
        (OrderIntent("SOL/USDT", "buy", D("1"), "market"), BOOK, {"price"}),
        (OrderIntent("BTC/USDT", "buy", D("0.1"), "market"), replace(BOOK, open_orders=5), {"max_open_orders"}),
        (OrderIntent("BTC/USDT", "buy", D("0.1"), "market"), replace(BOOK, orders_last_minute=10), {"order_rate"}),
        (OrderIntent("BTC/USDT", "buy", D("0.1"), "market"), replace(BOOK, halted=True), {"circuit_breaker"}),
        (
            OrderIntent("ETH/USDT", "buy", D("3"), "market"),
            replace(BOOK, positions={"BTC/USDT": D("0.39"), "ETH/USDT": D("2")}),
            {"max_total_exposure"},
        ),
    ],
)
def test_each_rule_refuses_what_it_guards(intent, book, expected):
    assert rules(intent, book) == expected


def test_an_open_breaker_lets_only_position_reducing_orders_through():
    halted = replace(BOOK, halted=True, positions={"BTC/USDT": D("0.15"), "ETH/USDT": D("-2")})
    assert rules(OrderIntent("BTC/USDT", "sell", D("0.15"), "market"), halted) == set()
    assert rules(OrderIntent("ETH/USDT", "buy", D("1"), "market"), halted) == set()
    assert rules(OrderIntent("BTC/USDT", "sell", D("0.16"), "market"), halted) == {"circuit_breaker"}  # flips
    assert rules(OrderIntent("BTC/USDT", "buy", D("0.01"), "market"), halted) == {"circuit_breaker"}
    assert rules(OrderIntent("ETH/USDT", "sell", D("0.1"), "market"), halted) == {"circuit_breaker"}


def test_selling_down_a_position_reduces_exposure():
    heavy = replace(BOOK, positions={"BTC/USDT": D("0.39"), "ETH/USDT": D("2")})
    assert rules(OrderIntent("BTC/USDT", "sell", D("0.1"), "market"), heavy) == set()


def test_violations_carry_limit_and_actual():
    decision = check_order(OrderIntent("BTC/USDT", "buy", D("0.3"), "market"), LIMITS, BOOK)
    by_rule = {violation.rule: violation for violation in decision.violations}
    assert by_rule["max_order_notional"].limit == "10000" and by_rule["max_order_notional"].actual == "15000.0"
