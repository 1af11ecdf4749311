from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from dsta.data import selectors
from dsta.data.contracts import TIMEFRAME_SECONDS, QualityReport


def report_lines(report: QualityReport) -> list[str]:
    lines = [f"{report.source} ({report.timeframe}): {report.rows} rows, {'clean' if report.clean else 'issues'}"]
    for rule in report.rules:
        lines.append(f"  {rule.rule:<24} {rule.violations:>8}  {rule.description}")
        lines.extend(f"      {example.open_time:%Y-%m-%d %H:%M} {example.detail}" for example in rule.examples)
    return lines


class Command(BaseCommand):
    help = "Validate a stored series or an OHLCV file: count and examples per rule (nothing is dropped)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("path", nargs="?", type=Path, help="an OHLCV CSV/CSV.gz; else the stored series")
        parser.add_argument("--exchange", default="binance")
        parser.add_argument("--symbol")
        parser.add_argument("--timeframe", required=True)
        parser.add_argument("--outlier-z", type=float, default=10.0)

    def handle(self, *args: object, **options: object) -> None:
        timeframe = str(options["timeframe"])
        if timeframe not in TIMEFRAME_SECONDS:
            raise CommandError(f"unknown timeframe {timeframe!r}; expected one of {sorted(TIMEFRAME_SECONDS)}")
        z = float(options["outlier_z"])  # type: ignore[arg-type]
        path = options["path"]
        if isinstance(path, Path):
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
            try:
                report = selectors.quality_report_file(path=path, timeframe=timeframe, outlier_z=z)
            except (ValueError, KeyError) as exc:
                raise CommandError(f"{path}: not an OHLCV file ({exc})") from exc
        elif options["symbol"]:
            report = selectors.quality_report_series(
                exchange=str(options["exchange"]), symbol=str(options["symbol"]), timeframe=timeframe, outlier_z=z
            )
        else:
            raise CommandError("give a PATH or --symbol")
        self.stdout.write("\n".join(report_lines(report)))
