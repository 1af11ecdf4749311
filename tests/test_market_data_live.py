"""The live feed against the local fake Binance (real ccxt client, real HTTP, real Postgres): tracked markets
get each newly closed bar stored and published once; a gap is caught up in order with `backfill` set on all
but the newest bar; a venue error stores nothing; the tick sends one fetch per due market."""

from __future__ import annotations

import json
from decimal import Decimal

import dramatiq
import pytest
from django.db import connections

from dsta.data import api as data
from dsta.data.contracts import InvalidMarket, MarketKey
from dsta.data.management.commands.load_demo_data import DEMO_DIR
from dsta.domains import DOMAINS
from dsta.exchange.tests.fake_venues import FakeVenueServer
from dsta.exchange.tests.fast_clock import FastClockBinance

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
BTC = MarketKey("binance", "BTC/USDT", "1h")
HOUR_MS = 3_600_000


@pytest.fixture
def venue(settings, monkeypatch, redis_client):
    """A fake Binance serving the shipped BTC/USDT candles with 5 bars closed and a clock that stands still
    (one bar per 10^6 s) until the test moves it; DSTA reads the same clock."""
    from dsta.core import api as core
    from dsta.exchange import api as exchange

    dialect = FastClockBinance.from_file(
        DEMO_DIR / "BTC_USDT-1h.csv.gz", symbol="BTC/USDT", limit=40, bar_seconds=1e6, warmup=5
    )
    dialect.start()
    server = FakeVenueServer(dialect).start()
    monkeypatch.setenv("DSTA_EXCHANGE_BINANCE_URL", server.url)
    settings.DSTA_CANDLE_SOURCE = "exchange"
    settings.DSTA_MARKET_CLOCK = dialect.clock
    settings.DSTA_EXCHANGE_RETRY = {"attempts": 2, "base_delay": 0.01, "max_delay": 0.02}
    settings.DSTA_EXCHANGE_BREAKER = {"failure_threshold": 50, "cooldown": 0.5}
    core.secret_set(key="exchange/binance/api_key", value="test-key")
    core.secret_set(key="exchange/binance/secret", value="test-secret")
    for key in redis_client.scan_iter("dsta:exchange:*"):
        redis_client.delete(key)
    exchange.clients_reset()
    yield server
    exchange.clients_reset()
    server.stop()


def advance(server, settings, bars: int) -> None:
    """Move the venue's clock (and DSTA's reading of it) on by `bars` bars."""
    server.dialect.origin_ms += bars * HOUR_MS
    settings.DSTA_MARKET_CLOCK = server.dialect.clock


def published() -> list[dict]:
    with connections["data"].cursor() as cursor:
        cursor.execute("SELECT payload FROM outbox WHERE name = 'data.candle_closed' ORDER BY id")
        return [row[0] if isinstance(row[0], dict) else json.loads(row[0]) for row in cursor.fetchall()]


def stored_times() -> list[int]:
    return [int(bar.open_time.timestamp() * 1000) for bar in data.candles_get(**BTC.__dict__)]


def fetch(**options):
    from dsta.data.live import market_fetch

    return market_fetch(market=BTC, **options)


def test_a_closed_bar_is_stored_and_published_once_and_a_refetch_publishes_nothing(venue, settings):
    from dsta.exchange import api as exchange_api

    rows = venue.dialect.rows
    data.markets_track(owner="test", markets=[BTC])
    report = fetch()
    assert (report.fetched, report.stored, report.error) == (5, 5, "")
    assert stored_times() == [int(row[0]) for row in rows[:5]]
    events = published()
    assert [e["open_time"] for e in events] == [bar.open_time.isoformat() for bar in data.candles_get(**BTC.__dict__)]
    assert [e["backfill"] for e in events] == [True] * 4 + [False]  # only the newest closed bar is decided on
    assert [Decimal(e["close"]) for e in events] == [Decimal(row[4]) for row in rows[:5]]

    assert fetch().stored == 0  # nothing new has closed: nothing stored, nothing published
    advance(venue, settings, 1)
    report = fetch()
    assert (report.fetched, report.stored) == (1, 1)
    assert fetch().stored == 0
    assert len(published()) == 6 and published()[-1]["backfill"] is False
    with connections["data"].cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT open_time) FROM candle WHERE symbol = 'BTC/USDT'")
        assert cursor.fetchone() == (6, 6)
    [feed] = data.markets_tracked()
    assert feed.owners == ("test",) and int(feed.last_bar_time.timestamp() * 1000) == int(rows[5][0])
    # each stored bar of the reference venue drove the paper venue: its price is the last close
    assert exchange_api.ticker_get(venue="paper", symbol="BTC/USDT").last == Decimal(rows[5][4])


def test_a_gap_after_downtime_is_backfilled_in_order_and_only_the_newest_bar_is_live(venue, settings):
    data.markets_track(owner="test", markets=[BTC])
    fetch()
    advance(venue, settings, 7)  # seven bars closed while nothing ran
    report = fetch(page_size=3)  # three pages, oldest first
    assert (report.fetched, report.stored) == (7, 7)
    assert venue.dialect.kline_requests == 1 + 3
    events = published()[5:]
    times = [e["open_time"] for e in events]
    assert times == sorted(times) and len(set(times)) == 7
    assert [e["backfill"] for e in events] == [True] * 6 + [False]
    assert stored_times() == [int(row[0]) for row in venue.dialect.rows[:12]]


