"""The paper venue loads its state in one batch after taking the account lock: concurrent submits must still
see each other's committed balances and ids (no lost update), which this checks with real threads."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connections

from dsta.exchange import api
from dsta.exchange.contracts import OrderBook, OrderRequest, OrderSide, OrderStatus, OrderType, PriceLevel

pytestmark = pytest.mark.django_db(databases=["exchange"], transaction=True)
D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_concurrent_submits_lose_no_update():
    api.paper_reset(slippage_bps=D(0), slippage_jitter_bps=D(0))
    api.paper_deposit(asset="USDT", amount=D("10000"))
    api.paper_book_feed(
        book=OrderBook("paper", "BTC/USDT", T0, (PriceLevel(D("99"), D("100")),), (PriceLevel(D("100"), D("100")),))
    )
    errors: list[BaseException] = []

    def trader(name: str) -> None:
        try:
            for n in range(5):
                request = OrderRequest("BTC/USDT", OrderSide.BUY, OrderType.MARKET, D("0.01"), f"{name}-{n}")
                assert api.order_submit(venue="paper", request=request).status is OrderStatus.FILLED
        except BaseException as exc:  # reported below, with the thread's name
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=trader, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    fills = api.fills_list(venue="paper", symbol="BTC/USDT")
    assert len(fills) == 20 and len({fill.fill_id for fill in fills}) == 20
    balances = {balance.asset: balance.total for balance in api.balance_get(venue="paper")}
    expected = {"USDT": D("10000"), "BTC": D(0)}
    for fill in fills:
        expected["BTC"] += fill.amount
        expected["USDT"] -= fill.amount * fill.price
        expected[fill.fee_asset] -= fill.fee
    assert balances["BTC"] == expected["BTC"] and balances["USDT"] == expected["USDT"]
