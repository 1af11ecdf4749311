"""Live venues through the real ccxt client against local servers speaking each venue's REST dialect."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dsta.exchange import api
from dsta.exchange.contracts import (
    BreakerState,
    CircuitOpen,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    RateLimited,
    UnknownSymbol,
)
from dsta.exchange.models import OrderIntent, OutboxEvent
from dsta.exchange.resilience import Limits, RateLimiter
from dsta.exchange.tests.fake_venues import Binance, Gate, Htx

pytestmark = pytest.mark.django_db(databases=["exchange", "default"], transaction=True)

ALL_DIALECTS = [Binance, Gate, Htx]
CREATE_ROUTE = {
    "binance": "POST /api/v3/order",
    "gate": "POST /api/v4/spot/orders",
    "htx": "POST /v1/order/orders/place",
}
TICKER_ROUTE = {
    "binance": "GET /api/v3/ticker/24hr",
    "gate": "GET /api/v4/spot/tickers",
    "htx": "GET /market/detail/merged",
}


def opened(server) -> list[str]:
    """Client ids of the orders the venue opened (Gate.io stores ours with its "t-" prefix)."""
    return [cid.removeprefix("t-") for cid in server.dialect.created]


def limit_buy(cid: str, amount: str = "0.01", price: str = "90") -> OrderRequest:
    return OrderRequest("BTC/USDT", OrderSide.BUY, OrderType.LIMIT, Decimal(amount), cid, Decimal(price))


@pytest.mark.parametrize("fake_venue", ALL_DIALECTS, indirect=True, ids=lambda d: d.name)
def test_every_call_normalised_from_the_venue_dialect(fake_venue):
    venue = fake_venue.venue
    markets = {m.symbol: m for m in api.markets_list(venue=venue)}
    assert set(markets) == {"BTC/USDT", "ETH/USDT"}
    btc = markets["BTC/USDT"]
    assert (btc.base, btc.quote, btc.price_tick) == ("BTC", "USDT", Decimal("0.01"))
    assert btc.amount_step > 0 and btc.min_amount > 0 and btc.min_notional > 0

    ticker = api.ticker_get(venue=venue, symbol="BTC/USDT")
    assert (ticker.bid, ticker.ask, ticker.last, ticker.base_volume) == (
        Decimal("99.5"),
        Decimal("100.5"),
        Decimal("100"),
        Decimal("1234.5"),
    )
    book = api.order_book_get(venue=venue, symbol="BTC/USDT", depth=1)
    assert [(lv.price, lv.amount) for lv in book.bids] == [(Decimal("99.5"), Decimal("1"))]
    assert [(lv.price, lv.amount) for lv in book.asks] == [(Decimal("100.5"), Decimal("1.5"))]

    bars = api.ohlcv_fetch(venue=venue, symbol="BTC/USDT", timeframe="1h", limit=3)
    assert len(bars) == 3 and bars[0].open_time == datetime(2025, 1, 1, tzinfo=UTC)
    assert bars[0].open_time < bars[1].open_time and bars[0].high == Decimal(110) and bars[0].volume == Decimal("5.5")

    trades = api.trades_recent(venue=venue, symbol="BTC/USDT", limit=10)
    assert [(t.trade_id, t.side, t.price, t.amount) for t in trades] == [
        ("7", OrderSide.SELL, Decimal("100.1"), Decimal("0.5")),
        ("8", OrderSide.BUY, Decimal("100.2"), Decimal("0.25")),
    ]

    balances = {b.asset: b for b in api.balance_get(venue=venue)}
    assert balances["USDT"].free == Decimal(10000) and balances["BTC"].total == Decimal("1.5")

    placed = api.order_submit(venue=venue, request=limit_buy("cid-1"))
    assert placed.client_order_id == "cid-1" and placed.status is OrderStatus.OPEN and placed.exchange_order_id
    assert (placed.symbol, placed.side, placed.amount, placed.price) == ("BTC/USDT", OrderSide.BUY, Decimal("0.01"), 90)
    assert api.order_get(venue=venue, client_order_id="cid-1").exchange_order_id == placed.exchange_order_id
    assert [o.client_order_id for o in api.orders_open_list(venue=venue, symbol="BTC/USDT")] == ["cid-1"]
    cancelled = api.order_cancel(venue=venue, client_order_id="cid-1")
    assert cancelled.status is OrderStatus.CANCELLED
    assert api.fills_list(venue=venue, symbol="BTC/USDT") == []
    assert api.venue_status(venue=venue).reachable
    assert fake_venue.unknown == []
    events = list(OutboxEvent.objects.using("exchange").values_list("name", "payload"))
    assert [(name, payload["status"]) for name, payload in events] == [
        ("exchange.order_updated", "open"),
        ("exchange.order_updated", "cancelled"),
    ]


@pytest.mark.parametrize("fake_venue", ALL_DIALECTS, indirect=True, ids=lambda d: d.name)
@pytest.mark.parametrize("fault", ["apply_then_500", "apply_then_drop", "apply_then_503"])
def test_a_retried_create_never_opens_a_second_order(fake_venue, fault):
    """The venue opens the order but the answer is lost: the retry must find it by client order id."""
    fake_venue.faults.add(CREATE_ROUTE[fake_venue.dialect.name], fault)
    view = api.order_submit(venue=fake_venue.venue, request=limit_buy("once-1"))
    assert view.client_order_id == "once-1" and view.status is OrderStatus.OPEN
    assert opened(fake_venue) == ["once-1"]
    assert fake_venue.count(*CREATE_ROUTE[fake_venue.dialect.name].split(" ")) == 1
    # and a later repeat of the same submit (a restarted caller) neither sends again nor opens another
    again = api.order_submit(venue=fake_venue.venue, request=limit_buy("once-1"))
    assert again.exchange_order_id == view.exchange_order_id
    assert opened(fake_venue) == ["once-1"]
    assert (
        OrderIntent.objects.using("exchange").get(client_order_id="once-1").exchange_order_id == view.exchange_order_id
    )


@pytest.mark.parametrize("fake_venue", ALL_DIALECTS, indirect=True, ids=lambda d: d.name)
def test_business_errors_are_normalised_and_never_retried(fake_venue):
    route = CREATE_ROUTE[fake_venue.dialect.name]
    with pytest.raises(InsufficientFunds):
        api.order_submit(venue=fake_venue.venue, request=limit_buy("big", amount="1000", price="100"))
    assert fake_venue.count(*route.split(" ")) == 1
    with pytest.raises(UnknownSymbol):
        api.ticker_get(venue=fake_venue.venue, symbol="NOPE/USDT")
    with pytest.raises(OrderNotFound):
        api.order_get(venue=fake_venue.venue, client_order_id="never-sent")
    api.order_submit(venue=fake_venue.venue, request=limit_buy("reuse"))
    with pytest.raises(InvalidOrder):  # same client id, different order
        api.order_submit(venue=fake_venue.venue, request=limit_buy("reuse", amount="0.02"))
    assert (
        api.exchange_health()[[h.venue for h in api.exchange_health()].index(fake_venue.venue)].consecutive_failures
        == 0
    )


@pytest.mark.parametrize("fault", ["429", "418", "500", "503", "malformed", "drop", "slow:1.5"])
def test_transient_faults_are_retried(fake_venue, fault):
    fake_venue.faults.add(TICKER_ROUTE["binance"], fault, fault)
    ticker = api.ticker_get(venue="binance", symbol="BTC/USDT")
    assert ticker.last == Decimal(100)
    assert fake_venue.count("GET", "/api/v3/ticker/24hr") == 3
    health = {h.venue: h for h in api.exchange_health()}["binance"]
    assert health.breaker_state is BreakerState.CLOSED and health.consecutive_failures == 0


def test_retry_after_is_honoured_and_exhausted_retries_surface_as_rate_limited(fake_venue, settings):
    settings.DSTA_EXCHANGE_RETRY = {"attempts": 2, "base_delay": 0.0, "max_delay": 5.0}
    api.clients_reset()
    fake_venue.faults.add(TICKER_ROUTE["binance"], "429")
    started = time.monotonic()
    api.ticker_get(venue="binance", symbol="BTC/USDT")
    assert time.monotonic() - started >= 1.0  # the fake says Retry-After: 1
    fake_venue.faults.add(TICKER_ROUTE["binance"], "429", "429")
    with pytest.raises(RateLimited):
        api.ticker_get(venue="binance", symbol="BTC/USDT")


def test_circuit_breaker_opens_refuses_then_half_opens_and_closes(fake_venue):
    api.markets_list(venue="binance")  # markets loaded, so only the ticker route is called below
    fake_venue.faults.add(TICKER_ROUTE["binance"], *["500"] * 5)
    with pytest.raises(ExchangeUnavailable):
        api.ticker_get(venue="binance", symbol="BTC/USDT")  # 4 attempts, 4 failures
    with pytest.raises(ExchangeUnavailable):
        api.ticker_get(venue="binance", symbol="BTC/USDT")  # the 5th failure opens the breaker
    health = {h.venue: h for h in api.exchange_health()}["binance"]
    assert health.breaker_state is BreakerState.OPEN and health.consecutive_failures == 5
    assert "ExchangeUnavailable" in health.last_error
    calls = fake_venue.count("GET", "/api/v3/ticker/24hr")
    with pytest.raises(CircuitOpen):
        api.ticker_get(venue="binance", symbol="BTC/USDT")
    assert fake_venue.count("GET", "/api/v3/ticker/24hr") == calls  # refused locally, venue not called
    time.sleep(0.6)  # cooldown is 0.5 s in the fixture
    assert {h.venue: h for h in api.exchange_health()}["binance"].breaker_state is BreakerState.HALF_OPEN
    assert api.ticker_get(venue="binance", symbol="BTC/USDT").last == Decimal(100)  # the probe succeeds
    assert {h.venue: h for h in api.exchange_health()}["binance"].breaker_state is BreakerState.CLOSED


def test_a_failed_half_open_probe_reopens_the_breaker(fake_venue):
    api.markets_list(venue="binance")
    fake_venue.faults.add(TICKER_ROUTE["binance"], *["500"] * 6)
    for _ in range(2):
        with pytest.raises(ExchangeUnavailable):
            api.ticker_get(venue="binance", symbol="BTC/USDT")
    time.sleep(0.6)
    with pytest.raises(ExchangeUnavailable):
        api.ticker_get(venue="binance", symbol="BTC/USDT")  # probe fails
    assert {h.venue: h for h in api.exchange_health()}["binance"].breaker_state is BreakerState.OPEN


def test_calls_spend_the_weight_ccxt_declares(fake_venue, monkeypatch):
    spent: list[float] = []
    real_acquire = RateLimiter.acquire

    def recording(self, cost=1.0):
        spent.append(cost)
        return real_acquire(self, cost)

    monkeypatch.setattr(RateLimiter, "acquire", recording)
    api.markets_list(venue="binance")
    spent.clear()
    api.order_book_get(venue="binance", symbol="BTC/USDT", depth=5)
    api.order_book_get(venue="binance", symbol="BTC/USDT", depth=1000)
    # ccxt's cost units for Binance's depth weights (5 for limit <= 100, 50 for limit <= 1000)
    assert spent == [1, 10]


def test_token_bucket_is_shared_between_limiters_and_waits_when_empty(redis_client):
    redis_client.delete("dsta:exchange:ratelimit:shared-test")
    limits = Limits(capacity=10, refill_per_second=20)
    first, second = RateLimiter("shared-test", limits), RateLimiter("shared-test", limits)
    assert first.acquire(6) == 0
    assert second.tokens_left() <= Decimal(5)  # the other "process" sees the spend
    waited: list[float] = []
    threads = [threading.Thread(target=lambda: waited.append(second.acquire(8))) for _ in range(2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    # 16 tokens wanted, about 4 left: at 20 tokens/s the pair needs at least ~0.5 s
    assert elapsed >= 0.45 and max(waited) > 0
    redis_client.delete("dsta:exchange:ratelimit:shared-test")


def test_concurrent_submits_of_one_client_order_id_open_one_order(fake_venue):
    """Three workers (each its own ccxt client, as separate processes have) submit the same order at once."""
    from django.db import connections

    from dsta.exchange import services
    from dsta.exchange.ccxt_venue import CcxtVenue

    binance = next(v for v in api.venues_list() if v.name == "binance")
    clients = [CcxtVenue(binance) for _ in range(3)]
    for client in clients:
        client.markets()
    # the first create is slow to land; the twins must wait for it rather than find nothing and send again
    fake_venue.faults.add("POST /api/v3/order", "delay:0.5")
    results, errors = [], []

    def submit(client):
        try:
            results.append(services.live_order_submit(venue=client, request=limit_buy("twin")))
        except Exception as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    assert errors == []
    assert opened(fake_venue) == ["twin"]
    assert len({view.exchange_order_id for view in results}) == 1


CHILD = """
import json, sys, time
from dsta.exchange.resilience import Limits, RateLimiter
limiter = RateLimiter("cross-process", Limits(capacity=10, refill_per_second=20))
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))  # both start together, whatever their boot times
start = time.time()
for _ in range(10):
    limiter.acquire(2)
