"""The live feed: every tracked market's candles kept current, each closed bar published once.

Policy (also in the README's Run a bot section):
- A bar opening at t is closed at t + step on the markets' clock (`kernel.clock.market_now`). The scheduler
  sends `market_data_tick` every DSTA_SCHEDULE_MARKET_DATA_SECONDS; the tick sends one `market_data_fetch` per
  tracked market whose next bar has closed.
- A fetch asks the venue for the bars after the newest stored one (`exchange.api.ohlcv_fetch` underneath:
  rate-limited and breaker-guarded), keeps the closed ones, and per page stores the new bars, publishes
  `data.candle_closed` for each and moves the market's cursor in one transaction. A bar already stored is
  neither rewritten nor published again; a venue error stores nothing of its page.
- Bars are caught up oldest first. Every bar older than the newest closed bar at fetch time is published with
  `backfill=True`: consumers update state from it but do not decide on it (no orders for stale bars).
- After each commit the new bars of the reference venue (DSTA_PAPER_REFERENCE_VENUE) drive the paper venue,
  in order, so paper orders fill against the latest stored market data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from django.conf import settings
from django.db import connections, transaction

from dsta.data import selectors, sources
from dsta.data.contracts import TIMEFRAME_SECONDS, CandleBar, InvalidMarket, MarketFeedView, MarketKey
from dsta.data.events import CandleClosed
from dsta.data.models import MarketFeed, TrackedMarket
from dsta.data.sources import CandleSource
from dsta.kernel.clock import market_now, utc_now
from dsta.kernel.outbox import publish_many

ALIAS = "data"
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class FetchReport:
    market: MarketKey
    fetched: int  # closed bars the venue returned
    stored: int  # of those, new bars stored and published
    error: str = ""
    skipped: bool = False  # another fetch of this market was running


def latest_closed_open(timeframe: str, now: datetime) -> datetime:
    """Open time of the newest bar closed at `now` (bars sit on the epoch-aligned grid of their timeframe)."""
    step = TIMEFRAME_SECONDS[timeframe]
    return datetime.fromtimestamp((int(now.timestamp()) // step - 1) * step, tz=UTC)


# -- the set of tracked markets ------------------------------------------------------------------------------


def _check(market: MarketKey) -> None:
    if market.timeframe not in TIMEFRAME_SECONDS:
        raise InvalidMarket(f"unknown timeframe {market.timeframe!r}; expected one of {sorted(TIMEFRAME_SECONDS)}")
    parts = market.symbol.split("/")
    if len(parts) != 2 or not all(parts) or not market.exchange:
        raise InvalidMarket(f"{market.exchange!r} {market.symbol!r}: expected an exchange and a BASE/QUOTE symbol")


def markets_track(*, owner: str, markets: Sequence[MarketKey]) -> int:
    """Make `markets` the whole set `owner` needs (replacing what it declared before); returns its size.

    A market tracked for the first time starts its cursor at its newest stored bar, so history already loaded
    (an import, the demo data) is not fetched again."""
    wanted = set(markets)
    for market in wanted:
        _check(market)
    with transaction.atomic(using=ALIAS):
        rows = TrackedMarket.objects.using(ALIAS).select_for_update().filter(owner=owner)
        held = {MarketKey(row.exchange, row.symbol, row.timeframe): row.pk for row in rows}
        TrackedMarket.objects.using(ALIAS).filter(pk__in=[pk for key, pk in held.items() if key not in wanted]).delete()
        new = [key for key in wanted if key not in held]
        TrackedMarket.objects.using(ALIAS).bulk_create(
            [TrackedMarket(owner=owner, exchange=k.exchange, symbol=k.symbol, timeframe=k.timeframe) for k in new],
            ignore_conflicts=True,
        )
        for key in new:
            if not MarketFeed.objects.using(ALIAS).filter(**_fields(key)).exists():
                last = selectors.last_open_time(**_fields(key))
                MarketFeed.objects.using(ALIAS).bulk_create(
                    [MarketFeed(**_fields(key), last_bar_time=last)], ignore_conflicts=True
                )
    return len(wanted)


def markets_tracked() -> list[MarketFeedView]:
    owners: dict[MarketKey, list[str]] = {}
    for row in TrackedMarket.objects.using(ALIAS).order_by("exchange", "symbol", "timeframe", "owner"):
        owners.setdefault(MarketKey(row.exchange, row.symbol, row.timeframe), []).append(row.owner)
    feeds = {MarketKey(f.exchange, f.symbol, f.timeframe): f for f in MarketFeed.objects.using(ALIAS).all()}
    views = []
    for key, names in owners.items():
        feed = feeds.get(key)
        views.append(
            MarketFeedView(
                key.exchange,
                key.symbol,
                key.timeframe,
                tuple(names),
                feed.last_bar_time if feed else None,
                feed.fetched_at if feed else None,
                feed.error if feed else "",
            )
        )
    return views


def markets_due(*, now: datetime | None = None) -> list[MarketKey]:
    """Tracked markets whose next bar has closed (one query over the small tracking tables)."""
    moment = now or market_now()
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT t.exchange, t.symbol, t.timeframe, f.last_bar_time FROM tracked_market t"
            " LEFT JOIN market_feed f USING (exchange, symbol, timeframe) ORDER BY 1, 2, 3"
        )
        rows = cursor.fetchall()
    return [
        MarketKey(exchange, symbol, timeframe)
        for exchange, symbol, timeframe, last in rows
        if last is None or last < latest_closed_open(timeframe, moment)
    ]


def _fields(key: MarketKey) -> dict[str, str]:
    return {"exchange": key.exchange, "symbol": key.symbol, "timeframe": key.timeframe}


# -- fetching ------------------------------------------------------------------------------------------------

_INSERT_NEW_SQL = """
INSERT INTO candle (exchange, symbol, timeframe, open_time, open, high, low, close, volume)
SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::timestamptz[], %s::numeric[],
                     %s::numeric[], %s::numeric[], %s::numeric[], %s::numeric[])
