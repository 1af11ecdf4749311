from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from dsta.data import selectors
from dsta.data.services import ImportFileError, candles_import_file


class Command(BaseCommand):
    help = "Import an OHLCV CSV or CSV.gz (header timestamp,open,high,low,close,volume; ms timestamps)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("path", type=Path)
        parser.add_argument("--exchange", required=True)
        parser.add_argument("--symbol", required=True, help="e.g. BTC/USDT")
        parser.add_argument("--timeframe", required=True, help="e.g. 1h, 5m")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: object, **options: object) -> None:
        path: Path = options["path"]  # type: ignore[assignment]
        with tqdm(unit="rows", desc=path.name, disable=bool(options["no_progress"])) as bar:
            try:
                report = candles_import_file(
                    path=path,
                    exchange=str(options["exchange"]),
                    symbol=str(options["symbol"]),
                    timeframe=str(options["timeframe"]),
                    on_progress=bar.update,
                )
            except ImportFileError as exc:
                raise CommandError(str(exc)) from exc
            except Exception as exc:  # a cast failure in COPY names the offending line
                raise CommandError(f"{path}: {exc}".strip()) from exc
        self.stdout.write(
            f"{report.symbol} {report.timeframe}: read {report.rows_read}, inserted {report.rows_inserted}, "
            f"updated {report.rows_updated}"
        )
        # Rows are stored as the exchange gave them; what looks wrong is reported, not dropped.
        quality = selectors.quality_report_series(
            exchange=report.exchange, symbol=report.symbol, timeframe=report.timeframe
        )
        flagged = {rule.rule: rule.violations for rule in quality.rules if rule.violations}
        self.stdout.write(f"quality: {'clean' if quality.clean else flagged} (manage.py quality_report for details)")
