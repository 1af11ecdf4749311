"""`manage.py bot replay-file`: a candle file through the live path, in-process and in bar order.

Each bar is what a fetched closed candle is live: stored by data (`data.candle_closed` published with it),
marked (the handler `trading.mark_prices` runs), decided and traded by every instance on the market
(`trading.strategies`: the strategy's target, sizing, the order saga, the paper venue's fill). The handlers'
functions are called directly instead of through the relay, for speed; a relay delivering the stored events
later finds every bar decided (each step is idempotent), so nothing is traded twice.
"""

from __future__ import annotations

import csv
import gzip
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import connections

from dsta.data import api as data_api
from dsta.data.contracts import TIMEFRAME_SECONDS, CandleBar
from dsta.exchange import api as exchange_api
from dsta.trading import bot, bot_signals, parity, services
from dsta.trading.models import StrategyInstance

ALIAS = "trading"
COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


class CandleFileError(ValueError):
    pass


def candles_read(path: Path, *, exchange: str, symbol: str, timeframe: str) -> list[CandleBar]:
    """The bars of an `import_ohlcv` file (CSV or CSV.gz, header timestamp,open,high,low,close,volume, ms
    open times ascending). Raises CandleFileError naming the first problem."""
    if timeframe not in TIMEFRAME_SECONDS:
        raise CandleFileError(f"unknown timeframe {timeframe!r}; expected one of {sorted(TIMEFRAME_SECONDS)}")
    try:
        return list(_rows(path, exchange=exchange, symbol=symbol, timeframe=timeframe))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise CandleFileError(f"{path}: cannot be read as a candle file ({exc})") from None


def _rows(path: Path, *, exchange: str, symbol: str, timeframe: str) -> Iterator[CandleBar]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as handle:  # type: ignore[operator]
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(name.strip().lower() for name in header) != COLUMNS:
            raise CandleFileError(f"{path}: the header must be {','.join(COLUMNS)}, found {header}")
        previous = -1
        for line, row in enumerate(reader, start=2):
            try:
                stamp = int(row[0])
                prices = [Decimal(value) for value in row[1:6]]
            except (ValueError, IndexError, InvalidOperation):
                raise CandleFileError(f"{path}:{line}: expected six numbers, found {row}") from None
            if len(row) != 6 or any(not value.is_finite() or value < 0 for value in prices):
                raise CandleFileError(f"{path}:{line}: expected six non-negative numbers, found {row}")
            if stamp <= previous:
                raise CandleFileError(f"{path}:{line}: timestamps must ascend ({stamp} after {previous})")
            previous = stamp
            yield CandleBar(exchange, symbol, timeframe, datetime.fromtimestamp(stamp / 1000, tz=UTC), *prices)
    if previous < 0:
        raise CandleFileError(f"{path}: no candles")


def bar_feed(bar: CandleBar) -> int:
    """One closed bar through the live path (see the module's docstring); returns the signals traded."""
    data_api.candle_close(bar=bar)
    services.mark_price_record(exchange=bar.exchange, symbol=bar.symbol, price=bar.close, as_of=bar.open_time)
    market = {"exchange": bar.exchange, "symbol": bar.symbol, "timeframe": bar.timeframe}
    return len(bot_signals.signals_record(**market, bar_time=bar.open_time, stale=False))


# The domains' connections the replay writes through: their commits need not wait for the WAL to reach the disk
# (a simulation's rows: a crash loses the run, which is started again, not resumed; ~30% faster on this box).
# The statements, transactions and their order are the live path's.
_REPLAY_ALIASES = ("data", ALIAS, "exchange")


@contextmanager
def _commits_unflushed() -> Iterator[None]:
    for alias in _REPLAY_ALIASES:
        with connections[alias].cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        for alias in _REPLAY_ALIASES:
            with connections[alias].cursor() as cursor:
                cursor.execute("RESET synchronous_commit")


@dataclass(frozen=True)
class ReplayOutcome:
    instance_id: int
    bars: int
    seconds: float
    report: parity.ParityReport

    @property
    def bars_per_second(self) -> float:
        return self.bars / self.seconds if self.seconds else 0.0


def replay_file(
    *,
    path: Path,
    exchange: str,
    symbol: str,
    timeframe: str,
    strategy: str,
    params: dict[str, float],
    fee: Decimal,
    capital: Decimal,
) -> ReplayOutcome:
    """Create a paper instance, replay the file's bars through it, and compare with the backtest."""
    spec = {spec.name: spec for spec in data_api.strategies_list()}.get(strategy)
    if spec is not None and spec.inputs:
        raise services.TradingInputError(
            {
                "strategy": f"{strategy} decides on {list(spec.inputs)} from ml, not on candles alone: a file "
                "replay has none; backtest it with `manage.py ml_signal_backtest MODEL`"
            }
        )
    bars = candles_read(path, exchange=exchange, symbol=symbol, timeframe=timeframe)
    if any(s.exchange == exchange and s.symbol == symbol and s.timeframe == timeframe for s in data_api.series_list()):
        stored = data_api.candles_get(exchange=exchange, symbol=symbol, timeframe=timeframe, start=bars[0].open_time)
        if stored and stored[-1].open_time > bars[-1].open_time:
            raise CandleFileError(
                f"{exchange} {symbol} {timeframe} holds bars after the file's last one: the replay would "
                "trade old bars as if they were the latest; replay under another --exchange name"
            )
    instance = bot.instance_create(
        name=f"replay-{uuid.uuid4().hex[:10]}",
        strategy=strategy,
        params=params,
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        actor_id=None,
        settings=bot.BotSettings(capital=capital, commission=fee, candles_supplied=True),
    )
    # the paper venue's fee model is the instance's (and so the parity backtest's)
    exchange_api.paper_reset(
        maker_fee=fee, taker_fee=fee, slippage_bps=Decimal(0), slippage_jitter_bps=Decimal(0), seed=0
    )
    bot.bot_start(instance_id=instance.pk, actor_id=None)
    limits = services.risk_limits_current()
    # the replay's clock runs thousands of bars a minute: the per-minute order rate would refuse what live
    # trading places in hours. Lifted for the replay, restored after (both are versions in the limits' history).
    services.risk_limits_update(
        values={"max_orders_per_minute": 10**9}, actor_id=None, reason=f"replay-file {instance.name}"
    )
    started = time.perf_counter()
    try:
        with _commits_unflushed():
            for bar in bars:
                bar_feed(bar)
    finally:
        elapsed = time.perf_counter() - started
        services.risk_limits_update(
            values={"max_orders_per_minute": limits.max_orders_per_minute},
            actor_id=None,
            reason=f"replay-file {instance.name} done",
        )
    instance = StrategyInstance.objects.using(ALIAS).get(pk=instance.pk)
    bot.bot_stop(instance_id=instance.pk, actor_id=None)
    report = parity.parity_report(instance=instance, start=None, end=None)
    return ReplayOutcome(instance_id=instance.pk, bars=len(bars), seconds=elapsed, report=report)
