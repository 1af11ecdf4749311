"""`manage.py optimize`: a grid optimisation on stored candles, run here (no worker pool needed) through
the same trials, batches, engine and ranking as `POST /api/v1/backtest/optimize`."""

from __future__ import annotations

import math
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from dsta.data.backtesting import fills, optimisation, trial_batches
from dsta.data.backtesting.runner import BacktestInputError
from dsta.data.bars import Bars
from dsta.data.contracts import BacktestRequest
from dsta.data.management.commands.backtest import _date, _decimal, _parse_params
from dsta.data.models import BacktestJob, BacktestResult

MAX_WORKERS = 64


def parse_grid(specs: list[str]) -> dict[str, list[float]]:
    """NAME=START:STOP:STEP with STOP included (when STEP lands on it), e.g. fast=5:50:5."""
    space: dict[str, list[float]] = {}
    for spec in specs:
        name, separator, rest = spec.partition("=")
        parts = rest.split(":")
        if not separator or not name or len(parts) != 3:
            raise CommandError(f"--grid {spec!r}: expected NAME=START:STOP:STEP (e.g. fast=5:50:5)")
        try:
            start, stop, step = (Decimal(part) for part in parts)
        except ArithmeticError:
            raise CommandError(f"--grid {spec!r}: START, STOP and STEP must be numbers") from None
        if not all(value.is_finite() for value in (start, stop, step)) or step <= 0 or stop < start:
            raise CommandError(f"--grid {spec!r}: needs STEP > 0 and STOP >= START")
        if name in space:
            raise CommandError(f"--grid {name}: given twice")
        count = int((stop - start) / step) + 1  # Decimal: 0.1 steps land exactly on STOP
        if count > optimisation.MAX_TRIALS:
            raise CommandError(f"--grid {spec!r}: {count} values; at most {optimisation.MAX_TRIALS} trials in all")
        space[name] = [_number(start + index * step) for index in range(count)]
    return space


def _number(value: Decimal) -> float:
    return int(value) if value == value.to_integral_value() else float(value)


_series: dict[tuple[object, ...], Bars] = {}  # one optimisation per process: its batches share the bars


def _run_batch(trial_ids: list[str]) -> int:
    return trial_batches.batch_execute(trial_ids, series=_series)


