"""The stepped clock: the venue and DSTA's `market_now` read the same file, at every call, so a test closes bars
one at a time; a malformed setting is a clear error."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from dsta.exchange.tests.fake_venues import FakeVenueServer
from dsta.exchange.tests.stepped_clock import SteppedClockBinance
from dsta.kernel.clock import from_epoch_ms, market_time_at

DEMO_DIR = Path(__file__).resolve().parents[2] / "data" / "demo"  # a file, not an import of data


def test_closing_a_bar_moves_both_clocks_and_serves_the_bars_closed_so_far(tmp_path):
    dialect = SteppedClockBinance.from_candle_file(
        DEMO_DIR / "BTC_USDT-1h.csv.gz", symbol="BTC/USDT", limit=10, clock_file=tmp_path / "clock"
    )
    server = FakeVenueServer(dialect).start()
    try:
        first = int(dialect.rows[0][0])
        assert market_time_at(dialect.clock, wall=0) == from_epoch_ms(first)  # nothing closed yet
        klines = f"{server.url}/api/v3/klines"
        assert httpx.get(klines, params={"symbol": "BTCUSDT", "interval": "1h"}).json() == []
        dialect.close_bar(2)
        assert market_time_at(dialect.clock, wall=0) == from_epoch_ms(int(dialect.rows[2][0]) + dialect.step_ms)
        served = httpx.get(klines, params={"symbol": "BTCUSDT", "interval": "1h"}).json()
        assert [row[0] for row in served] == [int(row[0]) for row in dialect.rows[:3]]
        assert httpx.get(f"{server.url}/api/v3/time").json()["serverTime"] == dialect.now_ms()
    finally:
        server.stop()


def test_a_stepped_clock_without_a_file_path_is_a_clear_error():
    with pytest.raises(ValueError, match="stepped:@<path>"):
        market_time_at("stepped:123", wall=0)
