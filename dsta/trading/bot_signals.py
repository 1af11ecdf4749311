"""A closed bar (or a model's prediction for it) through every instance of its market: the strategy's target,
then the bot's decision and order, in one transaction with the instances locked, so that a bar is decided once
per instance and its signal, decision and order commit together (`trading.strategies` and
`trading.ml_predictions` call this; the order itself is `bot_execution`'s). A start, pause or stop of an
instance (its row lock) waits for a bar pass in progress on its market, so it takes effect from the next bar."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connections, transaction

from dsta.data import api as data_api
from dsta.data.contracts import InputSeries, MarketKey, StrategyFault
from dsta.kernel.outbox import publish_along
from dsta.trading import bot_book, bot_execution, services
from dsta.trading.events import SignalEmitted
from dsta.trading.models import BotState, Signal, StrategyInstance

ALIAS = "trading"


def signals_on_candle(
    *, exchange: str, symbol: str, timeframe: str, bar_time: datetime, stale: bool | None = False
) -> int:
    """Ask every enabled strategy on this market for its decision at this bar; store and publish each once.
    A `stale` (back-filled) bar is recorded with its decision, and the bot does not trade it; None: find out
    (`bar_is_stale`, asked only when an instance trades the market)."""
    return len(signals_record(exchange=exchange, symbol=symbol, timeframe=timeframe, bar_time=bar_time, stale=stale))


@dataclass(frozen=True)
class ClosedBar:
    """A closed bar as its `data.candle_closed` event tells it; `backfill`: market data flagged it caught up."""

    exchange: str
    symbol: str
    timeframe: str
    bar_time: datetime
    backfill: bool


def signals_on_candles(*, bars: Sequence[ClosedBar]) -> int:
    """`signals_on_candle` for a delivered batch of closed bars (a close of many markets), in rounds of one bar
    per market, each market's bars in the given order: per round, one read locks the instances of all its
    markets and one asks market data which bars are no longer the newest (those are recorded, not traded).
    Returns how many signals were created."""
    created = 0
    for round_bars in _rounds(bars):
        with transaction.atomic(using=ALIAS, savepoint=False):
            by_market = _instances_of_markets_locked(round_bars)
            traded = [bar for bar in round_bars if by_market.get(_market_of(bar)) and not bar.backfill]
            markets = [MarketKey(bar.exchange, bar.symbol, bar.timeframe) for bar in traded]
            newest = data_api.newest_bar_times(markets=markets) if markets else []
            superseded = {
                _market_of(bar)
                for bar, last in zip(traded, newest, strict=True)
                if services.superseded(bar_time=bar.bar_time, timeframe=bar.timeframe, newest=last)
            }
            batch = bot_execution.OrderRound()
            for bar in round_bars:
                stale = bar.backfill or _market_of(bar) in superseded
                for instance in by_market.get(_market_of(bar), []):
                    decided = _instance_decide(instance, bar_time=bar.bar_time, stale=stale, inputs={}, batch=batch)
                    created += decided is not None
            bot_execution.round_submit(batch)
    return created


def _market_of(bar: ClosedBar) -> tuple[str, str, str]:
    return bar.exchange, bar.symbol, bar.timeframe


def _rounds(bars: Sequence[ClosedBar]) -> list[list[ClosedBar]]:
    """The bars cut into rounds holding one bar of a market each: a market's n-th bar is in the n-th round."""
    rounds: list[list[ClosedBar]] = []
    seen: dict[tuple[str, str, str], int] = {}
    for bar in bars:
        index = seen[_market_of(bar)] = seen.get(_market_of(bar), -1) + 1
        if index == len(rounds):
            rounds.append([])
        rounds[index].append(bar)
    return rounds


# A signal is stored decided (see bot_execution), with the decision's own writes and its event, in one trip;
# every column but the id and created_at, from the model.
_SIGNAL_STORED = [field for field in Signal._meta.concrete_fields if field.attname not in ("id", "created_at")]
_SIGNAL_INSERT_SQL = """
INSERT INTO signal ({columns}, created_at) VALUES ({values}, now())
ON CONFLICT (instance_id, bar_time) DO NOTHING
RETURNING id
""".format(  # nosec B608: the model's own columns
    columns=", ".join(f'"{field.column}"' for field in _SIGNAL_STORED),
    values=", ".join("%s::jsonb" if field.attname == "inputs" else "%s" for field in _SIGNAL_STORED),
)


