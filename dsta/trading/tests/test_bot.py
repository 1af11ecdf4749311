"""The bot: strategy instances trade their signals through the order saga on the paper venue, each with its
own attributed account, once per bar; back-filled bars are recorded, not traded; parity with the backtest."""

from __future__ import annotations

import gzip
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from dsta.data.contracts import CandleBar
from dsta.domains import DOMAINS
from dsta.kernel import handlers
from dsta.kernel.events import EventEnvelope
from dsta.trading import bot, bot_book, bot_execution, bot_replay, bot_signals, parity, services
from dsta.trading.models import Order, Position, Signal, StrategyInstance

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
DEMO_BTC = Path(__file__).resolve().parents[2] / "data" / "demo" / "BTC_USDT-1h.csv.gz"
D = Decimal


@pytest.fixture(autouse=True)
def paper_venue():
    from dsta.exchange import api as exchange_api

    exchange_api.paper_reset(slippage_bps=D(0), slippage_jitter_bps=D(0))


def demo_bars(count: int, *, exchange: str = "binance") -> list[CandleBar]:
    return bot_replay.candles_read(DEMO_BTC, exchange=exchange, symbol="BTC/USDT", timeframe="1h")[:count]


def write_file(path: Path, count: int) -> Path:
    with gzip.open(DEMO_BTC, "rt") as source, open(path, "w") as target:
        for index, line in enumerate(source):
            if index > count:
                break
            target.write(line)
    return path


def paper_instance(
    name: str, *, fast: int, slow: int, capital: str, exchange: str = "binance", **settings: object
) -> StrategyInstance:
    instance = bot.instance_create(
        name=name,
        strategy="sma_cross",
        params={"fast": fast, "slow": slow},
        exchange=exchange,
        symbol="BTC/USDT",
        timeframe="1h",
        actor_id=None,
        settings=bot.BotSettings(capital=D(capital), candles_supplied=True, **settings),  # type: ignore[arg-type]
    )
    return bot.bot_start(instance_id=instance.pk, actor_id=None)


def test_two_instances_on_one_market_keep_their_own_accounts_and_the_venue_sees_the_net():
    from dsta.exchange import api as exchange_api

    fast = paper_instance("fast", fast=5, slow=12, capital="1000")
    slow = paper_instance("slow", fast=8, slow=26, capital="2000")
    for bar in demo_bars(160):
        bot_replay.bar_feed(bar)
    books = {}
    for instance in (fast, slow):
        orders = Order.objects.using("trading").filter(strategy_instance_id=instance.pk)
        assert orders.count() >= 4 and all(o.status == "filled" for o in orders)
        assert all(o.client_order_id.startswith(f"bot-{instance.pk}-") for o in orders)
        assert all(o.strategy_version == instance.strategy_version for o in orders)
        books[instance.pk] = bot_book.book_of(StrategyInstance.objects.using("trading").get(pk=instance.pk))
    # their own positions and cash, from their own fills; different strategies, different accounts
    assert books[fast.pk].position.quantity != books[slow.pk].position.quantity or (
        books[fast.pk].cash != books[slow.pk].cash
    )
    net = sum((book.position.quantity for book in books.values()), D(0))
    position = Position.objects.using("trading").get(exchange="paper", symbol="BTC/USDT")
    assert position.quantity == net
    venue = {balance.asset: balance.total for balance in exchange_api.balance_get(venue="paper")}
    assert venue.get("BTC", D(0)) == net
    # every cent at the venue is one of the two allocations, moved only by their fills (trading stores fees
    # to 10 places, the venue keeps every digit)
    assert abs(venue["USDT"] - sum((book.cash for book in books.values()), D(0))) < D("0.000001")


def first_entries(first: StrategyInstance, second: StrategyInstance) -> tuple[Order, Order]:
    """Feed the demo bars until the second instance has an order; then each instance's one order."""
    for bar in demo_bars(80):
        bot_replay.bar_feed(bar)
        if Order.objects.using("trading").filter(strategy_instance_id=second.pk).exists():
            break
    else:
        pytest.fail("no entry in the file")
    orders = Order.objects.using("trading")
    return orders.get(strategy_instance_id=first.pk), orders.get(strategy_instance_id=second.pk)


