"""The live feed end to end on a fast clock: a fake Binance serves 30 real 1h BTC/USDT bars, one every 0.2 s,
and the real scheduler, worker and relay processes keep the tracked market current. Every bar is stored once,
`data.candle_closed` is published once per bar and delivered (trading's mark is the last close), and the time
from a bar's close (on the venue's clock, in wall seconds) to its commit is measured against max(2 s, 2% of
the bar). The bot's end-to-end parity test builds on this set-up (tests/test_bot_end_to_end.py)."""

from __future__ import annotations

import statistics
import sys
import time
from decimal import Decimal

import pytest
from django.db import connections

from dsta.data import api as data
from dsta.data.contracts import MarketKey
from dsta.data.management.commands.load_demo_data import DEMO_DIR
from dsta.domains import DOMAINS
from dsta.exchange.tests.fake_venues import FakeVenueServer
from dsta.exchange.tests.fast_clock import FastClockBinance
from dsta.kernel.tests import processes

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
BTC = MarketKey("binance", "BTC/USDT", "1h")
BARS = 30
BAR_SECONDS = 0.2
BOOT_SECONDS = 180.0  # a worker boots slowly on a loaded 2-core machine


def scheduler(log_dir, **env: str) -> processes.Child:
    argv = [sys.executable, "manage.py", "run_scheduler", "--poll-seconds", "0.02"]
    return processes.Child("scheduler", argv, processes.child_env(**env), log_dir)


def candle_events() -> list[tuple[str, bool, float, bool]]:
    """(open_time, backfill, commit wall time, delivered) of every data.candle_closed, in outbox order."""
    with connections["data"].cursor() as cursor:
        cursor.execute(
            "SELECT payload->>'open_time', (payload->>'backfill')::boolean, extract(epoch FROM occurred_at),"
            " delivered_at IS NOT NULL FROM outbox WHERE name = 'data.candle_closed' ORDER BY id"
        )
        return [(row[0], row[1], float(row[2]), row[3]) for row in cursor.fetchall()]


@pytest.mark.slow
def test_scheduler_worker_and_relay_keep_a_fast_clock_market_current(clean_broker, children, tmp_path):
    from dsta.core import api as core
    from dsta.trading import api as trading

    dialect = FastClockBinance.from_file(
        DEMO_DIR / "BTC_USDT-1h.csv.gz",
        symbol="BTC/USDT",
        limit=BARS,
        bar_seconds=BAR_SECONDS,
    )
    dialect.start_file = tmp_path / "clock-start"  # the processes' clock stands at the first bar until then
    server = FakeVenueServer(dialect).start()
    try:
        core.secret_set(key="exchange/binance/api_key", value="test-key")
        core.secret_set(key="exchange/binance/secret", value="test-secret")
        data.markets_track(owner="test", markets=[BTC])
        env = {
            "DSTA_EXCHANGE_BINANCE_URL": server.url,
            "DSTA_CANDLE_SOURCE": "exchange",
            "DSTA_MARKET_CLOCK": dialect.clock,
            "DSTA_SCHEDULE_MARKET_DATA_SECONDS": "0.05",
            # only the feed's tick: the other periodic jobs would only add load here
            "DSTA_SCHEDULE_RESUME_ORDERS_SECONDS": "0",
            "DSTA_SCHEDULE_SNAPSHOT_PNL_SECONDS": "0",
            "DSTA_SCHEDULE_SYNC_FILLS_SECONDS": "0",
            "DSTA_SCHEDULE_MARKET_SUBSCRIPTIONS_SECONDS": "0",
        }
        worker = children(processes.worker(tmp_path, **env))
        children(processes.relay(tmp_path, **env))
        children(scheduler(tmp_path, **env))
        # the chain is up once the venue sees the feed's requests (nothing has closed yet: empty answers)
        assert processes.wait_until(lambda: dialect.kline_requests > 0, timeout=BOOT_SECONDS), worker.log_tail()
        dialect.start(delay=0.2)
        last_close_wall = dialect.wall_close_time(int(dialect.rows[-1][0]))
        assert processes.wait_until(
            lambda: len(candle_events()) >= BARS and all(event[3] for event in candle_events()),
            timeout=last_close_wall - time.time() + 60,
        ), worker.log_tail()
        time.sleep(1.0)  # a late duplicate would show up here
        events = candle_events()
    finally:
        server.stop()

    opens = [int(row[0]) for row in dialect.rows]
    stored = data.candles_get(**BTC.__dict__)
    assert [int(bar.open_time.timestamp() * 1000) for bar in stored] == opens  # every bar, once, in order
    assert [bar.close for bar in stored] == [Decimal(row[4]) for row in dialect.rows]
    assert [event[0] for event in events] == [bar.open_time.isoformat() for bar in stored]  # once per bar
    mark = trading.mark_price_get(exchange="binance", symbol="BTC/USDT")
    assert mark is not None and mark.price == Decimal(dialect.rows[-1][4])  # delivered through the relay
    latencies = [
        commit - dialect.wall_close_time(open_ms) for open_ms, (_, _, commit, _) in zip(opens, events, strict=True)
    ]
    bound = max(2.0, 0.02 * BAR_SECONDS)
    live = sum(1 for event in events if not event[1])
    print(
        f"close -> stored latency over {len(latencies)} bars: p50 {statistics.median(latencies) * 1000:.0f} ms,"
        f" max {max(latencies) * 1000:.0f} ms (bound {bound:.0f} s); {live} bars live, {BARS - live} caught up"
    )
    assert min(latencies) >= 0  # never stored before it closed on the venue's clock
    assert max(latencies) <= bound
    assert events[-1][1] is False  # the newest bar is a decision point
