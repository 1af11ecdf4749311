"""Shared set-up of the ml benchmarks: the market-data benchmark database, with the bundled 1h candles."""

from __future__ import annotations

from datetime import UTC, datetime

from market_data_env import ROOT, SYMBOLS, setup_django

__all__ = ["ONE_YEAR", "SYMBOLS", "load_hourly_data", "setup_django"]

ONE_YEAR = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))


def load_hourly_data() -> None:
    """Import the five bundled 1h files unless they are there already."""
    from dsta.data import api as data
    from dsta.data.services import candles_import_file

    stored = {(s.symbol, s.timeframe) for s in data.series_list() if s.exchange == "binance"}
    for symbol in SYMBOLS:
        if (symbol, "1h") not in stored:
            path = ROOT / "dsta" / "data" / "demo" / f"{symbol.replace('/', '_')}-1h.csv.gz"
            candles_import_file(path=path, exchange="binance", symbol=symbol, timeframe="1h")