class Command(BaseCommand):
    help = "Grid-optimise a strategy's parameters on stored candles; prints the trials ranked by the objective."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--strategy", required=True, help="e.g. sma_cross")
        parser.add_argument("--symbol", required=True)
        parser.add_argument("--timeframe", required=True)
        parser.add_argument(
            "--grid", action="append", required=True, help="NAME=START:STOP:STEP, STOP included; repeatable"
        )
        parser.add_argument("--param", action="append", default=[], help="fixed NAME=VALUE, repeatable")
        parser.add_argument("--objective", default="sharpe", choices=optimisation.OBJECTIVES)
        parser.add_argument("--workers", type=int, default=1, help="processes running batches of trials")
        parser.add_argument("--top", type=int, default=10, help="rows of the ranked table")
        parser.add_argument("--exchange", default="binance")
        parser.add_argument("--fee", default="0.001", help="commission, fraction of notional (0.001 = 0.1%%)")
        parser.add_argument("--slippage", default="0")
        parser.add_argument("--cash", default="10000")
        parser.add_argument("--fill-at", default="next_open", choices=["next_open", "close"])
        parser.add_argument("--engine", default="auto", choices=["auto", "event", "fast"])
        parser.add_argument("--start")
        parser.add_argument("--end")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: object, **options: object) -> None:
        workers, top = int(options["workers"]), int(options["top"])  # type: ignore[call-overload]
        if not 1 <= workers <= MAX_WORKERS:
            raise CommandError(f"--workers: between 1 and {MAX_WORKERS}")
        if top < 1:
            raise CommandError("--top: at least 1")
        given = options["grid"]
        space = parse_grid([given] if isinstance(given, str) else list(given))  # type: ignore[call-overload]
        base = BacktestRequest(
            strategy=str(options["strategy"]),
            params=_parse_params(options["param"]),  # type: ignore[arg-type]
            exchange=str(options["exchange"]),
            symbol=str(options["symbol"]),
            timeframe=str(options["timeframe"]),
            start=_date("start", options["start"]),  # type: ignore[arg-type]
            end=_date("end", options["end"]),  # type: ignore[arg-type]
            initial_cash=_decimal("cash", str(options["cash"])),
            commission=_decimal("fee", str(options["fee"])),
            slippage=_decimal("slippage", str(options["slippage"])),
            fill_at=str(options["fill_at"]),
            engine=str(options["engine"]),
        )
        started = time.perf_counter()
        try:
            parent = optimisation.optimisation_create(
                base, method="grid", space=space, objective=str(options["objective"])
            )
        except BacktestInputError as exc:
            raise CommandError("; ".join(f"{field}: {message}" for field, message in exc.errors.items())) from exc
        batches = optimisation.grid_start(str(parent.pk), send_batch=lambda batch: None)
        trials = sum(len(batch) for batch in batches)
        self._run(batches, trials=trials, workers=workers, progress=not options["no_progress"])
        optimisation.trials_progress(str(parent.pk))
        parent.refresh_from_db()
        if parent.status != BacktestJob.Status.SUCCEEDED:
            raise CommandError(f"optimisation {parent.pk} failed: {parent.error}")
        self._print(parent, top=top, seconds=time.perf_counter() - started, workers=workers)

    def _run(self, batches: list[list[str]], *, trials: int, workers: int, progress: bool) -> None:
        from tqdm import tqdm

        with tqdm(total=trials, unit="trial", disable=not progress, desc="optimise") as bar:
            if workers == 1 or len(batches) == 1:
                for batch in batches:
                    _run_batch(batch)
                    bar.update(len(batch))
                return
            fills.warm_up()  # compiled once here; the forked workers inherit it
            connections.close_all()  # each forked worker opens its own connections
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=min(workers, len(batches)), mp_context=context) as pool:
                pending = {pool.submit(_run_batch, batch): len(batch) for batch in batches}
                for future in as_completed(pending):
                    future.result()
                    bar.update(pending[future])

    def _print(self, parent: BacktestJob, *, top: int, seconds: float, workers: int) -> None:
        analysis = BacktestResult.objects.using("data").get(job=parent).analysis
        rows = analysis["trials"]
        snooping = analysis["data_snooping"]
        self.stdout.write(
            f"optimisation {parent.pk}: {len(rows)} trials in {seconds:.2f} s with {workers} worker(s),"
            f" ranked by {analysis['objective']}"
        )
        names = sorted(parent.options["space"])
        objective = [] if analysis["objective"] == "sharpe" else [analysis["objective"]]
        header = ["rank", *names, *objective, "sharpe", "return %", "max dd %", "trades"]
        table = [
            [
                str(rank),
                *(_shown(row["params"].get(name)) for name in names),
                *(_shown(row["objective"]) for _ in objective),
                _shown(row["sharpe"]),
                _shown(row["total_return_pct"]),
                _shown(row["max_drawdown_pct"]),
                str(row["trades"]),
            ]
            for rank, row in enumerate(rows[:top], start=1)
        ]
        widths = [max(len(cell) for cell in column) for column in zip(header, *table, strict=True)]
        for line in [header, *table]:
            self.stdout.write("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))
        self.stdout.write(
            f"best: {analysis['best_params']}; deflated Sharpe {snooping['deflated_sharpe']:.3f}"
            f" over {snooping['trials']} trials{' (' + snooping['warning'] + ')' if snooping['warning'] else ''}"
        )


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}" if math.isfinite(value) else str(value)
    return str(value)
