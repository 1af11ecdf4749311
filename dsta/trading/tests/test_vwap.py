"""VWAP: child sizes follow the intraday volume profile of stored candles (via the data facade), in whole lots
summing exactly to the parent; the dramatiq actor places them at their due times and they fill on the paper
venue."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import dramatiq
import pytest

from dsta.data import api as data_api
from dsta.data.contracts import CandleBar
from dsta.domains import DOMAINS
from dsta.exchange import api as exchange_api
from dsta.exchange.contracts import OrderBook, PriceLevel
from dsta.trading import orders
from dsta.trading.models import AlgoSlice, MarkPrice, Order, Position
from dsta.trading.orders import algos as vwap

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
D = Decimal
DAY1 = datetime(2025, 1, 1, tzinfo=UTC)
START = DAY1 + timedelta(days=2)  # the execution window starts after two stored days


def store_two_days(first_day: datetime = DAY1) -> None:
    """Hour h trades h+1 on day one and 3(h+1) on day two: the average profile is proportional to h+1."""
    for day, factor in ((0, 1), (1, 3)):
        for hour in range(24):
            price = D(100)
            data_api.candle_close(
                bar=CandleBar(
                    "binance",
                    "BTC/USDT",
                    "1h",
                    first_day + timedelta(days=day, hours=hour),
                    price,
                    price,
                    price,
                    price,
                    D(factor * (hour + 1)),
                )
            )


@pytest.fixture
def candles():
    store_two_days()


@pytest.fixture
def paper():
    exchange_api.paper_reset(slippage_bps=D(0), slippage_jitter_bps=D(0))
    exchange_api.paper_deposit(asset="USDT", amount=D("100000"))
    exchange_api.paper_book_feed(
        book=OrderBook("paper", "BTC/USDT", DAY1, (PriceLevel(D(99), D(100)),), (PriceLevel(D(100), D(100)),))
    )
    MarkPrice.objects.using("trading").create(exchange="paper", symbol="BTC/USDT", price=D(100), as_of=DAY1)


def market_buy(quantity: str, cid: str = "") -> orders.NewOrder:
    return orders.NewOrder(
        exchange="paper", symbol="BTC/USDT", side="buy", order_type="market", quantity=D(quantity), client_order_id=cid
    )


def wait_final(parent_id: int, seconds: float = 30) -> Order:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        parent = Order.objects.using("trading").get(pk=parent_id)
        if parent.status in orders.FINAL:
            return parent
        time.sleep(0.1)
    raise AssertionError(f"VWAP parent still {parent.status}")


def test_profile_is_the_average_volume_share_per_hour_of_day(candles):
    profile = vwap.volume_profile(exchange="paper", symbol="BTC/USDT", lookback_days=2, end=START)
    assert profile.source_exchange == "binance" and profile.candles == 48 and profile.bucket_seconds == 3600
    assert profile.shares == tuple(D(2 * (hour + 1)) / D(600) for hour in range(24))
    assert sum(profile.shares) == D(1)
    # one day back sees only day two, whose shape is the same
    assert vwap.volume_profile(exchange="paper", symbol="BTC/USDT", lookback_days=1, end=START).candles == 24


def test_slices_follow_the_profile_in_whole_lots_and_sum_to_the_parent(candles):
    profile = vwap.volume_profile(exchange="binance", symbol="BTC/USDT", lookback_days=2, end=START)
    plan = vwap.vwap_plan(
        quantity=D("1.001"), lot_size=D("0.001"), start=START, duration_seconds=4 * 3600, slices=4, profile=profile
    )
    # hours 0..3 carry 1:2:3:4 of the window's volume; 1001 lots split 100.1/200.2/300.3/400.4, and the lot
    # the rounding left goes to the largest remainder
    assert [p.quantity for p in plan] == [D("0.100"), D("0.200"), D("0.300"), D("0.401")]
    assert [p.weight for p in plan] == [D("0.1"), D("0.2"), D("0.3"), D("0.4")]
    assert [p.due_at for p in plan] == [START + timedelta(hours=h) for h in range(4)]
    assert sum(p.quantity for p in plan) == D("1.001")
    # half-hour slices straddling buckets take their share of each bucket they cover
    halves = vwap.vwap_plan(
        quantity=D(1),
        lot_size=D("0.001"),
        start=START + timedelta(minutes=30),
        duration_seconds=7200,
        slices=4,
        profile=profile,
    )
    assert [p.quantity for p in halves] == [D("0.125"), D("0.25"), D("0.25"), D("0.375")]
    # an uneven split still sums exactly
    odd = vwap.vwap_plan(
        quantity=D("0.0007"), lot_size=D("0.0001"), start=START, duration_seconds=86400, slices=24, profile=profile
    )
    assert sum(p.quantity for p in odd) == D("0.0007") and all(p.quantity % D("0.0001") == 0 for p in odd)
    assert len(odd) < 24  # slices the split left empty are dropped, not sent as zero-size orders
    assert [p.index for p in odd] == list(range(len(odd)))


def test_bad_plans_are_refused_with_field_errors(candles, paper):
    profile = vwap.volume_profile(exchange="binance", symbol="BTC/USDT", lookback_days=2, end=START)
    with pytest.raises(orders.OrderInputError) as lots:
        vwap.vwap_plan(
            quantity=D("1.0005"), lot_size=D("0.001"), start=START, duration_seconds=60, slices=2, profile=profile
        )
    assert "quantity" in lots.value.errors
    with pytest.raises(orders.OrderInputError) as history:
        vwap.vwap_create(market_buy("1"), slices=2, duration_seconds=60, lookback_days=2, start=DAY1)
    assert "vwap_lookback_days" in history.value.errors  # nothing stored before day one
    with pytest.raises(orders.OrderInputError) as window:
        vwap.vwap_create(market_buy("1"), slices=10, duration_seconds=5)
    assert "vwap_duration_seconds" in window.value.errors
    assert not Order.objects.using("trading").exists()


def test_the_actor_places_children_by_the_profile_and_they_fill(candles, paper, worker):
    from dsta.trading.actors import vwap_start

    parent = vwap.vwap_create(
        market_buy("1.0", cid="vwap-1"), slices=4, duration_seconds=4 * 3600, lookback_days=2, start=START
    )
    assert parent.status == "submitted" and parent.algo == "vwap" and parent.slices == 4
    assert list(
        AlgoSlice.objects.using("trading").filter(parent=parent).order_by("index").values_list("quantity", flat=True)
    ) == [D("0.1"), D("0.2"), D("0.3"), D("0.4")]
    vwap_start(parent.pk)  # the window lies in the past: every child is due at once
    parent = wait_final(parent.pk)
    children = list(Order.objects.using("trading").filter(parent=parent).order_by("id"))
    assert [(c.client_order_id, c.quantity, c.status) for c in children] == [
        (f"vwap-1-{i}", q, "filled") for i, q in enumerate([D("0.1"), D("0.2"), D("0.3"), D("0.4")])
    ]
    assert parent.status == "filled" and parent.filled_quantity == D(1) and parent.average_price == D(100)
    assert Position.objects.using("trading").get(symbol="BTC/USDT").quantity == D(1)
    assert len(exchange_api.fills_list(venue="paper")) == 4
    assert vwap.vwap_place_slice(parent.pk, 3).status == "filled"  # a redelivered slice adds nothing
    assert Order.objects.using("trading").filter(parent=parent).count() == 4
    # the same request again returns the parent it made
    again = vwap.vwap_create(market_buy("1.0", cid="vwap-1"), slices=4, duration_seconds=4 * 3600, lookback_days=2)
    assert again.pk == parent.pk


def test_children_wait_for_their_due_time(paper, worker):
    from dsta.trading.actors import vwap_start

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    store_two_days(today - timedelta(days=2))

    parent = vwap.vwap_create(market_buy("0.5"), slices=2, duration_seconds=2, lookback_days=7)
    vwap_start(parent.pk)
    parent = wait_final(parent.pk)
    children = list(Order.objects.using("trading").filter(parent=parent).order_by("id"))
    assert len(children) == 2 and sum(c.quantity for c in children) == D("0.5")
    due = list(
        AlgoSlice.objects.using("trading").filter(parent=parent).order_by("index").values_list("due_at", flat=True)
    )
    assert due[1] - due[0] == timedelta(seconds=1)
    assert all(child.created_at >= at for child, at in zip(children, due, strict=True))  # none went early
    assert parent.status == "filled"


def test_vwap_through_the_api(paper, client, django_user_model):
    store_two_days(datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2))
    client.force_login(django_user_model.objects.create_superuser("trader", password="x" * 12))
    body = {"exchange": "paper", "symbol": "BTC/USDT", "side": "buy", "order_type": "market", "quantity": "0.5"}
    created = client.post(
        "/api/v1/orders",
        {**body, "vwap_slices": 3, "vwap_duration_seconds": 3600, "vwap_lookback_days": 7},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["algo"] == "vwap" and created.json()["status"] == "submitted"
    half = client.post("/api/v1/orders", {**body, "vwap_slices": 3}, content_type="application/json")
    assert half.status_code == 400 and "vwap_slices" in half.json()
    both = client.post(
        "/api/v1/orders",
        {**body, "vwap_slices": 3, "vwap_duration_seconds": 60, "twap_slices": 3, "twap_duration_seconds": 60},
        content_type="application/json",
    )
    assert both.status_code == 400 and "vwap_slices" in both.json()
    eth = client.post(
        "/api/v1/orders",
        {**body, "symbol": "ETH/USDT", "vwap_slices": 3, "vwap_duration_seconds": 60},
        content_type="application/json",
    )
    assert eth.status_code == 400 and "vwap_lookback_days" in eth.json()  # no ETH candles stored
    dramatiq.get_broker().flush("trading")
