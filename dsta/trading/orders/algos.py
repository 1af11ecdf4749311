"""Execution algorithms: a parent order risk-checked at its full size and worked as market child orders, by
TWAP (equal slices at equal intervals) or VWAP (slices following the market's historical intraday volume).

VWAP's profile is the average volume per time-of-day bucket (one bucket per candle of the stored timeframe)
over the last `lookback_days` of stored candles, as a share of the day. The execution window is cut into
`slices` equal intervals like TWAP; each slice gets the profile's volume share over its interval, and the
parent quantity is split in whole lots by largest remainder, so the children sum to the parent exactly.

Both place their children through one `algo_place_child` and roll them up through one `algo_roll_up`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.db import transaction

from dsta.data import api as data_api
from dsta.data.contracts import TIMEFRAME_SECONDS
from dsta.kernel.clock import utc_now
from dsta.trading.models import OPEN_STATUSES, AlgoSlice, Order
from dsta.trading.models import OrderStatus as S
from dsta.trading.orders.admission import NewOrder, order_admit, order_known
from dsta.trading.orders.state import ALIAS, FINAL, ZERO, OrderInputError, locked, transition
from dsta.trading.orders.submission import order_place

QUANTUM = Decimal("0.0000000001")


def twap_create(new: NewOrder, *, slices: int, duration_seconds: int) -> Order:
    """A parent order risk-checked at its full size, to be worked as `slices` market child orders spread
    evenly over `duration_seconds` (the `twap_slice` actor places them). Returns the parent."""
    errors: dict[str, str] = {}
    if not 1 <= slices <= 1000:
        errors["slices"] = "between 1 and 1000"
    if not 0 <= duration_seconds <= 7 * 86400:
        errors["duration_seconds"] = "between 0 and 604800"
    if new.order_type != "market":
        errors["order_type"] = "TWAP slices are market orders"
    if errors:
        raise OrderInputError(errors)
    interval = duration_seconds // slices if slices else 0
    return order_admit(replace(new, algo="twap", slices=slices, interval_seconds=interval))


def twap_slice_quantity(parent: Order, index: int) -> Decimal:
    """Equal slices, quantised; the last one takes the remainder so the slices sum to the parent exactly."""
    assert parent.slices
    even = (parent.quantity / parent.slices).quantize(QUANTUM, rounding="ROUND_DOWN")
    return parent.quantity - even * (parent.slices - 1) if index == parent.slices - 1 else even


DAY = 86400
DEFAULT_LOOKBACK_DAYS = 7
PROFILE_TIMEFRAME = "1h"
WEIGHT_QUANTUM = Decimal("0.000000000001")


@dataclass(frozen=True)
class VolumeProfile:
    source_exchange: str  # where the candles came from (a paper order uses a real venue's history)
    bucket_seconds: int
    shares: tuple[Decimal, ...]  # per time-of-day bucket from 00:00 UTC; they sum to 1
    candles: int


@dataclass(frozen=True)
class PlannedSlice:
    index: int
    quantity: Decimal
    weight: Decimal  # the slice's share of the window's expected volume
    due_at: datetime


def _source_exchange(exchange: str, symbol: str, timeframe: str) -> str | None:
    """The order's own venue when its candles are stored, else any venue with this market's candles."""
    venues = [
        series.exchange
        for series in data_api.series_list()
        if series.symbol == symbol and series.timeframe == timeframe
    ]
    if exchange in venues:
        return exchange
    return venues[0] if venues else None


def volume_profile(
    *, exchange: str, symbol: str, lookback_days: int, end: datetime, timeframe: str = PROFILE_TIMEFRAME
) -> VolumeProfile:
    bucket_seconds = TIMEFRAME_SECONDS[timeframe]
    source = _source_exchange(exchange, symbol, timeframe)
    bars = (
        data_api.candles_get(
            exchange=source, symbol=symbol, timeframe=timeframe, start=end - timedelta(days=lookback_days), end=end
        )
        if source
        else []
    )
    buckets = DAY // bucket_seconds
    totals, counts = [ZERO] * buckets, [0] * buckets
    for bar in bars:
        seconds = bar.open_time.hour * 3600 + bar.open_time.minute * 60 + bar.open_time.second
        totals[seconds // bucket_seconds] += bar.volume
        counts[seconds // bucket_seconds] += 1
    averages = [total / count if count else ZERO for total, count in zip(totals, counts, strict=True)]
    day_volume = sum(averages, ZERO)
    if day_volume <= ZERO:
        raise OrderInputError(
            {"vwap_lookback_days": f"no stored {timeframe} volume of {symbol} in the last {lookback_days} days"}
        )
    return VolumeProfile(source or exchange, bucket_seconds, tuple(a / day_volume for a in averages), len(bars))


def _window_share(profile: VolumeProfile, start: datetime, seconds: int) -> Decimal:
    """The profile's expected share of a day's volume over [start, start + seconds)."""
    offset = start.hour * 3600 + start.minute * 60 + start.second
    share, remaining = ZERO, seconds
    while remaining > 0:
        bucket = (offset % DAY) // profile.bucket_seconds
        span = min(remaining, profile.bucket_seconds - offset % profile.bucket_seconds)
        share += profile.shares[bucket] * span / profile.bucket_seconds
        offset, remaining = offset + span, remaining - span
    return share


def vwap_plan(
    *,
    quantity: Decimal,
    lot_size: Decimal,
    start: datetime,
    duration_seconds: int,
    slices: int,
    profile: VolumeProfile,
) -> list[PlannedSlice]:
    """Split `quantity` into at most `slices` children following the profile over the window. Each child
    is a whole number of lots and they sum to `quantity`; a slice the split leaves empty is dropped."""
    lots = quantity / lot_size
    if lots != lots.to_integral_value():
        raise OrderInputError({"quantity": f"not a whole number of lots of {lot_size}"})
    bounds = [duration_seconds * index // slices for index in range(slices + 1)]
    shares = [
        _window_share(profile, start + timedelta(seconds=bounds[i]), bounds[i + 1] - bounds[i]) for i in range(slices)
    ]
    window = sum(shares, ZERO)
    if window <= ZERO:
        raise OrderInputError({"vwap_duration_seconds": "the window has no historical volume"})
    weights = [share / window for share in shares]
    total_lots = int(lots)
    exact = [weight * total_lots for weight in weights]
    allotted = [int(value.to_integral_value(rounding=ROUND_DOWN)) for value in exact]
    # largest remainder: the lots rounding left over go to the slices that lost the most to it
    by_remainder = sorted(range(slices), key=lambda i: (-(exact[i] - allotted[i]), i))
    for i in by_remainder[: total_lots - sum(allotted)]:
        allotted[i] += 1
    plan: list[PlannedSlice] = []
    for i in range(slices):
        if allotted[i]:
            plan.append(
                PlannedSlice(
                    index=len(plan),
                    quantity=allotted[i] * lot_size,
                    weight=weights[i].quantize(WEIGHT_QUANTUM),
                    due_at=start + timedelta(seconds=bounds[i]),
                )
            )
    return plan


def _lot_size(exchange: str, symbol: str) -> Decimal:
    from dsta.exchange import api as exchange_api

    for market in exchange_api.markets_list(venue=exchange):
        if market.symbol == symbol and market.amount_step > ZERO:
            return market.amount_step
    return QUANTUM  # the paper venue takes any size down to the stored precision


def vwap_create(
    new: NewOrder,
    *,
    slices: int,
    duration_seconds: int,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    start: datetime | None = None,
) -> Order:
    """A parent order risk-checked at its full size, with its VWAP plan stored as `AlgoSlice` rows for the
    `vwap_slice` actor to place at their due times. Returns the parent."""
    errors: dict[str, str] = {}
    if not 1 <= slices <= 1000:
        errors["vwap_slices"] = "between 1 and 1000"
    if not slices <= duration_seconds <= 7 * DAY:
        errors["vwap_duration_seconds"] = "at least one second per slice, at most 604800"
    if not 1 <= lookback_days <= 365:
        errors["vwap_lookback_days"] = "between 1 and 365"
    if new.order_type != "market":
        errors["order_type"] = "VWAP slices are market orders"
    if errors:
        raise OrderInputError(errors)
    known = order_known(replace(new, algo="vwap"))
    if known is not None:
        return known  # a repeated client_order_id returns the stored order, as for any order
    begin = start or utc_now()
    profile = volume_profile(exchange=new.exchange, symbol=new.symbol, lookback_days=lookback_days, end=begin)
    plan = vwap_plan(
        quantity=new.quantity,
        lot_size=_lot_size(new.exchange, new.symbol),
        start=begin,
        duration_seconds=duration_seconds,
        slices=slices,
        profile=profile,
    )

    def store_plan(parent: Order) -> None:
        # in the parent's transaction: a parent without its plan would look like a plain order to resume
        AlgoSlice.objects.using(ALIAS).bulk_create(
            [
                AlgoSlice(parent_id=parent.pk, index=p.index, quantity=p.quantity, weight=p.weight, due_at=p.due_at)
                for p in plan
            ]
        )

    parent = replace(new, algo="vwap", slices=len(plan), interval_seconds=duration_seconds // slices)
    return order_admit(parent, along=store_plan)


def next_slice_delay_ms(parent_id: int, index: int) -> int | None:
    """Milliseconds until slice `index` is due (0 when overdue), or None when the plan has no such slice."""
    planned = AlgoSlice.objects.using(ALIAS).filter(parent_id=parent_id, index=index).first()
    if planned is None:
        return None
    return max(0, int((planned.due_at - utc_now()).total_seconds() * 1000))


def _child_quantity(parent: Order, index: int) -> Decimal:
    if parent.algo == "twap":
        return twap_slice_quantity(parent, index)
    return AlgoSlice.objects.using(ALIAS).get(parent_id=parent.pk, index=index).quantity


def algo_place_child(parent_id: int, index: int, *, algo: str) -> Order:
    """Place child `index` of a TWAP or VWAP parent and roll the children up. Idempotent: the child's
    client_order_id derives from the parent's, so a redelivered message finds the child it already placed."""
    parent = Order.objects.using(ALIAS).get(pk=parent_id)
    if parent.algo != algo or parent.status not in OPEN_STATUSES:
        return parent  # rejected by risk, cancelled, or done
    order_place(
        NewOrder(
            exchange=parent.exchange,
            symbol=parent.symbol,
            side=parent.side,
            order_type="market",
            quantity=_child_quantity(parent, index),
            client_order_id=f"{parent.client_order_id}-{index}",
            strategy_instance_id=parent.strategy_instance_id,
            user_id=parent.user_id,
            parent_id=parent.pk,
        )
    )
    return algo_roll_up(parent_id)


