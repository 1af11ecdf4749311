"""Paper-exchange order throughput: create + fill + balance update.

Run: `uv run python bench/paper_exchange_throughput.py [--orders 50000] [--persisted-orders 1000]`
(uses DATABASE_URL / REDIS_URL like the other benchmarks; it creates its own database `<name>_bench`).

What each figure measures:
1. engine core, in process: `PaperEngine.submit` of market orders (alternating buy/sell) against a 5-level
   book, each walking the book, charging the taker fee with seeded slippage, moving both balances and
   recording its fills; plus resting limit orders filled by a crossing candle. No I/O. This is the issue's
   target (>= 5,000 orders/s in-process).
2. through the facade, persisted: `api.order_submit` on the paper venue, one Postgres transaction per order
   (lock the account row, load balances and open orders, write the order, its fills, the balances and two
   outbox events). This is what a dry-run order costs end to end today.
Reference (same process): a naive dict-of-floats matcher doing the same walk with no Decimal, no fee model
and no bookkeeping, to show what the Decimal-exact bookkeeping costs.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchenv import configure_environment, setup_django  # noqa: E402

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def book():  # type: ignore[no-untyped-def]
    from dsta.exchange.contracts import OrderBook, PriceLevel

    levels = range(5)
    return OrderBook(
        "paper",
        "BTC/USDT",
        T0,
        tuple(PriceLevel(Decimal(99) - i, Decimal(1000)) for i in levels),
        tuple(PriceLevel(Decimal(100) + i, Decimal(1000)) for i in levels),
    )


def requests(count: int):  # type: ignore[no-untyped-def]
    from dsta.exchange.contracts import OrderRequest, OrderSide, OrderType

    return [
        OrderRequest(
            symbol="BTC/USDT",
            side=OrderSide.BUY if n % 2 == 0 else OrderSide.SELL,
            order_type=OrderType.MARKET,
            amount=Decimal("0.01"),
            client_order_id=f"bench-{n}",
        )
        for n in range(count)
    ]


def engine_core(count: int) -> tuple[float, float]:
    from dsta.exchange.contracts import OhlcvBar, OrderRequest, OrderSide, OrderStatus, OrderType
    from dsta.exchange.paper_engine import PaperConfig, PaperEngine

    engine = PaperEngine(PaperConfig(seed=7))
    engine.deposit("USDT", Decimal(10**9))
    engine.deposit("BTC", Decimal(10**6))
    engine.on_book(book(), now=T0)
    orders = requests(count)
    started = time.perf_counter()
    for request in orders:
        order = engine.submit(request, now=T0)
        if len(engine.orders) > 10_000:  # keep the working set bounded, as the service's load does
            engine.orders.clear()
            engine.take_changes()
    market_rate = count / (time.perf_counter() - started)
    assert order.status is OrderStatus.FILLED

    # resting limit orders, then one candle that crosses them all
    limits = [
        OrderRequest("ETH/USDT", OrderSide.BUY, OrderType.LIMIT, Decimal("0.01"), f"lim-{n}", Decimal(90))
        for n in range(count)
    ]
    engine.on_bar("ETH/USDT", OhlcvBar(T0, *map(Decimal, ("95", "96", "94", "95", "1000000000"))), now=T0)
    started = time.perf_counter()
    for request in limits:
        engine.submit(request, now=T0)
    engine.on_bar("ETH/USDT", OhlcvBar(T0 + timedelta(hours=1), *map(Decimal, ("91", "92", "85", "88", "1e9"))), now=T0)
    limit_rate = count / (time.perf_counter() - started)
    assert not engine.open_by_symbol["ETH/USDT"]
    return market_rate, limit_rate


def naive_reference(count: int) -> float:
    asks = [[100.0 + i, 1000.0] for i in range(5)]
    bids = [[99.0 - i, 1000.0] for i in range(5)]
    balances = {"USDT": 1e9, "BTC": 1e6}
    started = time.perf_counter()
    for n in range(count):
        levels = asks if n % 2 == 0 else bids
        left, cost = 0.01, 0.0
        for level in levels:
            take = min(left, level[1])
            cost += take * level[0]
            left -= take
            if left <= 0:
                break
        if n % 2 == 0:
            balances["USDT"] -= cost
            balances["BTC"] += 0.01
        else:
            balances["USDT"] += cost
            balances["BTC"] -= 0.01
    return count / (time.perf_counter() - started)


def persisted(count: int) -> float:
    setup_django()
    from dsta.exchange import api

    api.paper_reset(seed=7)
    api.paper_deposit(asset="USDT", amount=Decimal(10**9))
    api.paper_deposit(asset="BTC", amount=Decimal(10**6))
    api.paper_book_feed(book=book())
    orders = requests(count)
    started = time.perf_counter()
    for request in orders:
        api.order_submit(venue="paper", request=request)
    rate = count / (time.perf_counter() - started)
    fills = len(api.fills_list(venue="paper", symbol="BTC/USDT"))
    assert fills == count, fills
    return rate


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--persisted-orders", type=int, default=1_000)
    args = parser.parse_args()
    configure_environment()

    market_rate, limit_rate = engine_core(args.orders)
    reference = naive_reference(args.orders)
    print(f"engine core, market orders (create + book walk + fee + balances): {market_rate:,.0f} orders/s")
    print(f"engine core, limit orders (create + reserve + fill on a crossing candle): {limit_rate:,.0f} orders/s")
    print(f"reference, naive float matcher (no fees, no bookkeeping):           {reference:,.0f} orders/s")
    persisted_rate = persisted(args.persisted_orders)
    print(f"facade, one Postgres transaction per order (state + fills + outbox): {persisted_rate:,.0f} orders/s")
    target = 5_000
    verdict = "meets" if min(market_rate, limit_rate) >= target else "MISSES"
    print(f"target >= {target:,} orders/s in-process (engine core): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
