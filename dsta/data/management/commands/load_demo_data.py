from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from dsta.data.services import ImportSource, candles_import_files

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"


class Command(BaseCommand):
    help = "Load the bundled real Binance 1h candles (five USDT pairs) into the data schema."

    def handle(self, *args: object, **options: object) -> None:
        sources = []
        for path in sorted(DEMO_DIR.glob("*_USDT-1h.csv.gz")):
            base, rest = path.name.split("_", 1)
            quote, timeframe = rest.removesuffix(".csv.gz").split("-")
            sources.append(ImportSource(path, "binance", f"{base}/{quote}", timeframe))
        for report in candles_import_files(files=sources):
            self.stdout.write(
                f"{report.symbol} {report.timeframe}: {report.rows_read} rows, {report.rows_inserted} new"
            )
