"""A 100-trial grid optimisation of SMA crossover on the real BTC/USDT 5m series, fanned out over the
dramatiq worker pool: one worker process (the reference, same run) against two.

Run: `uv run python bench/optimisation_pool.py` (uses DATABASE_URL / REDIS_URL, or the embedded services of
`./dev services`; creates its own database `<name>_bench`). The figure: wall time from submitting the
optimisation to its ranked result, and the speed-up of two workers over one (2 cores here, so <= 2x).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
SOURCE = ROOT.parent / "shared" / "data" / "binance" / "BTC_USDT-5m.csv.gz"
SPACE = {"fast": [5, 10, 15, 20, 25, 30, 35, 40, 45, 50], "slow": [60, 80, 100, 120, 140, 160, 180, 200, 220, 240]}


def main() -> int:
    if not SOURCE.exists():
        print(f"skipped: {SOURCE} is not here (the 5m data lives in ../shared/data)")
        return 0
    from benchenv import setup_django

    setup_django()
    import redis
    from django.conf import settings

    from dsta.data.backtesting.actors import run_optimisation
    from dsta.data.backtesting.optimisation import optimisation_create
    from dsta.data.contracts import BacktestRequest
    from dsta.data.models import BacktestJob
    from dsta.data.services import candles_import_file
    from dsta.kernel.tests import processes

    candles_import_file(path=SOURCE, exchange="binance", symbol="BTC/USDT", timeframe="5m")
    broker = redis.Redis.from_url(settings.REDIS_URL)
    base = BacktestRequest(strategy="sma_cross", params={}, exchange="binance", symbol="BTC/USDT", timeframe="5m")
    log_dir = Path(tempfile.mkdtemp(prefix="dsta-bench-"))

    def run_with(workers: int) -> float:
        broker.flushdb()
        pool = [processes.worker(log_dir, threads=1, name=f"w{workers}-{n}").start() for n in range(workers)]
        try:
            time.sleep(4)  # boot
            started = time.perf_counter()
            parent = optimisation_create(base, method="grid", space=SPACE)
            run_optimisation.send(str(parent.pk))
            finished = processes.wait_until(
                lambda: BacktestJob.objects.using("data").get(pk=parent.pk).status in ("succeeded", "failed"),
                timeout=600,
                interval=0.1,
            )
            elapsed = time.perf_counter() - started
            parent.refresh_from_db()
            assert finished and parent.status == "succeeded", parent.error
            assert BacktestJob.objects.using("data").filter(parent=parent, status="succeeded").count() == 100
            return elapsed
        finally:
            for worker in pool:
                worker.stop()

    one, two = run_with(1), run_with(2)
    print("100-trial grid, SMA crossover, BTC/USDT 5m (~120k bars per trial)")
    print(f"1 worker (reference): {one:6.1f} s   ({100 / one:5.1f} trials/s)")
    print(f"2 workers:            {two:6.1f} s   ({100 / two:5.1f} trials/s)   speed-up {one / two:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
