"""The fast-clock fake Binance as its own process: klines grow one closed bar per tick of its clock, its time
endpoint agrees with the DSTA_MARKET_CLOCK value it prints, and it starts when its start file appears."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dsta.kernel.clock import market_time_at, to_epoch_ms

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "dsta" / "data" / "demo" / "BTC_USDT-1h.csv.gz"


@pytest.fixture
def fast_venue(tmp_path):
    start_file = tmp_path / "start"
    argv = [sys.executable, "-m", "dsta.exchange.tests.fast_clock", "--file", str(DEMO), "--symbol", "BTC/USDT"]
    argv += ["--bar-seconds", "0.25", "--limit", "12", "--warmup", "2", "--start-file", str(start_file)]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        yield info, start_file
    finally:
        process.terminate()
        process.wait(timeout=10)


def closed(info) -> list[int]:
    params = {"symbol": "BTCUSDT", "interval": "1h", "startTime": "0", "limit": "1000"}
    return [row[0] for row in httpx.get(f"{info['url']}/api/v3/klines", params=params).json()]


def test_the_fast_clock_venue_serves_the_file_bar_by_bar_once_started(fast_venue):
    info, start_file = fast_venue
    first, step = info["first_open_ms"], info["step_ms"]
    assert info["bars"] == 12 and info["clock"].endswith(f":@{start_file}:14400.0")
    time.sleep(0.6)
    assert closed(info) == [first, first + step]  # the warm-up bars; the clock stands until started
    assert market_time_at(info["clock"], wall=time.time()) == market_time_at(info["clock"], wall=0)
    start_file.write_text(str(int(time.time() * 1000)), encoding="ascii")
    time.sleep(1.1)  # about four bars of 0.25 s
    served = closed(info)
    assert 5 <= len(served) <= 7 and served == [first + i * step for i in range(len(served))]
    venue_ms = httpx.get(f"{info['url']}/api/v3/time").json()["serverTime"]
    ours = to_epoch_ms(market_time_at(info["clock"], wall=time.time()))
    assert abs(ours - venue_ms) < step / 4  # the two clocks agree to well under a bar
    time.sleep(2.5)
    assert len(closed(info)) == 12  # the file is exhausted: nothing beyond its last bar
