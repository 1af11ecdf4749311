from __future__ import annotations

import math
import os
import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from dsta.data.backtesting import jobs
from dsta.data.backtesting.metrics import Metrics
from dsta.data.backtesting.runner import BacktestInputError
from dsta.data.bars import load_bars
from dsta.data.contracts import BacktestRequest
from dsta.data.models import BacktestResult
from dsta.kernel.ta_lib import load_talib

IMPORTED = time.perf_counter()


def _parse_params(pairs: list[str]) -> dict[str, float]:
    params: dict[str, float] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise CommandError(f"--param {pair!r}: expected NAME=VALUE")
        try:
            params[name] = float(value)
        except ValueError:
            raise CommandError(f"--param {pair!r}: {value!r} is not a number") from None
    return params


def _decimal(name: str, value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise CommandError(f"--{name}: {value!r} is not a number") from None


def _date(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--{name}: {value!r} is not an ISO date (e.g. 2025-01-31)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Backtest a strategy on stored candles; prints the metrics and writes an HTML report."
    # System checks import the whole URL conf (every view, DRF, drf_spectacular, the admin): seconds of
    # start-up for a command that serves nothing. `manage.py check` and every server still run them.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--strategy", required=True, help="e.g. sma_cross, rsi_reversion")
        parser.add_argument(
            "--symbol",
            action="append",
            required=True,
            help="repeat for a portfolio: one shared cash account over the symbols (e.g. --symbol BTC/USDT"
            " --symbol ETH/USDT)",
        )
        parser.add_argument("--timeframe", required=True)
        parser.add_argument("--exchange", default="binance")
        parser.add_argument("--param", action="append", default=[], help="NAME=VALUE, repeatable")
        parser.add_argument("--fee", default="0.001", help="commission, fraction of notional (0.001 = 0.1%%)")
        parser.add_argument("--slippage", default="0")
        parser.add_argument("--cash", default="10000")
        parser.add_argument("--fill-at", default="next_open", choices=["next_open", "close"])
        parser.add_argument("--engine", default="auto", choices=["auto", "event", "fast"])
        parser.add_argument("--start")
        parser.add_argument("--end")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: object, **options: object) -> None:
        given = options["symbol"]  # a list from the command line; call_command may pass one string
        symbols = [given] if isinstance(given, str) else list(given)  # type: ignore[call-overload]
        if len(set(symbols)) != len(symbols):
            raise CommandError("--symbol: each symbol once")
        request = BacktestRequest(
            strategy=str(options["strategy"]),
            params=_parse_params(options["param"]),  # type: ignore[arg-type]
            exchange=str(options["exchange"]),
            symbol=symbols[0],
            symbols=tuple(symbols) if len(symbols) > 1 else (),
            timeframe=str(options["timeframe"]),
            start=_date("start", options["start"]),
            end=_date("end", options["end"]),  # type: ignore[arg-type]
            initial_cash=_decimal("cash", str(options["cash"])),
            commission=_decimal("fee", str(options["fee"])),
            slippage=_decimal("slippage", str(options["slippage"])),
            fill_at=str(options["fill_at"]),
            engine=str(options["engine"]),
        )
        timings = {"start-up": process_age_seconds()}
        try:
            job = jobs.job_create(request)
            loading = time.perf_counter()
            for symbol in symbols:  # read here to time it; the run finds them in the bar cache
                load_bars(
                    exchange=request.exchange,
                    symbol=symbol,
                    timeframe=request.timeframe,
                    start=request.start,
                    end=request.end,
                )
            timings["load"] = time.perf_counter() - loading
            load_talib()  # while this is the only thread: tqdm's starts with the bar (dsta/kernel/ta_lib.py)
            with tqdm(total=100, unit="%", disable=bool(options["no_progress"]), desc="backtest") as bar:

                def progress(fraction: float) -> None:
                    bar.update(int(fraction * 100) - bar.n)

                jobs.job_execute(str(job.pk), on_progress=progress, timings=timings)
                bar.update(100 - bar.n)
        except BacktestInputError as exc:
            raise CommandError("; ".join(f"{field}: {message}" for field, message in exc.errors.items())) from exc
        result = BacktestResult.objects.using("data").get(job=job)
        job.refresh_from_db()
        traded = f" over {', '.join(symbols)} (shared cash)" if len(symbols) > 1 else ""
        self.stdout.write(f"backtest {job.pk} ({job.engine_used} engine){traded}")
        width = max(len(name) for name in result.metrics)
        for name in Metrics.__dataclass_fields__:
            value = result.metrics[name]
            shown = f"{value:,.4f}" if isinstance(value, float) and math.isfinite(value) else str(value)
            self.stdout.write(f"  {name.ljust(width)}  {shown}")
        self.stdout.write(f"report: {jobs.report_location(result.report_path) if result.report_path else ''}")
        self.stdout.write(
            "seconds: "
            + ", ".join(f"{phase} {seconds:.2f}" for phase, seconds in timings.items())
            + f"; total {process_age_seconds():.2f}"
        )


def process_age_seconds() -> float:
    """Seconds since this process started (interpreter and Django start-up included), from /proc on Linux;
    elsewhere since the command module was imported."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - IMPORTED
