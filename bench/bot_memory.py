"""Worker memory under the bot (issue 14, Performance): the RSS of a process doing the worker's bot work over
many closes of many markets, each instance ordering at every bar: each close's candle events claimed from the
data outbox and cut into the relay's messages (bot_env.relay_close), each message run through
`kernel.handlers.deliver` as the worker's delivery actor runs it (inbox, marks, stops, strategies with the
order saga on the paper venue, ml's live predictions). Figure: RSS growth from the end of the warm-up (the
first fifth of the bars) to the end; target < 10%. Reference in the same run: the RSS after the warm-up
itself, and its growth over the same number of bare paper submits in a loop (what the venue alone keeps).

The issue's size is 1,000 bars x 100 markets (200,000 orders here, where every instance trades every bar); on this
shared 2-core machine a bar of 100 markets takes seconds, so the default is scaled down (--bars, --markets):
the figure printed says what was run.

Run: `uv run python bench/bot_memory.py [--bars 200] [--markets 10]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchenv import setup_django  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * PAGE / 2**20


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=200)
    parser.add_argument("--markets", type=int, default=10)
    args = parser.parse_args()
    setup_django()
    import gc

    import bot_env

    from dsta.exchange import api as exchange_api
    from dsta.exchange.contracts import OrderBook, OrderRequest, OrderSide, OrderType, PriceLevel
    from dsta.kernel.events import EventEnvelope
    from dsta.kernel.handlers import deliver

    bot_env.prepare(args.markets)
    markets = bot_env.symbols(args.markets)
    warmup = max(args.bars // 5, bot_env.WARMUP_BARS + 1)
    samples: list[tuple[int, float]] = []
    started = time.perf_counter()
    orders = 0
    for index in range(args.bars):
        bot_env.close_all(markets, index)
        for domain, batch in bot_env.relay_close():
            deliver([EventEnvelope.from_message(message) for message in batch], domain=domain)
        orders += bot_env.orders_at(index)
        if index + 1 == warmup or (index + 1) % max(args.bars // 10, 1) == 0:
            gc.collect()
            samples.append((index + 1, rss_mib()))
            seconds = time.perf_counter() - started
            print(f"after {index + 1} bars: {orders} orders, {seconds:.0f} s, RSS {samples[-1][1]:.1f} MiB", flush=True)
    elapsed = time.perf_counter() - started
    after_warmup = next(rss for bars, rss in samples if bars == warmup)
    final = samples[-1][1]
    growth = (final - after_warmup) / after_warmup * 100

    symbol = markets[0]
    level = (PriceLevel(Decimal(100), Decimal(10**12)),)
    exchange_api.paper_book_feed(book=OrderBook("paper", symbol, bot_env.T0, bids=level, asks=level))
    exchange_api.paper_deposit(asset="USDT", amount=Decimal(10**12))
    gc.collect()
    before_reference = rss_mib()
    for k in range(orders):
        request = OrderRequest(
            symbol, OrderSide.BUY, OrderType.LIMIT, Decimal("0.01"), f"mem-{k}-{time.time_ns()}", Decimal(100)
        )
        exchange_api.order_submit(venue="paper", request=request)
    gc.collect()
    reference_growth = (rss_mib() - before_reference) / before_reference * 100

    print(
        f"{args.bars} bars x {args.markets} markets x 2 instances: {orders} orders in {elapsed:.0f} s "
        f"({args.bars * args.markets / elapsed:.1f} market-bars/s), one process"
    )
    print("RSS (MiB) after N bars: " + ", ".join(f"{bars}: {rss:.1f}" for bars, rss in samples))
    print(f"growth after the warm-up ({warmup} bars, {after_warmup:.1f} MiB) to the end: {growth:+.1f}% (target < 10%)")
    print(f"reference: {orders} bare paper submits from {before_reference:.1f} MiB: {reference_growth:+.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
