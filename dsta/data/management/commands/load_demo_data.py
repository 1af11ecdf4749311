from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from dsta.data.services import candles_import_file

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"


class Command(BaseCommand):
    help = "Load the bundled real Binance 1h candles (five USDT pairs) into the data schema."

    def handle(self, *args: object, **options: object) -> None:
        for path in sorted(DEMO_DIR.glob("*_USDT-1h.csv.gz")):
            base, rest = path.name.split("_", 1)
            quote, timeframe = rest.removesuffix(".csv.gz").split("-")
            report = candles_import_file(path=path, exchange="binance", symbol=f"{base}/{quote}", timeframe=timeframe)
            self.stdout.write(f"{report.symbol} {timeframe}: {report.rows_read} rows, {report.rows_inserted} new")
