"""Candle close to orders at the venue (issue 14, Performance): 100 paper markets x 2 sma_cross instances whose
bars close together, every instance ordering at every bar. Figure: from the commit of the 100 candles (their
`data.candle_closed` events in the same transaction) to the last of the 200 orders acknowledged by the paper
venue, p50/p99 over 10 closes. Reference in the same run: the same number of bare paper submits
(`exchange.api.order_submit`) in one loop. Target on 2 cores: p99 <= 2 s and <= 3x the reference.

Measured in one process: the worker's handler functions for the bot (marks, strategies, the bot's order saga)
are called in order for every market, as `manage.py bot replay-file` does; the relay's and the broker's hops
(a NOTIFY wake-up and a Redis round trip per event) are not in the figure.

Run: `uv run python bench/bot_candle_to_orders.py [--markets 100] [--closes 10]` (DATABASE_URL / REDIS_URL as
the other benchmarks; its own database `<name>_bench`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchenv import setup_django  # noqa: E402


def percentile(samples: list[float], fraction: float) -> float:
    return sorted(samples)[max(int(round(len(samples) * fraction)) - 1, 0)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, default=100)
    parser.add_argument("--closes", type=int, default=10)
    args = parser.parse_args()
    setup_django()
    import bot_env

    from dsta.exchange import api as exchange_api
    from dsta.exchange.contracts import OrderBook, OrderRequest, OrderSide, OrderType, PriceLevel

    instances = bot_env.prepare(args.markets)
    markets = bot_env.symbols(args.markets)
    for index in range(bot_env.WARMUP_BARS):  # history for the slow average, and imports/caches warm
        bot_env.close_all(markets, index)
        bot_env.deal_with(markets, index)
    closes: list[float] = []
    references: list[float] = []
    close_cpu: list[float] = []  # this process's own CPU (Postgres's is not in it): steadier on a busy machine
    reference_cpu: list[float] = []
    orders = len(instances)
    for n in range(args.closes):
        index = bot_env.WARMUP_BARS + n
        committed = bot_env.close_all(markets, index)
        cpu = time.process_time()
        placed = bot_env.deal_with(markets, index)
        closes.append(time.perf_counter() - committed)
        close_cpu.append(time.process_time() - cpu)
        if placed != orders:
            print(f"close {n}: {placed} orders placed, expected {orders}")
            return 1
        # the reference: as many bare submits to the paper venue, against a book as the bot's orders have
        symbol = markets[0]
        level = (PriceLevel(Decimal(100), Decimal(10**9)),)
        exchange_api.paper_book_feed(book=OrderBook("paper", symbol, bot_env.T0, bids=level, asks=level))
        exchange_api.paper_deposit(asset="USDT", amount=Decimal(10**9))
        started, cpu = time.perf_counter(), time.process_time()
        for k in range(orders):
            request = OrderRequest(
                symbol, OrderSide.BUY, OrderType.LIMIT, Decimal("0.01"), f"ref-{n}-{k}-{time.time_ns()}", Decimal(100)
            )
            exchange_api.order_submit(venue="paper", request=request)
        references.append(time.perf_counter() - started)
        reference_cpu.append(time.process_time() - cpu)
    p50, p99 = statistics.median(closes), percentile(closes, 0.99)
    r50, r99 = statistics.median(references), percentile(references, 0.99)
    print(f"{args.markets} markets x 2 instances, {orders} orders per close, {args.closes} closes, one process")
    print(
        f"reference: {orders} bare paper submits      p50 {r50:6.3f} s  p99 {r99:6.3f} s"
        f"  (min {min(references):.3f}, max {max(references):.3f})"
    )
    print(
        f"candle commit -> last order acknowledged p50 {p50:6.3f} s  p99 {p99:6.3f} s"
        f"  (min {min(closes):.3f}, max {max(closes):.3f})"
    )
    print(f"ratio p99/p99 {p99 / r99:.2f}x (target <= 3x); p99 {'<=' if p99 <= 2 else '>'} 2 s target")
    c50, rc50 = statistics.median(close_cpu), statistics.median(reference_cpu)
    print(f"process CPU per close: bot {c50:.3f} s, reference {rc50:.3f} s ({c50 / rc50:.2f}x; medians)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