def test_a_bar_pass_sends_its_orders_together_and_each_is_risk_checked_as_if_the_ones_before_it_had_filled():
    """The instances of a bar pass decide one by one and their orders go to the venue together: the second
    instance's risk check counts the first one's order in the position (not among the open orders), as it did
    when each order went out on its own."""
    services.risk_limits_update(
        values={"max_open_orders": 1, "max_position_notional": D(1500)}, actor_id=None, reason="test"
    )
    first = paper_instance("first", fast=5, slow=12, capital="1000")
    second = paper_instance("second", fast=5, slow=12, capital="1000")
    entered, refused = first_entries(first, second)
    assert entered.client_order_id.endswith(refused.client_order_id.rsplit("-", 1)[1])  # the same bar
    assert entered.status == "filled" and entered.quantity * entered.price > D(900)
    assert refused.status == "rejected"  # one order alone fits; both together exceed the position limit
    assert "position after the order above the limit" in refused.last_error
    assert "open orders" not in refused.last_error  # the first order counted as filled, not open
    position = Position.objects.using("trading").get(exchange="paper", symbol="BTC/USDT")
    assert position.quantity == entered.filled_quantity


def test_an_order_the_venue_refuses_in_a_bar_pass_is_rejected_with_its_reason_and_the_others_fill():
    from dsta.exchange import api as exchange_api

    first = paper_instance("funded", fast=5, slow=12, capital="1000")
    second = paper_instance("short of cash", fast=5, slow=12, capital="1000")
    # the venue holds cash for one entry only: the pass's second order is refused by the venue, not by risk
    exchange_api.paper_reset(slippage_bps=D(0), slippage_jitter_bps=D(0))
    exchange_api.paper_deposit(asset="USDT", amount=D(1100))
    filled, refused = first_entries(first, second)
    assert filled.status == "filled" and refused.status == "rejected"
    assert "USDT" in refused.last_error  # the venue's own message
    held = {i.pk: i.held_target for i in StrategyInstance.objects.using("trading").filter(pk__in=[first.pk, second.pk])}
    assert held[first.pk] > 0 and held[second.pk] == 0  # the refused instance still wants in at its next signal
    position = Position.objects.using("trading").get(exchange="paper", symbol="BTC/USDT")
    assert position.quantity == filled.filled_quantity


def test_a_redelivered_event_or_a_restarted_worker_never_places_twice():
    instance = paper_instance("once", fast=5, slow=12, capital="1000")
    for bar in demo_bars(80):
        bot_replay.bar_feed(bar)
    ordered = Signal.objects.using("trading").filter(instance=instance, action="order").order_by("bar_time")
    assert ordered.count() >= 2
    before = Order.objects.using("trading").count()
    signal = ordered.first()
    # the signal's event delivered again, and the decision replayed directly (a worker restarted mid-way)
    payload = {
        "instance_id": instance.pk,
        "strategy": "sma_cross",
        "symbol": "BTC/USDT",
        "timeframe": "1h",
        "bar_time": signal.bar_time.isoformat(),
        "target": str(signal.target),
    }
    handlers.deliver([envelope("trading", "trading.signal", payload, "00000000-0000-0000-0000-0000000000aa")])
    bot_execution.signal_execute(signal_id=signal.pk)
    bar = demo_bars(80)[-1]
    market = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h"}
    assert bot_signals.signals_on_candle(**market, bar_time=bar.open_time) == 0
    assert Order.objects.using("trading").count() == before
    # a decision stored but its order lost (a crash between the two): executing again places exactly that order
    last = ordered.last()
    Order.objects.using("trading").filter(client_order_id=last.client_order_id).update(client_order_id="moved")
    bot_execution.signal_execute(signal_id=last.pk)
    again = Order.objects.using("trading").get(client_order_id=last.client_order_id)
    assert (again.side, again.quantity) == (last.order_side, last.order_quantity)