def twap_place_slice(parent_id: int, index: int) -> Order:
    """Place slice `index` of a TWAP parent (see `algo_place_child`)."""
    return algo_place_child(parent_id, index, algo="twap")


def vwap_place_slice(parent_id: int, index: int) -> Order:
    """Place child `index` of a VWAP parent (see `algo_place_child`)."""
    return algo_place_child(parent_id, index, algo="vwap")


def algo_roll_up(parent_id: int) -> Order:
    """The parent's fill, price and fees from its children; final once every slice is placed and final."""
    with transaction.atomic(using=ALIAS):
        parent = locked(parent_id)
        children = list(Order.objects.using(ALIAS).filter(parent_id=parent_id))
        filled = sum((child.filled_quantity for child in children), ZERO)
        notional = sum((child.filled_quantity * (child.average_price or ZERO) for child in children), ZERO)
        parent.filled_quantity = filled
        parent.average_price = notional / filled if filled else None
        parent.fees = sum((child.fees for child in children), ZERO)
        parent.save(using=ALIAS)
        done = len(children) == parent.slices and all(child.status in FINAL for child in children)
        if parent.status in FINAL:
            return parent
        if done and filled == parent.quantity:
            transition(parent, S.FILLED, reason="every slice filled")
        elif done:
            target = S.CANCELLED if filled else S.REJECTED
            if parent.status == S.PARTIALLY_FILLED and target == S.REJECTED:
                target = S.CANCELLED
            transition(parent, target, reason=f"slices done, {filled} of {parent.quantity} filled")
        elif filled and parent.status == S.SUBMITTED:
            transition(parent, S.PARTIALLY_FILLED, reason="a slice filled")
    return parent
