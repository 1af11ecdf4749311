"""Candle close to orders at the venue (issue 14, Performance): 100 paper markets x 2 sma_cross instances whose
bars close together, every instance ordering at every bar. Figure: from the commit of the 100 candles (their
`data.candle_closed` events in the same transaction) to the last of the 200 orders acknowledged by the paper
venue, p50/p99 over 10 closes. Reference in the same run: the same number of bare paper submits
(`exchange.api.order_submit`) in one loop. Target on 2 cores: p99 <= 2 s and <= 3x the reference.

What runs is what the relay and the worker pool do, minus the broker's hop (a Redis round trip per message):
after the commit this process claims the events from the data outbox as the relay does and cuts them into the
messages the relay would send (`kernel.relay.delivery_batches`: per consuming domain, split by market into
DSTA_OUTBOX_PARTITIONS parts); `--processes` worker processes (forked, default 2 as in `./dev up` and
docker/compose.yaml) take the messages from one shared queue, as dramatiq consumers take a queue's, and run
`kernel.handlers.deliver` on each: the inbox, then every subscribed handler (marks, stops, strategies with the
bot's order saga, ml's live predictions). The clock stops when the last message is done.
`--processes 1` is one worker process doing the whole close.

Run: `uv run python bench/bot_candle_to_orders.py [--markets 100] [--closes 10] [--processes 2]`
(DATABASE_URL / REDIS_URL as the other benchmarks; its own database `<name>_bench`).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
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


def work(tasks, done) -> None:  # type: ignore[no-untyped-def]
    """A worker process: deliver each message taken from the shared queue; report (close, CPU, done time)."""
    from dsta.kernel.events import EventEnvelope
    from dsta.kernel.handlers import deliver

    while (task := tasks.get()) is not None:
        close, domain, batch = task
        cpu = time.process_time()
        deliver([EventEnvelope.from_message(message) for message in batch], domain=domain)
        done.put((close, time.process_time() - cpu, time.perf_counter()))


class WorkerPool:
    def __init__(self, processes: int) -> None:
        from django.db import connections

        connections.close_all()  # a forked child opens its own
        context = multiprocessing.get_context("fork")
        self.tasks, self.done = context.Queue(), context.Queue()
        self.children = [context.Process(target=work, args=(self.tasks, self.done)) for _ in range(processes)]
        for child in self.children:
            child.start()

    def deliver_close(self, close: int) -> tuple[float, float]:
        """Relay the committed close and wait for its messages: (the last one's done time, workers' CPU)."""
        import bot_env

        messages = bot_env.relay_close()
        for domain, batch in messages:
            self.tasks.put((close, domain, batch))
        finished, cpu = 0.0, 0.0
        for _ in messages:
            done_close, used, at = self.done.get()
            assert done_close == close  # nosec B101
            finished, cpu = max(finished, at), cpu + used
        return finished, cpu

    def stop(self) -> None:
        for _ in self.children:
            self.tasks.put(None)
        for child in self.children:
            child.join()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, default=100)
    parser.add_argument("--closes", type=int, default=10)
    parser.add_argument("--processes", type=int, default=2, help="worker processes sharing a close's messages")
    args = parser.parse_args()
    setup_django()
    import bot_env
    from django.conf import settings

    from dsta.exchange import api as exchange_api
    from dsta.exchange.contracts import OrderBook, OrderRequest, OrderSide, OrderType, PriceLevel

    instances = bot_env.prepare(args.markets)
    markets = bot_env.symbols(args.markets)
    pool = WorkerPool(args.processes)
    for index in range(bot_env.WARMUP_BARS):  # history for the slow average, and imports/caches warm
        bot_env.close_all(markets, index)
        pool.deliver_close(index)
    closes: list[float] = []
    references: list[float] = []
    close_cpu: list[float] = []  # the workers' own CPU (Postgres's is not in it): steadier on a busy machine
    reference_cpu: list[float] = []
    orders = len(instances)
    loads = []
    for n in range(args.closes):
        index = bot_env.WARMUP_BARS + n
        committed = bot_env.close_all(markets, index)
        finished, cpu = pool.deliver_close(index)
        closes.append(finished - committed)
        close_cpu.append(cpu)
        loads.append(os.getloadavg()[0])
        placed = bot_env.orders_at(index)
        if placed != orders:
            print(f"close {n}: {placed} orders placed, expected {orders}")
            pool.stop()
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
    pool.stop()
    p50, p99 = statistics.median(closes), percentile(closes, 0.99)
    r50, r99 = statistics.median(references), percentile(references, 0.99)
    print(
        f"{args.markets} markets x 2 instances, {orders} orders per close, {args.closes} closes, "
        f"{args.processes} worker process(es), DSTA_OUTBOX_PARTITIONS={settings.OUTBOX_PARTITIONS}, "
        f"load {min(loads):.1f}-{max(loads):.1f}"
    )
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
    print(f"CPU per close: bot's workers {c50:.3f} s, reference {rc50:.3f} s ({c50 / rc50:.2f}x; medians)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