def test_a_venue_error_stores_nothing_and_the_next_fetch_catches_up(venue, settings):
    data.markets_track(owner="test", markets=[BTC])
    fetch()
    advance(venue, settings, 2)
    venue.faults.add("GET /api/v3/klines", "500", "500", "500", "500")
    report = fetch()
    assert report.stored == 0 and report.error, report
    assert len(stored_times()) == 5 and len(published()) == 5
    [feed] = data.markets_tracked()
    assert feed.error == report.error and int(feed.last_bar_time.timestamp() * 1000) == int(venue.dialect.rows[4][0])
    venue.faults.clear()
    assert fetch().stored == 2
    assert len(stored_times()) == 7 and [e["backfill"] for e in published()[5:]] == [True, False]
    assert data.markets_tracked()[0].error == ""


def test_tracking_starts_after_stored_history_and_the_tick_sends_one_fetch_per_due_market(venue, settings):
    from dsta.data import actors, live
    from dsta.data.services import candles_upsert

    broker = dramatiq.get_broker()
    broker.flush(actors.MARKET_FEED_QUEUE)
    # three bars already stored (an import): tracking starts after them, they are not fetched again
    bars = [
        bar for bar in live.sources.ExchangeCandleSource().fetch(**BTC.__dict__, since=venue_time(venue, 0), limit=3)
    ]
    candles_upsert(bars=bars)
    eth = MarketKey("binance", "ETH/USDT", "1h")
    assert data.markets_track(owner="a", markets=[BTC, eth]) == 2
    assert data.markets_track(owner="b", markets=[BTC]) == 1
    feeds = {(f.symbol, f.owners): f.last_bar_time for f in data.markets_tracked()}
    assert feeds[("BTC/USDT", ("a", "b"))] == bars[-1].open_time and feeds[("ETH/USDT", ("a",))] is None
    assert live.markets_due() == [BTC, eth]
    actors.market_data_tick()
    assert sorted(m.args[1] for m in _queued(broker)) == ["BTC/USDT", "ETH/USDT"]
    broker.flush(actors.MARKET_FEED_QUEUE)
    assert fetch().stored == 2  # only the two bars after the stored ones
    assert live.markets_due() == [eth]
    assert data.markets_track(owner="a", markets=[]) == 0  # owner a drops both; b still wants BTC
    assert [(f.symbol, f.owners) for f in data.markets_tracked()] == [("BTC/USDT", ("b",))]
    with pytest.raises(InvalidMarket):
        data.markets_track(owner="a", markets=[MarketKey("binance", "BTC/USDT", "7m")])
    with pytest.raises(InvalidMarket):
        data.markets_track(owner="a", markets=[MarketKey("binance", "BTCUSDT", "1h")])


def venue_time(server, bars: int):
    from dsta.kernel.clock import from_epoch_ms

    return from_epoch_ms(int(server.dialect.rows[bars][0]))


def _queued(broker) -> list:
    from dramatiq import Message

    client = broker.client
    return [Message.decode(raw) for raw in client.hvals("dramatiq:market_feed.msgs")]


def test_enabled_strategy_instances_declare_their_markets(venue):
    from dsta.trading.models import StrategyInstance

    instance = StrategyInstance.objects.using("trading").create(
        name="btc", strategy="sma_cross", strategy_version="1", exchange="binance", symbol="BTC/USDT", timeframe="1h"
    )
    StrategyInstance.objects.using("trading").create(
        name="eth",
        strategy="sma_cross",
        strategy_version="1",
        exchange="binance",
        symbol="ETH/USDT",
        timeframe="4h",
        enabled=False,
    )
    assert [(f.symbol, f.timeframe, f.owners) for f in data.markets_tracked()] == [
        ("BTC/USDT", "1h", ("trading.strategies",))
    ]
    instance.enabled = False
    instance.save(using="trading")
    assert data.markets_tracked() == []


def test_strategies_decide_on_live_bars_only_while_marks_follow_every_bar(venue, settings):
    from dsta.kernel.events import EventEnvelope
    from dsta.kernel.handlers import deliver
    from dsta.kernel.relay import Relay
    from dsta.trading import api as trading
    from dsta.trading.models import Signal, StrategyInstance

    StrategyInstance.objects.using("trading").create(
        name="btc",
        strategy="sma_cross",
        strategy_version="1",
        params={"fast": 2, "slow": 3},
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
    )
    fetch()  # five bars: four back-filled, the newest live
    Relay(sender=lambda messages: deliver([EventEnvelope.from_message(m) for m in messages])).drain()
    newest = data.candles_get(**BTC.__dict__)[-1]
    signals = list(Signal.objects.using("trading").order_by("bar_time"))
    # back-filled bars are recorded as stale (never traded); the newest, live one is decided as usual
    assert [signal.bar_time for signal in signals if not signal.stale] == [newest.open_time]
    assert all(signal.stale for signal in signals if signal.bar_time != newest.open_time)
    mark = trading.mark_price_get(exchange="binance", symbol="BTC/USDT")
    assert mark is not None and (mark.price, mark.as_of) == (newest.close, newest.open_time)