def signals_record(*, exchange: str, symbol: str, timeframe: str, bar_time: datetime, stale: bool | None) -> list[int]:
    """`signals_on_candle`, returning the ids of the signals it created. Instances fed by a model's
    predictions decide on the prediction instead (`signals_on_prediction`)."""
    return _signals_decide(
        {"exchange": exchange, "symbol": symbol, "timeframe": timeframe, "enabled": True, "model_name": ""},
        bar_time=bar_time,
        stale=stale,
        inputs={},
    )


def signals_on_prediction(
    *,
    model_name: str,
    exchange: str,
    symbol: str,
    timeframe: str,
    bar_time: datetime,
    output: dict[str, Any],
    backfill: bool,
) -> list[int]:
    """A model's live prediction for a closed bar (`ml.prediction`): every enabled instance on this market
    that names the model decides the bar now, with the prediction as its input series, through the same
    `data.api.strategy_signal` (the same class the backtest runs on the same values). The candle path's
    policies hold: once per instance and bar, a back-filled or no longer latest bar recorded, not traded. A
    prediction without `p_up` (not a direction model) decides nothing. Returns the ids of the new signals."""
    p_up = output.get("p_up")
    if not model_name or not isinstance(p_up, int | float) or isinstance(p_up, bool):
        return []
    return _signals_decide(
        {"exchange": exchange, "symbol": symbol, "timeframe": timeframe, "enabled": True, "model_name": model_name},
        bar_time=bar_time,
        stale=True if backfill else None,
        inputs={services.PREDICTION_INPUT: float(p_up)},
    )


def _signals_decide(
    market: dict[str, Any], *, bar_time: datetime, stale: bool | None, inputs: dict[str, float]
) -> list[int]:
    """Each instance of `market` without a signal at this bar decides it: the strategy's target, then the bot's
    decision and order (bot_execution), all in one transaction with the instances locked, so that a bar is
    decided once per instance and its signal, decision and order commit together. Inside an event handler's
    transaction there is no savepoint: an error rolls the handler's batch back and it is retried event by
    event (a re-placed order is found by its client order id)."""

    created: list[int] = []
    with transaction.atomic(using=ALIAS, savepoint=False):
        instances = _instances_locked(market, bar_time=bar_time)
        if instances and stale is None:
            stale = services.bar_is_stale(
                exchange=market["exchange"],
                symbol=market["symbol"],
                timeframe=market["timeframe"],
                bar_time=bar_time,
                flagged=False,
            )
        batch = bot_execution.OrderRound()
        for instance in instances:
            signal_id = _instance_decide(instance, bar_time=bar_time, stale=bool(stale), inputs=inputs, batch=batch)
            if signal_id is not None:
                created.append(signal_id)
        bot_execution.round_submit(batch)
    return created


def _instance_decide(
    instance: StrategyInstance,
    *,
    bar_time: datetime,
    stale: bool,
    inputs: dict[str, float],
    batch: bot_execution.OrderRound,
) -> int | None:
    """One locked instance decides the bar: its strategy's target, then the bot's decision and order (admitted
    into `batch`, sent with the pass's others); the new signal's id, or None (not enough history, the bar not
    stored, a strategy fault, decided already)."""
    bar_ms = int(bar_time.timestamp() * 1000)
    series = tuple(InputSeries(name, (bar_ms,), (value,)) for name, value in inputs.items())
    # the strategy sees the instance's own position, as the backtest shows it its own (a flat instance that
    # holds no target needs no read)
    trading = instance.state != BotState.STOPPED and instance.held_target != 0
    book = bot_book.book_of(instance) if trading else None
    try:
        decision = data_api.strategy_signal(
            strategy=instance.strategy,
            params=instance.params,
            exchange=instance.exchange,
            symbol=instance.symbol,
            timeframe=instance.timeframe,
            as_of=bar_time,
            position=book.position.quantity if book is not None else Decimal(0),
            inputs=series,
        )
    except StrategyFault as fault:  # a ValueError too: caught first
        services.strategy_fault_pause(instance, message=str(fault), bar_time=bar_time)
        return None
    except ValueError:
        return None  # not enough history yet for this strategy's warm-up
    if decision.bar_time != bar_time:
        return None  # the bar is not stored (yet): never decide on an older bar in its name
    signal = Signal(
        instance=instance,
        params_version=instance.params_version,
        strategy_version=decision.version,
        stale=stale,
        bar_time=bar_time,
        close=decision.close,
        target=decision.target,
        order_type=decision.order_type,
        price=decision.price,
        stop_loss=decision.stop_loss,
        take_profit=decision.take_profit,
        inputs=inputs,
    )
    return signal.pk if _signal_store_and_place(signal, book=book, batch=batch) else None


