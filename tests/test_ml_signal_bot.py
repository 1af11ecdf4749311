"""ML-driven trading live (issue 14 item 4): an enabled paper `ml_signal` instance names an ml model; each
closed candle reaches ml, whose production model predicts the bar and publishes `ml.prediction`; trading
(which never imports ml) decides the bar from that event through data's `strategy_signal`, and the signal
becomes its order. The decisions equal the `ml_signal_backtest` of the same model over the same bars.

Real Postgres, the real outboxes and relay, the handlers' inboxes; a direction model trained on real bars. The
bars before the live ones are imported, the model trained on them and promoted, then the next bars close one
by one as the live feed closes them."""

from __future__ import annotations

import gzip
import time
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import dramatiq
import pytest
from django.core.management import call_command
from django.urls import reverse

from dsta.data import api as data_api
from dsta.data.contracts import CandleBar
from dsta.domains import DOMAINS
from dsta.kernel import handlers
from dsta.kernel.actors import events_queue
from dsta.kernel.events import EventEnvelope
from dsta.kernel.relay import Relay
from dsta.ml import api as ml_api
from dsta.ml.models import MLModel, Prediction
from dsta.trading import bot, bot_replay, bot_signals, parity, services
from dsta.trading.models import Order, Signal, StrategyInstance

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
DEMO_BTC = Path(__file__).resolve().parents[1] / "dsta" / "data" / "demo" / "BTC_USDT-1h.csv.gz"
SERIES = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h"}
THRESHOLDS = {"long_above": 0.5, "flat_below": 0.5, "short_below": 0.0}
HISTORY = 2_000  # bars the model is trained on, before the live ones
STEP = timedelta(hours=1)
D = Decimal


def expected_target(p_up: float) -> Decimal | None:
    """ml_signal's rule with THRESHOLDS, written out: long at or above 0.5, flat below."""
    return D("1.0") if p_up >= THRESHOLDS["long_above"] else (D("0.0") if p_up < THRESHOLDS["flat_below"] else None)


class Market:
    """BTC/USDT 1h on binance: history imported, a direction model trained on it and promoted (as if trained
    when the last history bar closed), then live bars closed one at a time and relayed to every handler."""

    def __init__(self, tmp_path: Path) -> None:
        self.live = bot_replay.candles_read(DEMO_BTC, **SERIES)[HISTORY : HISTORY + 200]
        self.closed = 0
        self.delivered: list[EventEnvelope] = []  # every envelope relayed, so a test can deliver it again
        self.relay = Relay(domains=DOMAINS, sender=self._deliver)
        path = tmp_path / "history.csv"
        with gzip.open(DEMO_BTC, "rt") as source, open(path, "w") as target:
            for index, line in enumerate(source):
                if index > HISTORY:
                    break
                target.write(line)
        call_command("import_ohlcv", str(path), no_progress=True, stdout=StringIO(), **SERIES)
        self.drain()

    def train(self, name: str = "btc-dir", kind: str = "direction") -> MLModel:
        info = ml_api.training_start(kind=kind, model_name=name, params={"folds": 2}, wait=True, **SERIES)
        assert info.status == "succeeded", info.error
        # trained when the last history bar closed: every live bar is one it never saw (and the backtest
        # predicts those with the model itself, as live trading does)
        MLModel.objects.using("ml").filter(pk=info.model_id).update(created_at=self.live[0].open_time)
        ml_api.model_promote(model_id=info.model_id)
        return MLModel.objects.using("ml").get(pk=info.model_id)

    def close_next(self, *, relay: bool = True) -> CandleBar:
        bar = self.live[self.closed]
        self.closed += 1
        data_api.candle_close(bar=bar)
        if relay:
            self.drain()
        return bar

    def drain(self) -> None:
        while self.relay.drain():
            pass

    def _deliver(self, messages: list[dict]) -> None:
        envelopes = [EventEnvelope.from_message(message) for message in messages]
        self.delivered += envelopes
        handlers.deliver(envelopes)

    def sent(self, name: str) -> list[EventEnvelope]:
        return [envelope for envelope in self.delivered if envelope.name == name]


