"""Shared set-up of the market-data benchmarks: their own database `<name>_bench`, migrated, DEBUG off."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data" / "binance"
from benchenv import setup_django  # noqa: E402,F401  (re-exported for the market-data benchmarks)

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT"]


def five_minute_files() -> dict[str, Path]:
    files = {symbol: SHARED_DATA / f"{symbol.replace('/', '_')}-5m.csv.gz" for symbol in SYMBOLS}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        sys.exit(f"the 5m files are not there ({', '.join(missing)}); this benchmark needs ../shared/data")
    return files


def load_five_minute_data(*, fresh: bool, workers: int = 1) -> int:
    """Import the five 5m files (skipped when already there and not `fresh`); returns candles stored."""
    from django.db import connections

    from dsta.data.services import ImportSource, candles_import_files

    with connections["data"].cursor() as cursor:
        if fresh:
            cursor.execute("TRUNCATE candle")
        cursor.execute("SELECT count(*) FROM candle WHERE timeframe = '5m'")
        stored = cursor.fetchone()[0]
    if stored:
        return int(stored)
    sources = [ImportSource(path, "binance", symbol, "5m") for symbol, path in five_minute_files().items()]
    return sum(report.rows_inserted for report in candles_import_files(files=sources, workers=workers))