ON CONFLICT (exchange, symbol, timeframe, open_time) DO NOTHING
RETURNING open_time
"""


def _insert_new(bars: Sequence[CandleBar]) -> list[CandleBar]:
    """Store the bars not stored yet; returns those, oldest first. A stored bar is left as it is."""
    with connections[ALIAS].cursor() as cursor:
        cursor.execute("SELECT candle_partitions_ensure(%s, %s)", [bars[0].open_time, bars[-1].open_time])
        columns = ("exchange", "symbol", "timeframe", "open_time", "open", "high", "low", "close", "volume")
        cursor.execute(_INSERT_NEW_SQL, [[getattr(bar, column) for bar in bars] for column in columns])
        inserted = {row[0] for row in cursor.fetchall()}
    return [bar for bar in bars if bar.open_time in inserted]


def candle_closed_event(bar: CandleBar, *, backfill: bool = False) -> CandleClosed:
    """The `data.candle_closed` event of a stored bar (the live feed's and a single bar's close alike)."""
    return CandleClosed(
        exchange=bar.exchange,
        symbol=bar.symbol,
        timeframe=bar.timeframe,
        open_time=bar.open_time,
        open=bar.open,
        high=bar.high,
        low=bar.low,
        close=bar.close,
        volume=bar.volume,
        backfill=backfill,
    )


def market_fetch(
    *, market: MarketKey, source: CandleSource | None = None, now: datetime | None = None, page_size: int = 1000
) -> FetchReport:
    """Fetch, store and publish the market's newly closed bars (see the module's policy). One fetch per market
    at a time across processes: a second finds the market's lock taken and leaves at once."""
    _check(market)
    lock_key = f"market_feed:{market.exchange}:{market.symbol}:{market.timeframe}"
    with connections[ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [lock_key])
        if not cursor.fetchone()[0]:
            return FetchReport(market, 0, 0, skipped=True)
    try:
        return _fetch_locked(market, source or sources.candle_source_default(), now or market_now(), page_size)
    finally:
        with connections[ALIAS].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [lock_key])