@pytest.fixture(autouse=True)
def paper_venue(settings, tmp_path):
    from dsta.exchange import api as exchange_api

    settings.STATE_DIR = tmp_path / "state"
    exchange_api.paper_reset(slippage_bps=D(0), slippage_jitter_bps=D(0))


@pytest.fixture
def market(tmp_path) -> Market:
    return Market(tmp_path)


def ml_instance(name: str = "ml-bot", *, model_name: str = "btc-dir", start: bool = True) -> StrategyInstance:
    instance = bot.instance_create(
        name=name,
        strategy="ml_signal",
        params=THRESHOLDS,
        model_name=model_name,
        actor_id=None,
        settings=bot.BotSettings(capital=D("1000")),
        **SERIES,
    )
    return bot.bot_start(instance_id=instance.pk, actor_id=None) if start else instance


def live_p_up(bar: CandleBar) -> float:
    prediction = Prediction.objects.using("ml").get(source="live", model__name="btc-dir", bar_time=bar.open_time)
    return float(prediction.output["p_up"])


@pytest.fixture
def event_worker():
    """A dramatiq worker on the real broker running the event and trading queues, in this process."""
    from dsta.kernel import actors  # noqa: F401  (declares the relay's actor on the broker)
    from dsta.trading import actors as trading_actors  # noqa: F401

    broker = dramatiq.get_broker()
    queues = {events_queue(domain.name) for domain in DOMAINS} | {"trading"}
    for queue in queues:
        broker.flush(queue)
    running = dramatiq.Worker(broker, queues=queues, worker_threads=1, worker_timeout=100)
    running.start()
    yield running
    running.stop()
    for queue in queues:
        broker.flush(queue)


def test_a_prediction_through_the_relay_and_worker_places_the_order_the_thresholds_imply(market, event_worker):
    market.train()
    instance = ml_instance()
    relay = Relay(domains=DOMAINS)  # to the broker: the worker runs the handlers
    deadline = time.monotonic() + 120
    bought = None
    while bought is None and market.closed < 40 and time.monotonic() < deadline:
        bar = market.close_next(relay=False)

        def decided(bar: CandleBar = bar) -> bool:
            relay.drain()
            signal = Signal.objects.using("trading").filter(instance=instance, bar_time=bar.open_time).first()
            return signal is not None and bool(signal.action)

        while not decided() and time.monotonic() < deadline:
            time.sleep(0.1)
        signal = Signal.objects.using("trading").get(instance=instance, bar_time=bar.open_time)
        p_up = live_p_up(bar)
        assert signal.inputs == {"prediction": p_up} and signal.target == expected_target(p_up)
        assert not signal.stale
        if signal.action == "order":
            bought = signal
        else:
            assert signal.action == "hold" and signal.target == D("0.0")  # flat and told to stay flat
    assert bought is not None, "no bar in 40 had p(up) >= 0.5"

    def filled() -> bool:
        relay.drain()
        order = Order.objects.using("trading").filter(client_order_id=bought.client_order_id).first()
        return order is not None and order.status == "filled"

    while not filled() and time.monotonic() < deadline:
        time.sleep(0.1)
    order = Order.objects.using("trading").get(client_order_id=bought.client_order_id)
    assert (order.side, order.status, order.strategy_instance_id) == ("buy", "filled", instance.pk)
    assert order.quantity == bought.order_quantity > 0
    assert order.price == bought.close == next(b.close for b in market.live if b.open_time == bought.bar_time)


