"""Run the service restart test (Postgres, then Redis, restarted under a stream of orders) N times, each in a
pytest run of its own (its own private Postgres and Redis), and print the tally. Not part of CI.

Run: `uv run --frozen --no-sync python scripts/soak_restarts.py 20 [--test tests/reliability/test_broker_reconnect.py]`

Per run: passed or failed, its duration, and the figures the test records (orders acknowledged; event
deliveries tried, survived, lost and duplicated over every consumer). The last lines sum them over the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEST = "tests/reliability/test_service_restarts.py"
FIGURES = ("tried", "survived", "lost", "duplicated")


def run_once(test: str, log_dir: Path, index: int) -> tuple[bool, float, list[dict]]:
    tally_path = log_dir / f"tally-{index}.jsonl"
    env = dict(os.environ, DSTA_RELIABILITY_TALLY=str(tally_path))
    started = time.monotonic()
    with (log_dir / f"run-{index}.log").open("wb") as log:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", test, "-q", "-x", "-p", "no:randomly"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    figures = [json.loads(line) for line in tally_path.read_text().splitlines()] if tally_path.exists() else []
    return result.returncode == 0, time.monotonic() - started, figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=int)
    parser.add_argument("--test", default=DEFAULT_TEST)
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("runs must be at least 1")
    log_dir = Path(tempfile.mkdtemp(prefix="dsta-soak-"))
    print(f"{args.runs} runs of {args.test}; logs in {log_dir}", flush=True)
    passed = 0
    totals = dict.fromkeys(FIGURES, 0)
    for index in range(1, args.runs + 1):
        ok, seconds, figures = run_once(args.test, log_dir, index)
        passed += ok
        for entry in figures:
            for name in FIGURES:
                totals[name] += int(entry.get(name, 0))
        shown = "; ".join(
            f"{entry['test']}: " + ", ".join(f"{key} {value}" for key, value in entry.items() if key != "test")
            for entry in figures
        )
        outcome = "passed" if ok else "FAILED"
        print(f"run {index:>3}: {outcome} in {seconds:5.0f} s  {shown or 'no figures'}", flush=True)
    print(f"runs: tried {args.runs}, survived (passed) {passed}, failed {args.runs - passed}")
    print("deliveries over all runs: " + ", ".join(f"{name} {totals[name]}" for name in FIGURES))
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
