"""VWAP execution: a parent order worked as market child orders whose sizes follow the market's historical
intraday volume profile, so the fills track the day's volume-weighted price.

The profile is the average volume per time-of-day bucket (one bucket per candle of the stored timeframe)
over the last `lookback_days` of stored candles, as a share of the day. The execution window is cut into
`slices` equal intervals like TWAP; each slice gets the profile's volume share over its interval, and the
parent quantity is split in whole lots by largest remainder, so the children sum to the parent exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.db import transaction

from dsta.data import api as data_api
from dsta.data.contracts import TIMEFRAME_SECONDS
from dsta.kernel.clock import utc_now
from dsta.trading import orders
from dsta.trading.models import AlgoSlice, Order
from dsta.trading.models import OrderStatus as S

ALIAS = "trading"
ZERO = Decimal(0)
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
        raise orders.OrderInputError(
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
        raise orders.OrderInputError({"quantity": f"not a whole number of lots of {lot_size}"})
    bounds = [duration_seconds * index // slices for index in range(slices + 1)]
    shares = [
        _window_share(profile, start + timedelta(seconds=bounds[i]), bounds[i + 1] - bounds[i]) for i in range(slices)
    ]
    window = sum(shares, ZERO)
    if window <= ZERO:
        raise orders.OrderInputError({"vwap_duration_seconds": "the window has no historical volume"})
    weights = [share / window for share in shares]
    total_lots = int(lots)
    exact = [weight * total_lots for weight in weights]
    allotted = [int(value.to_integral_value(rounding=ROUND_DOWN)) for value in exact]
    # largest remainder: the lots rounding left over go to the slices that lost the most to it
    by_remainder = sorted(range(slices), key=lambda i: (-(exact[i] - allotted[i]), i))
    for i in by_remainder[: total_lots - sum(allotted)]:
        allotted[i] += 1
    plan = []
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
    return orders.QUANTUM  # the paper venue takes any size down to the stored precision


def vwap_create(
    new: orders.NewOrder,
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
        raise orders.OrderInputError(errors)
    begin = start or utc_now()
    existing = Order.objects.using(ALIAS).filter(client_order_id=new.client_order_id).first()
    if new.client_order_id and existing is not None:
        return existing  # a repeated client_order_id returns the stored order, as for any order
    profile = volume_profile(exchange=new.exchange, symbol=new.symbol, lookback_days=lookback_days, end=begin)
    plan = vwap_plan(
        quantity=new.quantity,
        lot_size=_lot_size(new.exchange, new.symbol),
        start=begin,
        duration_seconds=duration_seconds,
        slices=slices,
        profile=profile,
    )
    # parent and plan in one transaction: a parent without its plan would look like a plain order to resume
    with transaction.atomic(using=ALIAS):
        parent = orders.order_create(new)
        Order.objects.using(ALIAS).filter(pk=parent.pk, algo="").update(
            algo="vwap", slices=len(plan), interval_seconds=duration_seconds // slices
        )
        AlgoSlice.objects.using(ALIAS).bulk_create(
            [
                AlgoSlice(parent_id=parent.pk, index=p.index, quantity=p.quantity, weight=p.weight, due_at=p.due_at)
                for p in plan
            ]
        )
    return orders.order_risk_step(parent.pk)


def vwap_place_slice(parent_id: int, index: int) -> Order:
    """Place child `index` of a VWAP parent. Idempotent: the child's client_order_id derives from the
    parent's, so a redelivered message finds the child it already placed."""
    parent = Order.objects.using(ALIAS).get(pk=parent_id)
    if parent.algo != "vwap" or parent.status not in (S.SUBMITTED, S.PARTIALLY_FILLED):
        return parent  # rejected by risk, cancelled, or done
    planned = AlgoSlice.objects.using(ALIAS).get(parent_id=parent_id, index=index)
    child = orders.order_create(
        orders.NewOrder(
            exchange=parent.exchange,
            symbol=parent.symbol,
            side=parent.side,
            order_type="market",
            quantity=planned.quantity,
            client_order_id=f"{parent.client_order_id}-{index}",
            strategy_instance_id=parent.strategy_instance_id,
            user_id=parent.user_id,
            parent_id=parent.pk,
        )
    )
    orders.order_risk_step(child.pk)
    orders.order_submit_step(child.pk)
    return orders.twap_roll_up(parent_id)


def next_slice_delay_ms(parent_id: int, index: int) -> int | None:
    """Milliseconds until slice `index` is due (0 when overdue), or None when the plan has no such slice."""
    planned = AlgoSlice.objects.using(ALIAS).filter(parent_id=parent_id, index=index).first()
    if planned is None:
        return None
    return max(0, int((planned.due_at - utc_now()).total_seconds() * 1000))