def test_a_bar_pass_that_fails_after_the_venue_took_the_order_is_retried_into_exactly_that_order(monkeypatch):
    """The signal, its decision and its order commit together: an error after the venue accepted the order
    leaves no signal of that bar, and the retried handler places the same order once (found by its id)."""
    from dsta.exchange import api as exchange_api

    instance = paper_instance("atomic", fast=5, slow=12, capital="1000")
    real_submit = bot_execution.round_submit
    failing = {"left": 1}

    def submit_then_fail(batch):  # type: ignore[no-untyped-def]
        placed = real_submit(batch)
        if placed and failing["left"]:
            failing["left"] -= 1
            raise RuntimeError("the worker died after the venue took the order")
        return placed

    for index, bar in enumerate(demo_bars(120)):
        data_api_close_and_mark(bar)
        market = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h", "bar_time": bar.open_time}
        placed_before = Order.objects.using("trading").count()
        monkeypatch.setattr(bot_execution, "round_submit", submit_then_fail)
        try:
            bot_signals.signals_record(**market, stale=False)
        except RuntimeError:
            assert not Signal.objects.using("trading").filter(instance=instance, bar_time=bar.open_time).exists()
            assert Order.objects.using("trading").count() == placed_before
            bot_signals.signals_record(**market, stale=False)  # the handler's retry
            signal = Signal.objects.using("trading").get(instance=instance, bar_time=bar.open_time)
            assert Order.objects.using("trading").filter(client_order_id=signal.client_order_id).count() == 1
            taken = exchange_api.fills_list(venue="paper", symbol="BTC/USDT", client_order_id=signal.client_order_id)
            assert len(taken) == 1  # the venue filled it once, at the close; the retry found it
            assert index > 12
            break
        finally:
            monkeypatch.setattr(bot_execution, "round_submit", real_submit)
    else:
        pytest.fail("no bar of the file placed an order")
    fills = bot_book.instance_fills(instance.pk)
    assert len({fill.client_order_id for fill in fills}) == len(fills)  # one fill per order, none twice
    position = Position.objects.using("trading").get(exchange="paper", symbol="BTC/USDT")
    assert position.quantity == bot_book.book_of(instance).position.quantity
    venue = {balance.asset: balance.total for balance in exchange_api.balance_get(venue="paper")}
    assert venue.get("BTC", D(0)) == position.quantity


def data_api_close_and_mark(bar: CandleBar) -> None:
    from dsta.data import api as data_api

    data_api.candle_close(bar=bar)
    services.mark_price_record(exchange=bar.exchange, symbol=bar.symbol, price=bar.close, as_of=bar.open_time)


def test_a_signal_stored_undecided_by_an_earlier_version_is_traded_once_by_the_bot_handler():
    instance = paper_instance("legacy", fast=5, slow=12, capital="1000")
    bars = demo_bars(40)
    for bar in bars:
        data_api_close_and_mark(bar)  # the bars stored, no strategy pass
    last = bars[-1]
    signal = Signal.objects.using("trading").create(
        instance=instance,
        params_version=instance.params_version,
        bar_time=last.open_time,
        close=last.close,
        target=D(1),
        order_type="market",
    )
    payload = {
        "instance_id": instance.pk,
        "strategy": "sma_cross",
        "symbol": "BTC/USDT",
        "timeframe": "1h",
        "bar_time": last.open_time.isoformat(),
        "target": "1",
    }
    for event_id in ("00000000-0000-0000-0000-0000000000b1", "00000000-0000-0000-0000-0000000000b2"):
        handlers.deliver([envelope("trading", "trading.signal", payload, event_id)])
    signal.refresh_from_db(using="trading")
    assert signal.action == "order" and signal.client_order_id == f"bot-{instance.pk}-{int(last.open_time.timestamp())}"
    placed = Order.objects.using("trading").filter(strategy_instance_id=instance.pk)
    assert [(o.client_order_id, o.status, o.side) for o in placed] == [(signal.client_order_id, "filled", "buy")]
    assert placed[0].price == last.close  # a limit at the decision bar's close on paper, as the backtest fills


def test_a_back_filled_bar_is_recorded_and_not_traded():
    from dsta.data import api as data_api
    from dsta.trading.actors import run_strategies_on_candles

    instance = paper_instance("backfill", fast=5, slow=12, capital="1000")
    bars = demo_bars(60)
    for bar in bars[:40]:
        bot_replay.bar_feed(bar)
    for bar in bars[40:]:  # the worker was down: the bars arrive together, the newest last
        data_api.candle_close(bar=bar)
    before = Order.objects.using("trading").count()
    run_strategies_on_candles([_candle_envelope(bar) for bar in bars[40:-1]])  # one batch, as delivered
    stale = Signal.objects.using("trading").filter(instance=instance, bar_time__gte=bars[40].open_time)
    assert stale.count() == 19 and all(signal.stale for signal in stale)
    for signal in stale:
        assert bot_execution.signal_execute(signal_id=signal.pk).action == "stale"
    assert Order.objects.using("trading").count() == before
    run_strategies_on_candles([_candle_envelope(bars[-1])])  # the latest bar is traded as usual
    latest = Signal.objects.using("trading").get(instance=instance, bar_time=bars[-1].open_time)
    assert not latest.stale


