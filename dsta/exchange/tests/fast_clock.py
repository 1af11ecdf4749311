"""A fake Binance that serves a real candle file bar by bar on a fast clock (e.g. one 1h bar every 0.2 s).

The venue's time runs `speed` times faster than the wall clock from the moment the server starts:
    venue_ms = origin_ms + (wall_ms - wall_start_ms) x speed,   speed = timeframe seconds / bar_seconds
with `origin_ms` the open time of the file's bar number `warmup` (so `warmup` bars are closed at the start).
`/api/v3/klines` returns only the bars closed on that clock, `/api/v3/time` and exchangeInfo's serverTime
tell it, and `clock` is the matching DSTA_MARKET_CLOCK value for the scheduler and the workers:

    python -m dsta.exchange.tests.fast_clock --file dsta/data/demo/BTC_USDT-1h.csv.gz --symbol BTC/USDT \\
        --timeframe 1h --bar-seconds 0.2 --port 8765
prints one JSON line {"url", "clock", "bars", "first_open_ms", "step_ms"} and serves until killed. In a test,
`FastClockBinance.from_file(...)` in a `FakeVenueServer` thread does the same (see
tests/test_market_data_fast_clock.py).
"""

from __future__ import annotations

import argparse
import gzip
import json
import signal
import threading
import time
from pathlib import Path

from dsta.exchange.tests.fake_venues import Binance, FakeVenueServer, Reply

TIMEFRAME_SECONDS = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "4h": 14400, "1d": 86400}


def read_candle_file(path: Path) -> list[list[str]]:
    """Rows of an OHLCV file in the `import_ohlcv` format (header timestamp,open,high,low,close,volume)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:  # type: ignore[operator]
        lines = handle.read().splitlines()
    if not lines or lines[0].strip() != "timestamp,open,high,low,close,volume":
        raise ValueError(f"{path}: not an OHLCV file (header timestamp,open,high,low,close,volume)")
    return [line.split(",") for line in lines[1:] if line.strip()]


class FastClockBinance(Binance):
    def __init__(
        self,
        rows: list[list[str]],
        *,
        symbol: str = "BTCUSDT",
        timeframe: str = "1h",
        bar_seconds: float = 0.2,
        warmup: int = 0,
        wall_start: float | None = None,
    ) -> None:
        super().__init__()
        self.rows = rows
        self.symbol = symbol
        self.timeframe = timeframe
        self.step_ms = TIMEFRAME_SECONDS[timeframe] * 1000
        self.speed = TIMEFRAME_SECONDS[timeframe] / bar_seconds
        self.origin_ms = int(rows[warmup][0]) if warmup < len(rows) else int(rows[-1][0]) + self.step_ms
        # None: the clock stands at origin until `start()` (a test starts it once its processes are up)
        self.wall_start_ms: int | None = int(wall_start * 1000) if wall_start is not None else None
        self.start_file: Path | None = None
        self.kline_requests = 0
        self._kline_lock = threading.Lock()

    @classmethod
    def from_file(cls, path: Path, *, symbol: str, limit: int | None = None, **options: object) -> FastClockBinance:
        rows = read_candle_file(path)
        return cls(rows[:limit] if limit else rows, symbol=symbol.replace("/", ""), **options)  # type: ignore[arg-type]

    @property
    def clock(self) -> str:
        """The DSTA_MARKET_CLOCK value that reads this venue's time (through `start_file` if it is set)."""
        start = f"@{self.start_file}" if self.start_file else str(self.wall_start_ms)
        return f"scaled:{self.origin_ms}:{start}:{self.speed!r}"

    def start(self, *, delay: float = 0.0) -> None:
        """Start the clock `delay` seconds from now, here and (through `start_file`) in DSTA's processes."""
        wall_start_ms = int((time.time() + delay) * 1000)
        if self.start_file is not None:
            partial = self.start_file.with_suffix(".tmp")
            partial.write_text(str(wall_start_ms), encoding="ascii")
            partial.replace(self.start_file)  # atomic: a reader sees no half-written number
        self.wall_start_ms = wall_start_ms

    def now_ms(self) -> int:
        if self.wall_start_ms is None:
            return self.origin_ms
        return int(self.origin_ms + (time.time() * 1000 - self.wall_start_ms) * self.speed)

    def closed_rows(self) -> list[list[str]]:
        horizon = self.now_ms()
        return [row for row in self.rows if int(row[0]) + self.step_ms <= horizon]

    def wall_close_time(self, open_ms: int) -> float:
        """When (wall clock, epoch seconds) the bar opening at `open_ms` closes on the fast clock."""
        assert self.wall_start_ms is not None, "the clock has not started"
        return (self.wall_start_ms + (open_ms + self.step_ms - self.origin_ms) / self.speed) / 1000

    def route(self, method: str, path: str, params: dict[str, str]) -> Reply | None:
        if (method, path) == ("GET", "/api/v3/time"):
            return Reply(200, {"serverTime": self.now_ms()})
        reply = super().route(method, path, params)
        if reply is not None and path == "/api/v3/exchangeInfo":
            reply.body["serverTime"] = self.now_ms()
        return reply

    def klines(self, params: dict[str, str]) -> Reply:  # type: ignore[override]
        if params.get("symbol") != self.symbol:
            return Reply(400, {"code": -1121, "msg": "Invalid symbol."})
        with self._kline_lock:
            self.kline_requests += 1
        start = int(params.get("startTime", 0))
        end = int(params.get("endTime", 2**62))
        limit = int(params.get("limit", 500))
        rows = [row for row in self.closed_rows() if start <= int(row[0]) <= end][:limit]
        return Reply(200, [[int(r[0]), *r[1:6], int(r[0]) + self.step_ms - 1, "0", 1, "0", "0", "0"] for r in rows])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Binance serving a candle file on a fast clock")
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--symbol", default="BTC/USDT")
    parser.add_argument("--timeframe", default="1h", choices=sorted(TIMEFRAME_SECONDS))
    parser.add_argument("--bar-seconds", type=float, default=0.2, help="wall seconds per bar")
    parser.add_argument("--warmup", type=int, default=0, help="bars already closed at the start")
    parser.add_argument("--limit", type=int, default=None, help="serve only the file's first N bars")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--start-delay", type=float, default=0.0, help="seconds before the clock starts")
    parser.add_argument(
        "--start-file", type=Path, default=None, help="start when this file appears (the clock's wall start ms)"
    )
    args = parser.parse_args(argv)
    dialect = FastClockBinance.from_file(
        args.file,
        symbol=args.symbol,
        limit=args.limit,
        timeframe=args.timeframe,
        bar_seconds=args.bar_seconds,
        warmup=args.warmup,
    )
    dialect.start_file = args.start_file
    if args.start_file is None:
        dialect.start(delay=args.start_delay)
    server = FakeVenueServer(dialect, port=args.port).start()
    info = {
        "url": server.url,
        "clock": dialect.clock,
        "bars": len(dialect.rows),
        "first_open_ms": int(dialect.rows[0][0]),
        "step_ms": dialect.step_ms,
    }
    print(json.dumps(info), flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.05):
        if dialect.wall_start_ms is None and args.start_file is not None and args.start_file.exists():
            text = args.start_file.read_text(encoding="ascii").strip()
            if text.isdigit():  # started elsewhere (a half-written file is read again next time)
                dialect.wall_start_ms = int(text)
    server.stop()


if __name__ == "__main__":
    main()