def _fetch_locked(market: MarketKey, source: CandleSource, now: datetime, page_size: int) -> FetchReport:
    step = sources.step(market.timeframe)
    latest = latest_closed_open(market.timeframe, now)
    feed, _ = MarketFeed.objects.using(ALIAS).get_or_create(
        exchange=market.exchange, symbol=market.symbol, timeframe=market.timeframe
    )
    if feed.last_bar_time is not None:
        cursor = feed.last_bar_time + step
    else:
        cursor = latest - (settings.DSTA_LIVE_INITIAL_BARS - 1) * step
    fetched = stored = 0
    while cursor <= latest:
        try:
            page = source.fetch(**_fields(market), since=cursor, limit=page_size)
        except Exception as exc:  # the venue failed (breaker open, timeouts): nothing of this page is stored
            error = f"{type(exc).__name__}: {exc}"[:2000]
            MarketFeed.objects.using(ALIAS).filter(pk=feed.pk).update(fetched_at=utc_now(), error=error)
            log.warning("market_fetch_failed", market=_fields(market), error=error[:200])
            return FetchReport(market, fetched, stored, error=error)
        bars = sorted((bar for bar in page if cursor <= bar.open_time <= latest), key=lambda bar: bar.open_time)
        if not bars:
            break
        fetched += len(bars)
        stored += _store_page(feed, bars, latest=latest)
        cursor = bars[-1].open_time + step
    MarketFeed.objects.using(ALIAS).filter(pk=feed.pk).update(fetched_at=utc_now(), error="")
    return FetchReport(market, fetched, stored)


def _store_page(feed: MarketFeed, bars: list[CandleBar], *, latest: datetime) -> int:
    with transaction.atomic(using=ALIAS):
        new = _insert_new(bars)
        publish_many([candle_closed_event(bar, backfill=bar.open_time < latest) for bar in new], using=ALIAS)
        MarketFeed.objects.using(ALIAS).filter(pk=feed.pk).update(last_bar_time=bars[-1].open_time)
        if new:
            transaction.on_commit(lambda: _after_commit(new), using=ALIAS, robust=True)
    feed.last_bar_time = bars[-1].open_time
    return len(new)


def _after_commit(bars: list[CandleBar]) -> None:
    from dsta.data import consumers  # here: channels (the ASGI stack) stays out of commands that load no feed

    consumers.candle_broadcast(bars[-1])
    paper_feed(bars=bars)


def paper_feed(*, bars: Sequence[CandleBar]) -> None:
    """Drive the paper venue with closed bars of the reference venue, in order (others are not its market)."""
    from dsta.exchange import api as exchange_api
    from dsta.exchange.contracts import OhlcvBar

    for bar in bars:
        if bar.exchange == settings.DSTA_PAPER_REFERENCE_VENUE:
            exchange_api.paper_price_feed(
                symbol=bar.symbol,
                bar=OhlcvBar(bar.open_time, bar.open, bar.high, bar.low, bar.close, bar.volume),
            )


def latest_bars_publish(*, markets: Sequence[MarketKey]) -> int:
    """Publish each market's newest stored bar (as `backfill`: history, not a decision point) and drive the
    paper venue with it: after a bulk load, trading's marks and the paper venue know the last close."""
    published = []
    with transaction.atomic(using=ALIAS):
        for market in markets:
            published += selectors.candles_latest(**_fields(market), limit=1)
        publish_many([candle_closed_event(bar, backfill=True) for bar in published], using=ALIAS)
    paper_feed(bars=published)
    return len(published)