def test_a_close_of_several_markets_is_decided_as_one_batch_each_market_in_bar_order():
    """The strategies' handler takes a delivered message's bars at once (one lock read and one newest-bar read
    per round): every instance decides each of its market's bars once, an older bar of a market in the same
    batch is recorded stale, the newest one is traded, and a redelivery decides nothing."""
    from dsta.data import api as data_api

    fast = paper_instance("batch-fast", fast=5, slow=12, capital="1000")
    slow = paper_instance("batch-slow", fast=8, slow=26, capital="1000")
    gate = paper_instance("batch-gate", fast=5, slow=12, capital="1000", exchange="gateio")
    binance, gateio = demo_bars(90), demo_bars(90, exchange="gateio")
    for bar in binance + gateio:
        data_api.candle_close(bar=bar)
    closing = [binance[88], gateio[88], binance[89], gateio[89]]  # two closes of two markets, in outbox order
    batch = [
        envelope("data", "data.candle_closed", _candle_envelope(bar).payload, f"00000000-0000-0000-0000-{n:012d}")
        for n, bar in enumerate(closing, start=900)
    ]
    assert handlers.deliver(batch, domain="trading") > 0
    signals = (
        Signal.objects.using("trading").filter(instance__in=[fast, slow, gate]).order_by("instance_id", "bar_time")
    )
    assert [(s.instance_id, s.bar_time, s.stale) for s in signals] == [
        (instance.pk, bar_time, bar_time == binance[88].open_time)
        for instance in (fast, slow, gate)
        for bar_time in (binance[88].open_time, binance[89].open_time)
    ]
    assert {s.action for s in signals if s.stale} == {"stale"}
    placed = Order.objects.using("trading").filter(strategy_instance_id__in=[fast.pk, slow.pk, gate.pk])
    traded = {s.client_order_id for s in signals if s.action == "order"}
    assert {o.client_order_id for o in placed} == traded
    assert all(o.client_order_id.endswith(f"-{int(binance[89].open_time.timestamp())}") for o in placed)
    redelivered = [
        envelope("data", "data.candle_closed", e.payload, f"00000000-0000-0000-0001-{n:012d}")
        for n, e in enumerate(batch)
    ]
    handlers.deliver(redelivered, domain="trading")  # the same bars under new event ids: decided already
    assert Signal.objects.using("trading").filter(instance__in=[fast, slow, gate]).count() == 6


def envelope(source: str, name: str, payload: dict, event_id: str) -> EventEnvelope:
    return EventEnvelope(event_id, name, 1, source, "test", "2025-01-01T00:00:00Z", payload, 1)


def _candle_envelope(bar: CandleBar) -> EventEnvelope:
    payload = {
        "exchange": bar.exchange,
        "symbol": bar.symbol,
        "timeframe": bar.timeframe,
        "open_time": bar.open_time.isoformat(),
        **{name: str(getattr(bar, name)) for name in ("open", "high", "low", "close", "volume")},
    }
    return envelope(
        "data", "data.candle_closed", payload, f"00000000-0000-0000-0000-{int(bar.open_time.timestamp()):012d}"
    )


def test_parity_is_exact_on_paper_over_real_bars_and_replay_file_prints_the_line(tmp_path):
    out = StringIO()
    call_command(
        "bot",
        "replay-file",
        str(write_file(tmp_path / "btc.csv", 400)),
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "1h",
        "--strategy",
        "sma_cross",
        "--param",
        "fast=10",
        "--param",
        "slow=20",
        stdout=out,
    )
    lines = out.getvalue().strip().splitlines()
    assert "bars/s" in lines[0]
    instance = StrategyInstance.objects.using("trading").get(name__startswith="replay-")
    report = parity.parity_report(instance=instance, start=None, end=None)
    assert report.backtest_trades >= 8 and report.score == 1.0
    assert not report.extra and not report.missed
    assert all(m.entry_slippage_bps == 0 and m.entry_time_difference_seconds == 0 for m in report.matched)
    assert all(abs(m.quantity - m.backtest_quantity) <= D("0.000001") for m in report.matched)
    n = report.backtest_trades
    assert lines[-1] == f"parity: {n}/{n} trades matched, 0 extra, 0 missed, max slippage 0.00 bps"


def test_parity_names_what_the_bot_missed():
    instance = paper_instance("gappy", fast=5, slow=12, capital="1000")
    bars = demo_bars(200)
    for index, bar in enumerate(bars):
        if index == 120:
            bot.bot_pause(instance_id=instance.pk, actor_id=None)
        if index == 170:
            bot.bot_start(instance_id=instance.pk, actor_id=None)
        bot_replay.bar_feed(bar)
    report = parity.parity_report(instance=instance, start=None, end=None)
    assert report.missed and report.score < 1.0
    assert any("paused" in trade.reason for trade in report.missed)


