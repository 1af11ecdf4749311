"""Pre-trade risk check latency, in-process: p50/p99 over 100,000 checks of a realistic book (20 symbols),
against a reference measured in the same run: constructing the order intent alone.

Run: `uv run python bench/risk_check.py`. Target (issue 6): p99 < 200 us.
"""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dsta.trading.risk import BookSnapshot, OrderIntent, RiskLimits, check_order  # noqa: E402

CHECKS = 100_000


def percentile(samples: list[int], fraction: float) -> float:
    return sorted(samples)[int(len(samples) * fraction) - 1] / 1_000


def main() -> int:
    limits = RiskLimits(Decimal("100000"), Decimal("250000"), Decimal("1000000"), 50, Decimal("5"), 600)
    symbols = [f"C{n}/USDT" for n in range(20)]
    book = BookSnapshot(
        positions={s: Decimal("1.5") for s in symbols},
        last_prices={s: Decimal("1234.5") for s in symbols},
        open_orders=3,
        orders_last_minute=20,
    )
    clock = time.perf_counter_ns
    reference, checks = [], []
    for n in range(CHECKS):
        symbol = symbols[n % 20]
        started = clock()
        intent = OrderIntent(symbol, "buy" if n % 2 else "sell", Decimal("0.25"), "limit", Decimal("1240"))
        middle = clock()
        decision = check_order(intent, limits, book)
        finished = clock()
        assert decision.approved
        reference.append(middle - started)
        checks.append(finished - middle)
    print(f"risk check over a 20-symbol book, {CHECKS:,} checks")
    p50_ref, p99_ref = percentile(reference, 0.5), percentile(reference, 0.99)
    p50, p99 = percentile(checks, 0.5), percentile(checks, 0.99)
    print(f"reference (build the intent): p50 {p50_ref:6.1f} us  p99 {p99_ref:6.1f} us")
    print(f"check_order:                  p50 {p50:6.1f} us  p99 {p99:6.1f} us   target p99 < 200 us")
    print("PASS" if p99 < 200 else "BELOW TARGET")
    return 0 if p99 < 200 else 1


if __name__ == "__main__":
    sys.exit(main())
