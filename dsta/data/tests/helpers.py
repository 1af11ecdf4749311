"""Shared test material: the real candle files and an independent pandas reading of them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dsta.data.management.commands.load_demo_data import DEMO_DIR
from dsta.data.services import candles_import_file

SHARED_DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "binance"
SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT"]


def data_file(symbol: str, timeframe: str) -> Path:
    name = f"{symbol.replace('/', '_')}-{timeframe}.csv.gz"
    path = DEMO_DIR / name if timeframe == "1h" else SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} is not there (the 5m files live in ../shared/data)")
    return path


def import_series(symbol: str, timeframe: str = "1h", exchange: str = "binance") -> Path:
    path = data_file(symbol, timeframe)
    candles_import_file(path=path, exchange=exchange, symbol=symbol, timeframe=timeframe)
    return path


def read_with_pandas(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    frame.index = pd.to_datetime(frame.pop("timestamp"), unit="ms", utc=True)
    return frame