def test_no_prediction_no_decision_and_a_candle_alone_never_decides(market):
    market.train()
    traded = ml_instance("traded")
    unfed = ml_instance("unfed", model_name="no-such-model")
    regime = ml_instance("regime-fed", model_name="btc-regime")
    market.train(name="btc-regime", kind="regime")  # a production model whose output has no p(up)
    sma = bot.bot_start(
        instance_id=bot.instance_create(
            name="sma",
            strategy="sma_cross",
            params={"fast": 5, "slow": 12},
            actor_id=None,
            settings=bot.BotSettings(capital=D("1000")),
            **SERIES,
        ).pk,
        actor_id=None,
    )
    # the candle reaches trading alone (ml not yet): the candle strategy decides, the ml one waits
    bar = market.close_next(relay=False)
    candle: list[EventEnvelope] = []
    trading_only = Relay(domains=DOMAINS, sender=lambda messages: candle.extend(_trading_only(messages)))
    while trading_only.drain():
        pass
    assert Signal.objects.using("trading").filter(instance=sma, bar_time=bar.open_time).exists()
    assert not Signal.objects.using("trading").filter(instance=traded).exists()
    # the candle delivered again, to every consumer: ml predicts, the prediction arrives and the instance decides
    handlers.deliver([envelope for envelope in candle if envelope.name == "data.candle_closed"])
    market.drain()
    assert Signal.objects.using("trading").get(instance=traded, bar_time=bar.open_time).inputs == {
        "prediction": live_p_up(bar)
    }
    for _ in range(5):
        market.close_next()
    assert Signal.objects.using("trading").filter(instance=traded).count() == 6
    assert Prediction.objects.using("ml").filter(source="live", model__name="btc-regime").count() == 6
    # no model of that name, or no p(up) in its output: no prediction to decide on, so no signal, no order
    for silent in (unfed, regime):
        assert not Signal.objects.using("trading").filter(instance=silent).exists()
        assert not Order.objects.using("trading").filter(strategy_instance_id=silent.pk).exists()


def _trading_only(messages: list[dict]) -> list[EventEnvelope]:
    envelopes = [EventEnvelope.from_message(message) for message in messages]
    saved = dict(handlers._subscriptions)
    try:
        handlers._subscriptions.clear()
        handlers._subscriptions.update({k: s for k, s in saved.items() if s.using == "trading"})
        handlers.deliver(envelopes)
    finally:
        handlers._subscriptions.clear()
        handlers._subscriptions.update(saved)
    return envelopes


def test_a_redelivered_prediction_places_nothing_twice_and_a_back_filled_one_is_not_traded(market):
    from django.db import transaction

    from dsta.data import live as data_live
    from dsta.data import services as data_services
    from dsta.events.ml import PredictionMade
    from dsta.kernel.outbox import publish

    market.train()
    instance = ml_instance()
    while not Order.objects.using("trading").filter(strategy_instance_id=instance.pk).exists():
        assert market.closed < 60, "no order in 60 bars"
        market.close_next()
    before = (Signal.objects.using("trading").count(), Order.objects.using("trading").count())
    predictions = market.sent("ml.prediction")
    assert len(predictions) == market.closed
    # every prediction event delivered again (the relay lost its acknowledgement), and decided again directly
    handlers.deliver(predictions)
    market.drain()
    for envelope in predictions:
        event = envelope.decode(PredictionMade)
        again = bot_signals.signals_on_prediction(
            model_name=event.model_name, bar_time=event.bar_time, output=event.output, backfill=False, **SERIES
        )
        assert again == []
    market.drain()
    assert (Signal.objects.using("trading").count(), Order.objects.using("trading").count()) == before

    # the worker was down: bars closed meanwhile and their predictions come late: recorded, never traded
    late = [market.close_next(relay=False) for _ in range(3)]
    market.drain()
    for bar in late[:-1]:
        signal = Signal.objects.using("trading").get(instance=instance, bar_time=bar.open_time)
        assert signal.stale and signal.action == "stale"
    latest = Signal.objects.using("trading").get(instance=instance, bar_time=late[-1].open_time)
    assert not latest.stale and latest.action in ("order", "hold")

    # a candle the live feed caught up (flagged back-fill): ml's prediction carries the flag; not traded
    bar = market.live[market.closed]
    market.closed += 1
    with transaction.atomic(using="data"):
        data_services.candles_upsert(bars=[bar])
        publish(data_live.candle_closed_event(bar, backfill=True), using="data")
    market.drain()
    flagged = market.sent("ml.prediction")[-1].decode(PredictionMade)
    assert flagged.bar_time == bar.open_time and flagged.backfill
    signal = Signal.objects.using("trading").get(instance=instance, bar_time=bar.open_time)
    assert signal.stale and signal.action == "stale"
    assert Order.objects.using("trading").filter(strategy_instance_id=instance.pk).count() == len(
        Signal.objects.using("trading").filter(instance=instance, action="order")
    )


