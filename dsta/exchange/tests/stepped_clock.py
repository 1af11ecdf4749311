"""A fake Binance serving a candle file on a clock the test moves bar by bar (`DSTA_MARKET_CLOCK=stepped:@path`).

The fast clock (fast_clock.py) runs at a fixed rate: one 1h bar in 0.2 s makes a half-second pause of a loaded
machine, or a worker's restart, last hours of market time, so bars close unseen and are back-filled (and not
traded, by policy). That is faithful to the rate, not to the proportions of live trading, where a restart of
seconds falls inside one bar. This clock keeps the proportions: the test closes the next bar when the previous
one has been dealt with (and at most one bar per `bar_seconds`), writing the market time to a file that this
venue and DSTA's processes (`kernel.clock.market_now`) both read at every call.
"""

from __future__ import annotations

from pathlib import Path

from dsta.exchange.tests.fast_clock import FastClockBinance, read_candle_file


class SteppedClockBinance(FastClockBinance):
    def __init__(self, rows: list[list[str]], *, clock_file: Path, **options: object) -> None:
        super().__init__(rows, **options)  # type: ignore[arg-type]
        self.clock_file = clock_file
        self.market_ms = int(rows[0][0])  # nothing closed yet
        self._write()

    @classmethod
    def from_candle_file(
        cls, path: Path, *, symbol: str, clock_file: Path, limit: int | None = None, **options: object
    ) -> SteppedClockBinance:
        rows = read_candle_file(path)
        return cls(rows[:limit] if limit else rows, symbol=symbol.replace("/", ""), clock_file=clock_file, **options)

    @property
    def clock(self) -> str:
        return f"stepped:@{self.clock_file}"

    def close_bar(self, index: int) -> None:
        """Move the market's time to the close of bar `index` (it and every earlier bar are closed)."""
        self.market_ms = int(self.rows[index][0]) + self.step_ms
        self._write()

    def now_ms(self) -> int:
        return self.market_ms

    def _write(self) -> None:
        partial = self.clock_file.with_suffix(".tmp")
        partial.write_text(str(self.market_ms), encoding="ascii")
        partial.replace(self.clock_file)  # atomic: a reader never sees half a number