def _signal_store_and_place(
    signal: Signal, *, book: bot_book.InstanceBook | None, batch: bot_execution.OrderRound
) -> bool:
    """Decide `signal`, store it with its event (and the decision's own writes) in one trip, and admit its
    order into `batch`; False when the bar was stored already (its decision stands)."""
    writes = bot_execution.signal_decide(signal, book=book)
    row = [
        json.dumps(signal.inputs) if field.attname == "inputs" else getattr(signal, field.attname)
        for field in _SIGNAL_STORED
    ]
    instance = signal.instance
    event = SignalEmitted(
        instance_id=instance.pk,
        strategy=instance.strategy,
        symbol=instance.symbol,
        timeframe=instance.timeframe,
        bar_time=signal.bar_time,
        target=signal.target,
    )
    _, (inserted, *written) = publish_along([event], using=ALIAS, along_with=[(_SIGNAL_INSERT_SQL, row), *writes])
    if not inserted:  # stored by a caller that did not lock the instance
        return False
    signal.pk = inserted[0][0]
    bot_execution.signal_place(signal, written=written, batch=batch)
    return True


_INSTANCE_FIELDS = StrategyInstance._meta.concrete_fields
# The market's instances locked, in one lock order for every caller, with whether each decided this bar already
# (a redelivered event): plain SQL from the model's own columns, as the ORM's compilation of this query cost
# three times its trip on every bar of every market.
_INSTANCES_LOCKED_SQL = """
SELECT {columns}, EXISTS (SELECT 1 FROM signal WHERE signal.instance_id = strategy_instance.id
                          AND signal.bar_time = %(bar_time)s)
FROM strategy_instance
WHERE exchange = %(exchange)s AND symbol = %(symbol)s AND timeframe = %(timeframe)s AND enabled = %(enabled)s
  AND model_name = %(model_name)s
ORDER BY id
FOR UPDATE
""".format(columns=", ".join(f'"{field.column}"' for field in _INSTANCE_FIELDS))  # nosec B608: model columns
_INSTANCE_NAMES = [field.attname for field in _INSTANCE_FIELDS]
_INSTANCE_CONVERTED = [(i, field) for i, field in enumerate(_INSTANCE_FIELDS) if hasattr(field, "from_db_value")]


# The same for several markets, each at its own bar, in the same lock order (by id) as the one-market read.
_INSTANCES_OF_MARKETS_LOCKED_SQL = """
SELECT {columns}, EXISTS (SELECT 1 FROM signal WHERE signal.instance_id = strategy_instance.id
                          AND signal.bar_time = market.bar_time)
FROM strategy_instance
JOIN unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::timestamptz[])
     AS market(exchange, symbol, timeframe, bar_time)
  ON strategy_instance.exchange = market.exchange AND strategy_instance.symbol = market.symbol
 AND strategy_instance.timeframe = market.timeframe
WHERE strategy_instance.enabled AND strategy_instance.model_name = ''
ORDER BY strategy_instance.id
FOR UPDATE OF strategy_instance
""".format(columns=", ".join(f'strategy_instance."{field.column}"' for field in _INSTANCE_FIELDS))  # nosec B608


def _instances_of_markets_locked(bars: Sequence[ClosedBar]) -> dict[tuple[str, str, str], list[StrategyInstance]]:
    """`_instances_locked` for the markets of `bars` (one bar per market) in one read: by market, in id order."""
    columns = [[getattr(bar, name) for bar in bars] for name in ("exchange", "symbol", "timeframe", "bar_time")]
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(_INSTANCES_OF_MARKETS_LOCKED_SQL, columns)
        rows = cursor.fetchall()
    by_market: dict[tuple[str, str, str], list[StrategyInstance]] = {}
    for instance in _instances_from_rows(rows):
        by_market.setdefault((instance.exchange, instance.symbol, instance.timeframe), []).append(instance)
    return by_market


def _instances_locked(market: dict[str, Any], *, bar_time: datetime) -> list[StrategyInstance]:
    """The instances of `market` (exchange, symbol, timeframe, enabled, model_name) that have not decided the
    bar, locked for the caller's transaction."""
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(_INSTANCES_LOCKED_SQL, {**market, "bar_time": bar_time})
        return _instances_from_rows(cursor.fetchall())


def _instances_from_rows(rows: list[tuple[Any, ...]]) -> list[StrategyInstance]:
    """The instances of the locking reads' rows (the model's columns, then whether the bar is decided) that
    have not decided their bar."""
    connection = connections[ALIAS]
    instances = []
    for *values, decided in rows:
        if decided:
            continue
        for index, field in _INSTANCE_CONVERTED:
            values[index] = field.from_db_value(values[index], None, connection)
        instances.append(StrategyInstance.from_db(ALIAS, _INSTANCE_NAMES, values))
    return instances