def test_live_decisions_over_n_bars_equal_the_ml_signal_backtest_and_parity_is_exact(market):
    model = market.train()
    instance = ml_instance()
    bars = [market.close_next() for _ in range(120)]
    signals = list(Signal.objects.using("trading").filter(instance=instance).order_by("bar_time"))
    assert [s.bar_time for s in signals] == [b.open_time for b in bars]
    for signal in signals:
        assert signal.target == expected_target(signal.inputs["prediction"]) and not signal.stale
    entries = [s.bar_time for s in signals if s.action == "order" and s.order_side == "buy"]
    exits = [s.bar_time for s in signals if s.action == "order" and s.order_side == "sell"]
    assert len(entries) >= 3 and len(exits) >= 2

    result = ml_api.ml_signal_backtest(
        model_id=model.pk,
        start=bars[0].open_time,
        end=bars[-1].open_time + STEP,
        params=THRESHOLDS,
        commission=instance.commission,
        **SERIES,
    )
    assert result.summary.status == "succeeded", result.summary.error
    assert result.production_bars == result.predicted_bars == len(bars) and result.walk_forward_bars == 0
    trades = data_api.backtest_trades(job_id=result.summary.job_id)
    # the backtest fills at the next bar's open: its trade times are one bar after the decision
    assert [t.entry_time - STEP for t in trades] == entries
    assert [t.exit_time - STEP for t in trades if t.exit_reason == "signal"] == exits

    # the bot's own parity report re-runs the backtest on the predictions it decided on: exact on paper
    report = parity.parity_report(
        instance=StrategyInstance.objects.using("trading").get(pk=instance.pk), start=None, end=None
    )
    assert report.score == 1.0 and not report.extra and not report.missed and len(report.matched) >= 2


def test_bad_input_names_the_model_field(market, client, django_user_model):
    with pytest.raises(services.TradingInputError) as missing:
        ml_instance("nameless", model_name="")
    assert "model_name" in missing.value.errors
    with pytest.raises(services.TradingInputError) as extra:
        bot.instance_create(
            name="sma-with-model",
            strategy="sma_cross",
            params={"fast": 5, "slow": 12},
            model_name="btc-dir",
            actor_id=None,
            settings=bot.BotSettings(),
            **SERIES,
        )
    assert "model_name" in extra.value.errors
    client.force_login(django_user_model.objects.create_superuser("trader", password="x" * 12))
    body = {"name": "ml-api", "strategy": "ml_signal", "params": THRESHOLDS, **SERIES}
    refused = client.post("/api/v1/strategies", body, content_type="application/json")
    assert refused.status_code == 400 and "model_name" in refused.json()
    made = client.post("/api/v1/strategies", {**body, "model_name": "btc-dir"}, content_type="application/json")
    assert made.status_code == 201 and made.json()["model_name"] == "btc-dir"
    assert not StrategyInstance.objects.using("trading").filter(name__in=["nameless", "sma-with-model"]).exists()
    with pytest.raises(services.TradingInputError, match="ml_signal_backtest"):
        bot_replay.replay_file(
            path=DEMO_BTC,
            strategy="ml_signal",
            params=THRESHOLDS,
            fee=D("0.001"),
            capital=D("1000"),
            **SERIES,
        )