print(json.dumps({"start": start, "end": time.time()}))
"""


def test_token_bucket_is_shared_across_processes(redis_client):
    """Two OS processes spend 20 tokens each from one bucket of 10 refilled at 20/s: together they need
    at least (40 - 10) / 20 = 1.5 s; each alone would need only 0.5 s."""
    import json
    import os
    import subprocess
    import sys

    redis_client.delete("dsta:exchange:ratelimit:cross-process")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "dsta.settings", "DSTA_LOG_LEVEL": "WARNING"}
    start_at = str(time.time() + 8)
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, start_at], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    spans = [json.loads(child.communicate(timeout=60)[0].strip().splitlines()[-1]) for child in children]
    assert all(child.returncode == 0 for child in children)
    assert all(s["start"] >= float(start_at) for s in spans)
    overall = max(s["end"] for s in spans) - float(start_at)
    assert overall >= 1.35, overall  # unshared buckets would finish both in about 0.5 s
    redis_client.delete("dsta:exchange:ratelimit:cross-process")


def test_ohlcv_since_is_passed_to_the_venue(fake_venue):
    since = datetime(2025, 3, 1, tzinfo=UTC)
    bars = api.ohlcv_fetch(venue="binance", symbol="BTC/USDT", timeframe="1h", since=since, limit=3)
    assert [bar.open_time.hour for bar in bars] == [0, 1, 2] and bars[0].open_time == since


@pytest.mark.parametrize("fake_venue", ALL_DIALECTS, indirect=True, ids=lambda d: d.name)
def test_live_fills_are_recorded_and_published_once(fake_venue):
    venue = fake_venue.venue
    market = OrderRequest("BTC/USDT", OrderSide.BUY, OrderType.MARKET, Decimal("0.01"), "mkt-1")
    placed = api.order_submit(venue=venue, request=market)
    assert api.fills_sync(venue=venue, symbol="BTC/USDT") == 1
    assert api.fills_sync(venue=venue, symbol="BTC/USDT") == 0
    events = [
        p for n, p in OutboxEvent.objects.using("exchange").values_list("name", "payload") if n == "exchange.fill"
    ]
    assert len(events) == 1
    assert events[0]["client_order_id"] == "mkt-1" and events[0]["exchange_order_id"] == placed.exchange_order_id
    # Gate.io and HTX spend amount x ask in quote (0.01 x 100.5 = 1.005; ccxt rounds it to Gate's 0.01 cost
    # precision, 1.00), which buys cost / 100 at the fakes' fill price
    expected = {"binance": Decimal("0.01"), "gate": Decimal("0.01"), "htx": Decimal("0.01005")}[fake_venue.dialect.name]
    assert Decimal(events[0]["amount"]) == expected and Decimal(events[0]["price"]) == 100
