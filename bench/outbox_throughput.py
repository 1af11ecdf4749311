"""Outbox throughput and commit-to-effect latency with one relay process and one worker process.

Run: `uv run python bench/outbox_throughput.py [--events 20000]` (uses DATABASE_URL / REDIS_URL, or the
embedded services started by `./dev services`). It creates its own database `<name>_bench`.

Phase 1 (throughput): two producer threads (as two web workers would) commit events as fast as they
can, in transactions of 50, first with publish() per event, then with publish_many(); the figure is
events per second from the first commit to the last handler effect. With publish() on 2 cores the
producers themselves are the limit; publish_many() shows what the relay and worker sustain.
Phase 2 (latency): events are committed at a steady 1,000/s in transactions of 10; the figure is the
p50/p99 of (effect applied - transaction start), both read from the database clock.
Reference (same process): the producer writing the effect rows itself, with no outbox, relay or broker.
Targets (issue 2): >= 2,000 events/s and p99 < 250 ms on a 2-core machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchenv import setup_django  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--latency-events", type=int, default=5_000)
    parser.add_argument("--worker-threads", type=int, default=8)
    parser.add_argument("--producers", type=int, default=2, help="threads committing events concurrently")
    args = parser.parse_args()

    setup_django()
    import redis
    from django.conf import settings
    from django.db import connections, transaction

    from dsta.kernel.tests import processes
    from dsta.kernel.tests.probe import EFFECT_ALIAS, effect_counts, publish_pings, reset_effects

    broker = redis.Redis.from_url(settings.REDIS_URL)

    def clean() -> None:
        broker.flushdb()
        reset_effects()
        with connections["data"].cursor() as cursor:
            cursor.execute("TRUNCATE outbox")

    def wait_for(total: int, timeout: float = 300) -> float:
        assert processes.wait_until(lambda: effect_counts()[1] >= total, timeout=timeout, interval=0.02), (
            f"only {effect_counts()} of {total} effects"
        )
        return time.perf_counter()

    # Reference: the effect written directly by the producer, same transaction size, no pipeline.
    clean()
    started = time.perf_counter()
    with connections[EFFECT_ALIAS].cursor() as cursor:
        for batch in range(args.events // 50):
            with transaction.atomic(using=EFFECT_ALIAS):
                cursor.executemany(
                    "INSERT INTO probe_effect (event_id, aggregate, seq, sent_at)"
                    " VALUES (gen_random_uuid(), %s, %s, now())",
                    [(f"agg-{batch % 64}", batch * 50 + n) for n in range(50)],
                )
    reference_rate = args.events / (time.perf_counter() - started)

    log_dir = Path(tempfile.mkdtemp(prefix="dsta-bench-"))
    children = [
        processes.worker(log_dir, modules=("dsta.kernel.tests.probe",), threads=args.worker_threads).start(),
        processes.relay(log_dir).start(),
    ]
    try:
        time.sleep(3)  # let both processes boot before the clock starts
        batches = args.events // 50

        def produce(first: int, bulk: bool) -> None:
            try:
                for batch in range(first, batches, args.producers):
                    publish_pings(aggregate=f"agg-{batch % 64}", start=batch * 50, count=50, batch=bulk)
            finally:
                connections.close_all()

        def throughput_run(bulk: bool) -> tuple[float, float]:
            clean()
            producers = [threading.Thread(target=produce, args=(n, bulk)) for n in range(args.producers)]
            started = time.perf_counter()
            for thread in producers:
                thread.start()
            for thread in producers:
                thread.join()
            committed = time.perf_counter()
            finished = wait_for(args.events)
            return args.events / (committed - started), args.events / (finished - started)

        single_commit_rate, single_throughput = throughput_run(bulk=False)
        commit_rate, throughput = throughput_run(bulk=True)

        clean()
        per_transaction, rate = 10, 1_000
        interval = per_transaction / rate
        next_at = time.perf_counter()
        for batch in range(args.latency_events // per_transaction):
            publish_pings(aggregate=f"agg-{batch % 64}", start=batch * per_transaction, count=per_transaction)
            next_at += interval
            time.sleep(max(0.0, next_at - time.perf_counter()))
        wait_for(args.latency_events)
        with connections[EFFECT_ALIAS].cursor() as cursor:
            cursor.execute("SELECT extract(epoch FROM applied_at - sent_at) * 1000 FROM probe_effect")
            latencies = sorted(float(row[0]) for row in cursor.fetchall())
    finally:
        for child in children:
            child.stop()

    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"reference (direct effect writes, no outbox):   {reference_rate:10,.0f} events/s")
    print(
        f"publish() one by one: producers commit {single_commit_rate:,.0f}/s,"
        f" commit -> effect {single_throughput:,.0f} events/s (bounded by the producers on 2 cores)"
    )
    print(f"publish_many():       producers commit {commit_rate:,.0f}/s, commit -> effect {throughput:,.0f} events/s")
    print(
        f"outbox throughput (1 relay, 1 worker):         {throughput:10,.0f} events/s"
        f"  ({throughput / reference_rate:.2f}x reference)   target >= 2,000"
    )
    print(
        f"latency at 1,000 events/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms"
        "   target p99 < 250 ms"
    )
    ok = throughput >= 2_000 and p99 < 250
    print("PASS" if ok else "BELOW TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