def test_the_bot_views_name_the_model_an_instance_trades_on(market, client, django_user_model):
    from dsta.trading import api as trading_api

    traded = ml_instance("ml-named", model_name="btc-dir", start=False)
    views = {view.instance_id: view for view in trading_api.bots_list()}
    assert views[traded.pk].model_name == "btc-dir"
    out = StringIO()
    call_command("bot", "list", stdout=out)
    call_command("bot", "status", str(traded.pk), stdout=out)
    row = next(line for line in out.getvalue().splitlines() if "ml-named" in line and "ml_signal" in line)
    assert "btc-dir" in row
    assert "(model btc-dir)" in out.getvalue()
    client.force_login(django_user_model.objects.create_superuser("viewer", password="x" * 12))
    page = client.get(reverse("web:bots"))
    assert page.status_code == 200 and "ml_signal v" in page.content.decode()
    assert "on model btc-dir" in page.content.decode()


def _import_history(tmp_path: Path, source: Path, bars: int, **series: str) -> list[CandleBar]:
    """The first `bars` bars of a demo file imported as history; the next 20 returned to close live."""
    path = tmp_path / f"{series['symbol'].replace('/', '_')}-history.csv"
    with gzip.open(source, "rt") as lines, open(path, "w") as target:
        for index, line in enumerate(lines):
            if index > bars:
                break
            target.write(line)
    call_command("import_ohlcv", str(path), no_progress=True, stdout=StringIO(), **series)
    return bot_replay.candles_read(source, **series)[bars : bars + 20]


def test_a_model_predicts_live_on_another_market_while_an_instance_trades_it_there(market, tmp_path):
    from dsta.ml.models import LiveMarket

    eth = {"exchange": "binance", "symbol": "ETH/USDT", "timeframe": "1h"}
    eth_live = _import_history(tmp_path, DEMO_BTC.with_name("ETH_USDT-1h.csv.gz"), HISTORY, **eth)
    market.drain()
    market.train()  # btc-dir: trained on BTC/USDT only
    instance = bot.instance_create(
        name="eth-on-btc-model",
        strategy="ml_signal",
        params=THRESHOLDS,
        model_name="btc-dir",
        actor_id=None,
        settings=bot.BotSettings(capital=D("1000")),
        **eth,
    )
    data_api.candle_close(bar=eth_live[0])
    market.drain()  # not started yet: nothing follows ETH, so no prediction there
    eth_predictions = Prediction.objects.using("ml").filter(source="live", model__name="btc-dir", symbol="ETH/USDT")
    assert not eth_predictions.exists()
    bot.bot_start(instance_id=instance.pk, actor_id=None)
    market.drain()  # trading.bot_state_changed reaches ml
    assert LiveMarket.objects.using("ml").get(instance_id=instance.pk).symbol == "ETH/USDT"
    for bar in eth_live[1:4]:
        data_api.candle_close(bar=bar)
        market.drain()
    predicted = {p.bar_time: float(p.output["p_up"]) for p in eth_predictions}
    assert sorted(predicted) == [bar.open_time for bar in eth_live[1:4]]  # from ETH's own features, every bar
    signals = Signal.objects.using("trading").filter(instance=instance).order_by("bar_time")
    assert [(s.bar_time, s.inputs["prediction"]) for s in signals] == sorted(predicted.items())
    btc_bar = market.close_next()  # the market it was trained on is predicted as before
    assert Prediction.objects.using("ml").filter(source="live", symbol="BTC/USDT", bar_time=btc_bar.open_time).exists()
    bot.bot_stop(instance_id=instance.pk, actor_id=None)
    market.drain()
    assert not LiveMarket.objects.using("ml").filter(instance_id=instance.pk).exists()
    data_api.candle_close(bar=eth_live[4])
    market.drain()
    assert eth_predictions.count() == 3  # stopped: ml no longer predicts ETH for it
