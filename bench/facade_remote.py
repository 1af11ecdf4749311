"""Exchange facade calls in-process vs over loopback to `manage.py serve_domain exchange`, in the same run.

Three representative calls: `venues_list` (small, no database), `ticker_get` on the paper venue (one read) and
`order_submit` of a paper market order (a write: idempotency key in Redis, the order, its fill and the balances).
Prints p50/p99 per call and calls/s on one caller thread, and the remote/in-process ratio. Target: a small
remote call's p99 under 5 ms on this machine.

    uv run --frozen --no-sync python bench/facade_remote.py [--calls 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from itertools import count

import benchenv

benchenv.configure_environment()
os.environ.setdefault("DSTA_RPC_KEY_EXCHANGE", "bench-only-rpc-key")  # DEBUG is off: no derived key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def timed(call, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def summary(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2] * 1e3
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3
    return p50, p99, len(samples) / sum(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    benchenv.setup_django()
    from order_env import prepare_market

    from dsta.exchange import api as exchange
    from dsta.exchange.contracts import OrderRequest, OrderSide, OrderType
    from dsta.kernel.rpc import client
    from dsta.kernel.tests.served import wait_ready

    prepare_market()
    port = free_port()
    env = {**os.environ, "DSTA_SERVED_DOMAIN": "exchange"}
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "serve_domain", "exchange", "--port", str(port)],
        cwd=benchenv.ROOT,
        env=env,
    )
    ids = count()
    calls = {
        "venues_list": lambda: exchange.venues_list(),
        "ticker_get": lambda: exchange.ticker_get(venue="paper", symbol="BTC/USDT"),
        "order_submit": lambda: exchange.order_submit(
            venue="paper",
            request=OrderRequest("BTC/USDT", OrderSide.BUY, OrderType.MARKET, Decimal("0.001"), f"b{next(ids)}"),
        ),
    }
    try:
        assert wait_ready(f"http://127.0.0.1:{port}", timeout=120), "serve_domain did not start"
        results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        for _ in range(args.repeats):
            for mode in ("in_process", "remote"):
                if mode == "remote":
                    client.install("exchange", f"http://127.0.0.1:{port}")
                for name, call in calls.items():
                    timed(call, 50)  # warm: connections, prepared statements
                    results.setdefault((name, mode), []).append(summary(timed(call, args.calls)))
                client.uninstall("exchange")
        print(f"{'call':<14}{'mode':<12}{'p50 ms':>9}{'p99 ms':>9}{'calls/s':>10}   (median of {args.repeats} runs)")
        for name in calls:
            rows = {}
            for mode in ("in_process", "remote"):
                runs = results[(name, mode)]
                p50, p99, rate = (statistics.median(run[i] for run in runs) for i in range(3))
                spread = max(run[1] for run in runs) - min(run[1] for run in runs)
                rows[mode] = (p50, p99, rate)
                print(f"{name:<14}{mode:<12}{p50:>9.3f}{p99:>9.3f}{rate:>10.0f}   p99 spread {spread:.3f} ms")
            ratio = rows["remote"][0] / rows["in_process"][0]
            print(f"{'':<14}{'ratio':<12}{ratio:>9.1f}x p50   remote p99 {rows['remote'][1]:.2f} ms (target < 5 ms)")
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
