"""The periodic scheduler: each job goes out once per tick however many schedulers run (a Redis SET NX per
job and tick), and the jobs it sends do their work on a real dramatiq worker."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import dramatiq
import pytest
from django.core.management import CommandError, call_command

from dsta.domains import DOMAINS
from dsta.kernel.scheduler import PeriodicJob, Scheduler, jobs_from_settings

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
D = Decimal
JOBS = [PeriodicJob("resume_orders", 30), PeriodicJob("snapshot_pnl", 60)]


def queued(redis_client, queue: str = "trading") -> list[str]:
    """Actor names of the messages waiting in a dramatiq Redis queue."""
    import json

    return sorted(json.loads(raw)["actor_name"] for raw in redis_client.hvals(f"dramatiq:{queue}.msgs"))


@pytest.fixture
def empty_queue(redis_client):
    from dsta.trading import actors  # noqa: F401  (declares the actors on the broker)

    dramatiq.get_broker().flush("trading")
    for key in redis_client.scan_iter("dsta:scheduler:*"):
        redis_client.delete(key)
    yield
    dramatiq.get_broker().flush("trading")


def test_each_job_goes_out_once_per_tick_across_schedulers(redis_client, empty_queue):
    first, second = Scheduler(JOBS, owner="one"), Scheduler(JOBS, owner="two")
    now = 1_800_000_000.0  # a multiple of 60: both jobs start a new tick here
    assert first.tick(now=now) == ["resume_orders", "snapshot_pnl"]
    assert second.tick(now=now + 1) == []  # same ticks, already claimed by the first
    assert queued(redis_client) == ["resume_orders", "snapshot_pnl"]
    assert second.tick(now=now + 30) == ["resume_orders"]  # resume's next tick; the snapshot's is at +60
    assert first.tick(now=now + 45) == []
    assert second.tick(now=now + 60) == ["resume_orders", "snapshot_pnl"]
    assert queued(redis_client) == ["resume_orders"] * 3 + ["snapshot_pnl"] * 2


def test_the_sent_jobs_resume_orders_and_snapshot_pnl(redis_client, empty_queue):
    from dsta.exchange import api as exchange_api
    from dsta.exchange.contracts import OrderBook, PriceLevel
    from dsta.trading import orders
    from dsta.trading.models import MarkPrice, Order, PnlSnapshot

    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    exchange_api.paper_reset(slippage_bps=D(0), slippage_jitter_bps=D(0))
    exchange_api.paper_deposit(asset="USDT", amount=D("1000"))
    exchange_api.paper_book_feed(
        book=OrderBook("paper", "BTC/USDT", t0, (PriceLevel(D(99), D(10)),), (PriceLevel(D(100), D(10)),))
    )
    MarkPrice.objects.using("trading").create(exchange="paper", symbol="BTC/USDT", price=D(100), as_of=t0)
    # a crash right after step 1 left this order `new`
    stuck = orders.order_create(
        orders.NewOrder(exchange="paper", symbol="BTC/USDT", side="buy", order_type="market", quantity=D(1))
    )
    assert Scheduler(jobs_from_settings()).tick() == [
        "resume_orders",
        "snapshot_pnl",
        "sync_fills",
        "publish_market_subscriptions",
        "market_data_tick",
        "telegram_poll",
        "resend_stranded_notifications",
    ]
    broker = dramatiq.get_broker()
    worker = dramatiq.Worker(broker, queues={"trading"}, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            Order.objects.using("trading").get(pk=stuck.pk).status == "filled"
            and PnlSnapshot.objects.using("trading").exists()
        ):
            time.sleep(0.1)
        broker.join("trading", timeout=30_000)
    finally:
        worker.stop()
    assert Order.objects.using("trading").get(pk=stuck.pk).status == "filled"
    rows = {row.symbol: row for row in PnlSnapshot.objects.using("trading").all()}
    assert set(rows) == {"BTC/USDT", ""} and rows["BTC/USDT"].quantity == D(1)
    assert rows[""].realised_pnl == D("-0.1")  # the fee


def test_fractional_intervals_tick_several_times_a_second(redis_client, empty_queue):
    from dsta.kernel.scheduler import poll_seconds_for

    jobs = [PeriodicJob("resume_orders", 0.25)]
    scheduler = Scheduler(jobs, owner="fast")
    now = 1_800_000_000.0
    sent = [scheduler.tick(now=now + step * 0.1) for step in range(10)]  # one second, polled every 0.1 s
    assert sum(len(names) for names in sent) == 4 and queued(redis_client) == ["resume_orders"] * 4
    assert poll_seconds_for(jobs) == 0.125 and poll_seconds_for(JOBS) == 1.0


def test_the_command_sends_once_and_refuses_unknown_actors(redis_client, empty_queue, settings):
    out = StringIO()
    settings.DSTA_SCHEDULE = [("resume_orders", 30)]
    call_command("run_scheduler", "--once", stdout=out)
    assert out.getvalue().strip() == "sent resume_orders" and queued(redis_client) == ["resume_orders"]
    settings.DSTA_SCHEDULE = [("no_such_actor", 30)]
    with pytest.raises(CommandError, match="no_such_actor"):
        call_command("run_scheduler", "--once")
