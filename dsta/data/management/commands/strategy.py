"""manage.py strategy list | show NAME | new NAME | check PATH_OR_NAME"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dsta.data.backtesting import strategy_checks as checks
from dsta.data.contracts import StrategyFault
from dsta.data.management.commands.backtest import _parse_params
from dsta.data.strategies import loader
from dsta.data.strategies.base import InvalidParameters, Strategy
from dsta.data.strategies.registry import spec_of, strategy_registry
from dsta.data.strategies.skeleton import skeleton_write


class Command(BaseCommand):
    help = "List, show, create and check strategies (built-in, files on DSTA_STRATEGY_PATHS, packages)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("list", help="one line per strategy: name version source; then what failed to load")
        show = actions.add_parser("show", help="parameters, description, vectorised or not")
        show.add_argument("name")
        new = actions.add_parser("new", help="write a commented skeleton into the first strategy directory")
        new.add_argument("name")
        new.add_argument("--exist-ok", action="store_true", help="do nothing when the file exists")
        check = actions.add_parser("check", help="load a file or a strategy by name and test it on bundled candles")
        check.add_argument("target", metavar="PATH_OR_NAME")
        check.add_argument("--symbol", default="BTC/USDT", help="bundled 1h series to test on")
        check.add_argument(
            "--bars", type=int, help="the latest N bars of it (default: enough for the recursive check, at least 3000)"
        )
        check.add_argument("--param", action="append", default=[], help="NAME=VALUE, repeatable")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(**options)

    def _list(self, **options: Any) -> None:
        registry = strategy_registry()
        for entry in registry.entries.values():
            source = entry.source if entry.source == "builtin" else f"{entry.source}:{entry.origin}"
            self.stdout.write(f"{entry.name} {entry.version} {source}")
        if registry.problems:
            self.stdout.write(f"not loaded ({len(registry.problems)}):")
            for problem in registry.problems:
                self.stdout.write(f"  BROKEN {problem}")

    def _show(self, *, name: str, **options: Any) -> None:
        registry = strategy_registry()
        if name not in registry.entries:
            raise CommandError(_unknown(name, registry))
        spec = spec_of(registry.entries[name])
        lines = [
            f"{spec.name}  version {spec.version}",
            f"source: {spec.source} ({spec.origin})",
            f"description: {spec.description}",
            f"vectorised (fast path): {'yes' if spec.vectorised else 'no (event path only)'}",
        ]
        if spec.inputs:
            lines.append(f"inputs (provided from outside): {', '.join(spec.inputs)}")
        lines.append("parameters:" if spec.parameters else "parameters: none")
        for p in spec.parameters:
            number = int if p.kind == "int" else float
            lines.append(
                f"  {p.name:<16} {p.kind:<5} default {number(p.default)!s:<8} range"
                f" [{number(p.minimum)}, {number(p.maximum)}]  {p.description}"
            )
        self.stdout.write("\n".join(lines))

    def _new(self, *, name: str, exist_ok: bool, **options: Any) -> None:
        directory = loader.strategy_directories()[0]
        target = directory / f"{name}.py"
        if exist_ok and target.exists():
            self.stdout.write(f"{target} exists; left as it is")
            return
        try:
            path = skeleton_write(directory, name)
        except (ValueError, FileExistsError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"wrote {path}; try: manage.py strategy check {name}")

    def _check(self, *, target: str, symbol: str, bars: int | None, param: list[str], **options: Any) -> None:
        classes = self._classes_for(target)
        params = _parse_params(param)
        try:
            history = checks.demo_bars(symbol)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        failed = False
        for cls in classes:
            try:
                strategy = cls(**params)
            except InvalidParameters as exc:
                raise CommandError(f"{cls.name}: {exc}") from None
            wanted = bars or max(3_000, 2 * checks.live_history(strategy) + 500)
            series = checks.demo_bars(symbol, bars=wanted) if wanted < len(history) else history
            rows = _rows(cls, strategy, series, params)
            self.stdout.write(f"{cls.name} ({loader._file_of(cls) or 'builtin'}), version {loader.class_version(cls)}")
            width = max(len(row.check) for row in rows)
            for row in rows:
                self.stdout.write(f"  {row.check:<{width}}  {row.status.upper():<4}  {row.detail}")
            failed = failed or any(row.status == "fail" for row in rows)
        if failed:
            raise CommandError("a check failed (see FAIL above)")

    def _classes_for(self, target: str) -> list[type[Strategy]]:
        path = Path(target).expanduser()
        if path.suffix == ".py" or path.exists():
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
            found, problems = loader.load_file(path.resolve())
            if problems:
                raise CommandError("; ".join(str(problem) for problem in problems))
            return [item.cls for item in found]
        registry = strategy_registry()
        if target not in registry.entries:
            raise CommandError(_unknown(target, registry))
        return [registry.entries[target].cls]


def _rows(
    cls: type[Strategy], strategy: Strategy, bars: checks.Bars, params: dict[str, float]
) -> list[checks.CheckRow]:
    needed = [name for name in cls.inputs if name != "peer_close"]
    if needed:
        reason = f"needs the input series {needed}, made outside the data domain"
        if "prediction" in needed:
            reason += " (backtest it with manage.py ml_signal_backtest MODEL)"
        return [
            checks.CheckRow(name, "skip", reason)
            for name in ("lookahead", "recursive", "fast vs event path", "backtest")
        ]
    rows = []
    peer = None
    if "peer_close" in cls.inputs:
        peer = checks.demo_bars("ETH/USDT" if bars.symbol != "ETH/USDT" else "BTC/USDT", bars=len(bars))
        strategy.provide("peer_close", peer.time_ms, peer.close)
    for run in (checks.lookahead_row, checks.recursive_row, checks.parity_row):
        rows.append(_guarded(run.__name__.removesuffix("_row"), lambda run=run: run(strategy, bars)))
    if peer is not None:
        rows.append(_guarded("backtest", lambda: checks.pairs_backtest_row(cls(**params), cls(**params), bars, peer)))
    else:
        rows.append(_guarded("backtest", lambda: checks.backtest_row(cls(**params), bars)))
    return rows


def _guarded(name: str, run: Any) -> checks.CheckRow:
    """A check the strategy itself breaks (it raises, or returns a bad target) is a failed check."""
    try:
        row: checks.CheckRow = run()
        return row
    except StrategyFault as exc:
        return checks.CheckRow(name, "fail", str(exc))
    except Exception as exc:
        return checks.CheckRow(name, "fail", f"{type(exc).__name__}: {exc}")


def _unknown(name: str, registry: Any) -> str:
    message = f"unknown strategy {name!r}; known: {', '.join(sorted(registry.entries))}"
    if registry.problems:
        message += "; not loaded: " + "; ".join(str(problem) for problem in registry.problems)
    return message
