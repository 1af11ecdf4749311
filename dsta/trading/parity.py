"""Parity, trade by trade: the backtest of the instance's strategy and parameters (data's facade, the same
engine) over exactly the bars the bot decided, against the instance's real fills.

The backtest starts `warmup` stored bars before the bot's first decided bar, so its first decision falls on
that bar, with the instance's capital and cost model, filling at the decision bar's close (`fill_at=close`:
the bot trades right after a bar closes, at the reference close on paper). Round trips on each side are paired
by entry bar (exactly, then within `TOLERANCE_BARS` bars); what stays unpaired is reported with the reason
found in the bot's records: a bar it did not see (missed bar, back-fill), a decision it did not trade
(paused, stopped, a protection, under the minimum), a risk rejection, a venue rejection or a partial fill.
Slippage is in basis points against the trader (positive: the bot did worse than the backtest). The score
is matched / (matched + extra + missed): 1.0 is exact parity.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from dsta.data import api as data_api
from dsta.data.contracts import (
    TIMEFRAME_SECONDS,
    BacktestRequest,
    BacktestTradeView,
    InputSeries,
    InvalidStrategyParameters,
)
from dsta.kernel.clock import from_epoch_ms
from dsta.kernel.errors import InputError
from dsta.kernel.events import to_jsonable
from dsta.trading.models import Order, OrderTransition, Signal, StrategyInstance

ALIAS = "trading"
ZERO = Decimal(0)
BPS = Decimal(10_000)
TOLERANCE_BARS = 3


class ParityInputError(InputError):
    """A parity request that names no instance, bars or strategy it can compare."""


@dataclass(frozen=True)
class RoundTrip:
    entry_bar: datetime
    entry_price: Decimal
    quantity: Decimal
    exit_bar: datetime | None  # None: still open
    exit_price: Decimal | None
    fees: Decimal


@dataclass(frozen=True)
class MatchedTrade:
    entry_bar: datetime
    backtest_entry_bar: datetime
    entry_time_difference_seconds: int
    exit_time_difference_seconds: int | None
    entry_slippage_bps: float
    exit_slippage_bps: float | None
    quantity: Decimal
    backtest_quantity: Decimal


@dataclass(frozen=True)
class OneSidedTrade:
    entry_bar: datetime
    exit_bar: datetime | None
    reason: str


@dataclass(frozen=True)
class ParityReport:
    instance_id: int
    start: datetime
    end: datetime
    bars: int  # bars the bot decided
    backtest_job_id: str
    backtest_trades: int
    bot_trades: int
    matched: list[MatchedTrade] = field(default_factory=list)
    extra: list[OneSidedTrade] = field(default_factory=list)  # the bot's only
    missed: list[OneSidedTrade] = field(default_factory=list)  # the backtest's only

    @property
    def score(self) -> float:
        total = len(self.matched) + len(self.extra) + len(self.missed)
        return len(self.matched) / total if total else 1.0

    @property
    def max_slippage_bps(self) -> float:
        values = [abs(m.entry_slippage_bps) for m in self.matched]
        values += [abs(m.exit_slippage_bps) for m in self.matched if m.exit_slippage_bps is not None]
        return max(values, default=0.0)

    def summary_line(self) -> str:
        return (
            f"parity: {len(self.matched)}/{self.backtest_trades} trades matched, {len(self.extra)} extra, "
            f"{len(self.missed)} missed, max slippage {self.max_slippage_bps:.2f} bps"
        )


def decision_bar(order: Order) -> datetime | None:
    """The decision bar a bot order was placed for (its client id ends with the bar's epoch seconds)."""
    tail = order.client_order_id.rsplit("-", 1)[-1]
    return from_epoch_ms(int(tail) * 1000) if order.client_order_id.startswith("bot-") and tail.isdigit() else None


def bot_round_trips(instance: StrategyInstance, orders: list[Order]) -> list[RoundTrip]:
    """The instance's round trips from its filled orders, built as the backtest builds its trades."""
    trips: list[RoundTrip] = []
    held = notional = bought = fees = ZERO
    entry_bar: datetime | None = None
    for order in orders:
        bar = decision_bar(order)
        if bar is None or not order.filled_quantity or order.average_price is None:
            continue
        quantity, price = order.filled_quantity, order.average_price
        if order.side == "buy":
            if held == 0:
                entry_bar, notional, bought, fees = bar, ZERO, ZERO, ZERO
            held += quantity
            notional += quantity * price
            bought += quantity
            fees += order.fees
        else:
            held -= quantity
            fees += order.fees
            if held <= 0 and entry_bar is not None:
                trips.append(RoundTrip(entry_bar, notional / bought, bought, bar, price, fees))
                held, entry_bar = ZERO, None
    if entry_bar is not None and bought:
        trips.append(RoundTrip(entry_bar, notional / bought, bought, None, None, fees))
    return trips


def _slippage(ours: Decimal, theirs: Decimal, *, buy: bool) -> float:
    if not theirs:
        return 0.0
    worse = (ours - theirs) if buy else (theirs - ours)
    return float(worse / theirs * BPS)


def _inputs_seen(signals: dict[datetime, Signal]) -> tuple[InputSeries, ...]:
    """The outside values the bot decided on (an ml_signal instance's predictions), bar by bar, so the
    backtest decides on exactly what the bot saw (a bar the bot never got a prediction for stays empty)."""
    values: dict[str, list[tuple[int, float]]] = {}
    for bar_time, signal in signals.items():
        for name, value in (signal.inputs or {}).items():
            values.setdefault(name, []).append((int(bar_time.timestamp() * 1000), float(value)))
    return tuple(
        InputSeries(name, tuple(ms for ms, _ in pairs), tuple(value for _, value in pairs))
        for name, pairs in sorted(values.items())
    )


def _backtest(
    instance: StrategyInstance, first: datetime, last: datetime, inputs: tuple[InputSeries, ...] = ()
) -> tuple[str, list[BacktestTradeView]]:
    step = timedelta(seconds=TIMEFRAME_SECONDS[instance.timeframe])
    try:
        warmup = data_api.strategy_warmup(strategy=instance.strategy, params=instance.params)
    except InvalidStrategyParameters as exc:
        raise ParityInputError({f"params.{key}": value for key, value in exc.errors.items()}) from None
    start = first
    if warmup:
        before = data_api.candles_get(
            exchange=instance.exchange,
            symbol=instance.symbol,
            timeframe=instance.timeframe,
            start=first - step * (warmup * 3 + 10),
            end=first,
        )
        if before:
            start = before[-warmup:][0].open_time
    summary = data_api.backtest_run(
        request=BacktestRequest(
            strategy=instance.strategy,
            params=dict(instance.params),
            exchange=instance.exchange,
            symbol=instance.symbol,
            timeframe=instance.timeframe,
            start=start,
            end=last + step,
            initial_cash=instance.capital,
            commission=instance.commission,
            slippage=instance.slippage,
            fill_at="close",
            inputs=inputs,
        )
    )
    if summary.error:
        raise ParityInputError({"backtest": summary.error})
    return summary.job_id, data_api.backtest_trades(job_id=summary.job_id)


def _reason_missed(entry_bar: datetime, signals: dict[datetime, Signal], orders: dict[str, Order]) -> str:
    signal = signals.get(entry_bar)
    if signal is None:
        return "missed bar: the bot did not see this bar"
    if signal.stale:
        return "missed bar: a back-filled bar (not traded)"
    if signal.action in ("", "hold"):
        return "the bot's decision differs (it held)"
    if signal.action != "order":
        return f"not traded: {signal.action}" + (f" ({signal.detail})" if signal.detail else "")
    order = orders.get(signal.client_order_id)
    if order is None:
        return "order not placed yet"
    if order.status == "rejected":
        reasons = [t.reason for t in OrderTransition.objects.using(ALIAS).filter(order=order, to_status="rejected")]
        reason = reasons[-1] if reasons else order.last_error
        if reason.startswith("exchange"):
            return f"venue rejection: {order.last_error or reason}"
        return f"risk rejection: {reason}"
    if order.filled_quantity < order.quantity:
        return f"partial fill: {order.filled_quantity} of {order.quantity}"
    return f"order {order.status}"


def parity_report(*, instance: StrategyInstance, start: datetime | None, end: datetime | None) -> ParityReport:
    decided = Signal.objects.using(ALIAS).filter(instance=instance)
    if start is not None:
        decided = decided.filter(bar_time__gte=start)
    if end is not None:
        decided = decided.filter(bar_time__lt=end)
    signals = {signal.bar_time: signal for signal in decided.order_by("bar_time")}
    if not signals:
        raise ParityInputError({"start": "the bot decided no bar of this instance in this window"})
    bars = sorted(signals)
    first, last = bars[0], bars[-1]
    job_id, trades = _backtest(instance, first, last, _inputs_seen(signals))
    orders = list(Order.objects.using(ALIAS).filter(strategy_instance_id=instance.pk).order_by("client_order_id"))
    orders.sort(key=lambda order: decision_bar(order) or first)
    in_window = [order for order in orders if (bar := decision_bar(order)) is not None and first <= bar <= last]
    ours = bot_round_trips(instance, in_window)
    theirs = [trade for trade in trades if trade.side == "long"]
    step = timedelta(seconds=TIMEFRAME_SECONDS[instance.timeframe])
    matched: list[MatchedTrade] = []
    unmatched_ours = list(ours)
    unmatched_theirs: list[BacktestTradeView] = []
    for tolerance in (0, TOLERANCE_BARS):
        remaining: list[BacktestTradeView] = []
        for trade in theirs if tolerance == 0 else unmatched_theirs:
            pair = next(
                (trip for trip in unmatched_ours if abs(trip.entry_bar - trade.entry_time) <= step * tolerance),
                None,
            )
            if pair is None:
                remaining.append(trade)
                continue
            unmatched_ours.remove(pair)
            matched.append(_matched(pair, trade))
        unmatched_theirs = remaining
    by_client_id = {order.client_order_id: order for order in orders}
    missed = [
        OneSidedTrade(trade.entry_time, trade.exit_time, _reason_missed(trade.entry_time, signals, by_client_id))
        for trade in unmatched_theirs
    ]
    extra = [OneSidedTrade(trip.entry_bar, trip.exit_bar, "the backtest did not enter here") for trip in unmatched_ours]
    return ParityReport(
        instance_id=instance.pk,
        start=first,
        end=last + step,
        bars=len(bars),
        backtest_job_id=job_id,
        backtest_trades=len(theirs),
        bot_trades=len(ours),
        matched=sorted(matched, key=lambda m: m.entry_bar),
        extra=extra,
        missed=missed,
    )


def _matched(trip: RoundTrip, trade: BacktestTradeView) -> MatchedTrade:
    closed = trip.exit_bar is not None and trade.exit_reason != "end_of_data"
    return MatchedTrade(
        entry_bar=trip.entry_bar,
        backtest_entry_bar=trade.entry_time,
        entry_time_difference_seconds=int((trip.entry_bar - trade.entry_time).total_seconds()),
        exit_time_difference_seconds=int((trip.exit_bar - trade.exit_time).total_seconds())
        if closed and trip.exit_bar is not None
        else None,
        entry_slippage_bps=_slippage(trip.entry_price, trade.entry_price, buy=True),
        exit_slippage_bps=_slippage(trip.exit_price, trade.exit_price, buy=False)
        if closed and trip.exit_price is not None
        else None,
        quantity=trip.quantity,
        backtest_quantity=trade.qty,
    )


def as_json(report: ParityReport) -> dict[str, Any]:
    return to_jsonable(
        {
            **{key: value for key, value in asdict(report).items() if key not in ("matched", "extra", "missed")},
            "score": report.score,
            "max_slippage_bps": report.max_slippage_bps,
            "summary": report.summary_line(),
            "matched": [asdict(m) for m in report.matched],
            "extra": [asdict(e) for e in report.extra],
            "missed": [asdict(m) for m in report.missed],
        }
    )