def test_bad_replay_files_are_a_clear_message(tmp_path):
    args = ["--symbol", "BTC/USDT", "--timeframe", "1h", "--strategy", "sma_cross"]
    (tmp_path / "bad.csv").write_text("time,o,h,l,c,v\n1,2,3,4,5,6\n")
    with pytest.raises(CommandError, match="header"):
        call_command("bot", "replay-file", str(tmp_path / "bad.csv"), *args)
    (tmp_path / "junk.csv").write_text("timestamp,open,high,low,close,volume\n1,2,x,4,5,6\n")
    with pytest.raises(CommandError, match="junk.csv:2"):
        call_command("bot", "replay-file", str(tmp_path / "junk.csv"), *args)
    with pytest.raises(CommandError, match="cannot be read"):
        call_command("bot", "replay-file", str(tmp_path / "missing.csv"), *args)
    with pytest.raises(CommandError, match="fast"):
        call_command("bot", "replay-file", str(write_file(tmp_path / "ok.csv", 50)), *args, "--param", "fast=-3")
    assert not StrategyInstance.objects.using("trading").exists()


def test_protections_cooldown_after_a_losing_exit_and_drawdown_stop_are_stored():
    from dsta.trading.models import ProtectionTrip, RiskViolation

    guarded = paper_instance("guarded", fast=5, slow=12, capital="1000", cooldown_bars=6)
    for bar in demo_bars(200):
        bot_replay.bar_feed(bar)
    trips = ProtectionTrip.objects.using("trading").filter(instance=guarded, rule="cooldown")
    assert trips.exists()
    trip = trips.first()
    assert trip.until == trip.bar_time + timedelta(hours=7)
    blocked = Signal.objects.using("trading").filter(instance=guarded, action="protected")
    assert all(trip.bar_time < s.bar_time < trip.until for s in blocked[:1]) or not blocked.exists()
    assert RiskViolation.objects.using("trading").filter(rule="protection.cooldown").exists()

    tight = paper_instance("tight", fast=5, slow=12, capital="1000", max_drawdown_pct=D("0.5"))
    for bar in demo_bars(400)[200:]:
        bot_replay.bar_feed(bar)
    tight.refresh_from_db(using="trading")
    assert tight.state == "stopped"
    assert ProtectionTrip.objects.using("trading").filter(instance=tight, rule="max_drawdown").count() == 1


# A user's strategy that raises once it has seen 30 bars (so it starts deciding, then breaks).
FAULTY = """
from dsta.sdk import Decision, Strategy


class Faulty(Strategy):
    name = "user_faulty"
    parameters = ()

    def warmup(self):
        return 1

    def indicators(self, bars):
        return {}

    def decide(self, context):
        if context.index >= 30:
            raise RuntimeError("the user's bug")
        return Decision(target=1.0)
"""


def test_a_strategy_that_raises_pauses_its_instance_once_and_the_others_trade_on(tmp_path, monkeypatch):
    from dsta.trading.models import ProtectionTrip, RiskViolation

    (tmp_path / "faulty.py").write_text(FAULTY)
    monkeypatch.setenv("DSTA_STRATEGY_PATHS", str(tmp_path))
    healthy = paper_instance("healthy", fast=5, slow=12, capital="1000")
    faulty = bot.bot_start(
        instance_id=bot.instance_create(
            name="faulty",
            strategy="user_faulty",
            params={},
            exchange="binance",
            symbol="BTC/USDT",
            timeframe="1h",
            actor_id=None,
            settings=bot.BotSettings(capital=D("1000"), candles_supplied=True),
        ).pk,
        actor_id=None,
    )
    for bar in demo_bars(60):
        bot_replay.bar_feed(bar)

    faulty.refresh_from_db(using="trading")
    assert faulty.state == "paused"
    trips = ProtectionTrip.objects.using("trading").filter(instance=faulty, rule="strategy_fault")
    assert trips.count() == 1  # once, not once per later bar
    assert "user_faulty" in trips.get().message and "the user's bug" in trips.get().message
    assert RiskViolation.objects.using("trading").filter(rule="protection.strategy_fault").count() == 1
    # the healthy instance decided every bar from its warm-up on, the faulty one stopped at its bug
    assert Signal.objects.using("trading").filter(instance=healthy).count() == 60 - 11
    assert Signal.objects.using("trading").filter(instance=faulty).count() < 31
    healthy.refresh_from_db(using="trading")
    assert healthy.state == "running"
