"""Wall and CPU of `manage.py backtest` (sma_cross 10/20 over the bundled 12.5k BTC/USDT 1h bars), start-up
and interpreter exit included, next to references measured in the same run: `python -c pass`,
`python -c "import django; django.setup()"` and `manage.py check`.

Run: `uv run python bench/cli_startup.py [--repeat 5]`. Target (issue 19 item 4): `manage.py backtest` <= 2 s
wall. The commands run round-robin (so the machine's load falls on all of them alike), each in a fresh
process; CPU is the child's user+sys from wait4. Two modes: as the environment is (here
PYTHONDONTWRITEBYTECODE=1: every process compiles every module again) and with a bytecode cache
(PYTHONPYCACHEPREFIX, the variable unset; one warm-up run first, not counted), as a user's install has.
Printed: min, median and max of each, and the backtest's own split (start-up, load, run, report) medians.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchenv import ROOT, configure_environment, setup_django  # noqa: E402

PYTHON = sys.executable
BACKTEST = ["manage.py", "backtest", "--strategy", "sma_cross", "--symbol", "BTC/USDT", "--timeframe", "1h"]
COMMANDS = {
    "python -c pass": [PYTHON, "-c", "pass"],
    "django.setup()": [PYTHON, "-c", "import django; django.setup()"],
    "manage.py check": [PYTHON, "manage.py", "check"],
    "manage.py backtest": [PYTHON, *BACKTEST, "--param", "fast=10", "--param", "slow=20", "--no-progress"],
}
SPLIT = re.compile(r"seconds: start-up ([\d.]+), load ([\d.]+), run ([\d.]+), report ([\d.]+); total ([\d.]+)")


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert child.stdout is not None
    output = child.stdout.read().decode()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {child.returncode}:\n{output}")
    return wall, usage.ru_utime + usage.ru_stime, output


def spread(values: list[float]) -> str:
    return f"{min(values):6.2f} {statistics.median(values):6.2f} {max(values):6.2f}"


def measure(mode: str, env: dict[str, str], repeat: int) -> None:
    walls: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpus: dict[str, list[float]] = {name: [] for name in COMMANDS}
    phases: list[tuple[float, ...]] = []
    for _ in range(repeat):
        for name, command in COMMANDS.items():
            wall, cpu, output = timed(command, env)
            walls[name].append(wall)
            cpus[name].append(cpu)
            if (found := SPLIT.search(output)) is not None:
                phases.append(tuple(float(value) for value in found.groups()))
    print(f"\n{mode} ({repeat} runs each; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"{'':20} {'wall s: min median max':>24}   {'CPU s: min median max':>22}")
    for name in COMMANDS:
        print(f"{name:20} {spread(walls[name]):>24}   {spread(cpus[name]):>22}")
    backtest, setup = statistics.median(walls["manage.py backtest"]), statistics.median(walls["django.setup()"])
    print(f"backtest / django.setup() wall (medians): {backtest / setup:.2f}; target backtest <= 2 s wall")
    names = ("start-up", "load", "run", "report", "total (printed)")
    medians = [statistics.median(values) for values in zip(*phases, strict=True)]
    print("backtest split, medians: " + ", ".join(f"{n} {m:.2f}" for n, m in zip(names, medians, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    setup_django()  # the bench database, migrated; the children inherit its DATABASE_URL
    from django.core.management import call_command

    from dsta.data.bars import load_bars

    if len(load_bars(exchange="binance", symbol="BTC/USDT", timeframe="1h")) < 12_000:
        with open(os.devnull, "w") as quiet:
            call_command("load_demo_data", paper_funds="", stdout=quiet)
    configure_environment()
    plain = dict(os.environ)
    cached = {key: value for key, value in plain.items() if key != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = "/tmp/pycache-cli-bench"
    for command in COMMANDS.values():
        timed(command, cached)  # compile into the cache once
    print(f"bars: {len(load_bars(exchange='binance', symbol='BTC/USDT', timeframe='1h')):,} BTC/USDT 1h")
    measure(
        f"as the environment is (PYTHONDONTWRITEBYTECODE={plain.get('PYTHONDONTWRITEBYTECODE', '')!r})",
        plain,
        args.repeat,
    )
    measure("with a bytecode cache (PYTHONPYCACHEPREFIX)", cached, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
