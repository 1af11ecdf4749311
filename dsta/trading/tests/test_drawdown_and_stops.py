"""The drawdown monitor and position stops, driven the way production drives them: closed candles go through
the data outbox and the relay to the trading handlers (in process here), orders fill on the paper venue."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connections

from dsta.data import api as data_api
from dsta.data.contracts import CandleBar
from dsta.domains import DOMAIN_BY_ALIAS, DOMAINS
from dsta.exchange import api as exchange_api
from dsta.exchange.contracts import OrderBook, PriceLevel
from dsta.kernel import handlers
from dsta.kernel.events import EventEnvelope
from dsta.kernel.relay import Relay
from dsta.trading import drawdown, orders, services, stops
from dsta.trading.models import CircuitBreaker, DrawdownState, Order, Position, PositionStop, RiskViolation

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)
SYMBOL = "BTC/USDT"


class Candles:
    """Closes 1h bars of BTC/USDT on binance and delivers them to trading's handlers; remembers every
    envelope delivered so a test can redeliver them."""

    def __init__(self) -> None:
        self.hour = 0
        self.delivered: list[EventEnvelope] = []

    def close(self, price: str) -> None:
        value = D(price)
        data_api.candle_close(
            bar=CandleBar("binance", SYMBOL, "1h", T0 + timedelta(hours=self.hour), value, value, value, value, D(1))
        )
        self.hour += 1
        Relay(domains=[DOMAIN_BY_ALIAS["data"]], sender=self._deliver).drain()

    def _deliver(self, messages: list[dict]) -> None:
        envelopes = [EventEnvelope.from_message(message) for message in messages]
        self.delivered += envelopes
        trading_only(envelopes)


def trading_only(envelopes: list[EventEnvelope]) -> int:
    """Deliver to the trading domain's consumers only (ml and others also listen to candles)."""
    saved = dict(handlers._subscriptions)
    try:
        handlers._subscriptions.clear()
        handlers._subscriptions.update({k: s for k, s in saved.items() if s.using == "trading"})
        return handlers.deliver(envelopes)
    finally:
        handlers._subscriptions.clear()
        handlers._subscriptions.update(saved)


@pytest.fixture
def candles():
    return Candles()


@pytest.fixture
def paper():
    """The paper venue at 99/100, marked from binance's bars (the paper venue has none of its own)."""
    exchange_api.paper_reset(slippage_bps=D(0), slippage_jitter_bps=D(0))
    exchange_api.paper_deposit(asset="USDT", amount=D("100000"))
    exchange_api.paper_book_feed(
        book=OrderBook("paper", SYMBOL, T0, (PriceLevel(D(99), D(100)),), (PriceLevel(D(100), D(100)),))
    )


def buy(quantity: str = "1") -> Order:
    return orders.order_place(
        orders.NewOrder(exchange="paper", symbol=SYMBOL, side="buy", order_type="market", quantity=D(quantity))
    )


def trading_outbox(name: str) -> list[dict]:
    with connections["trading"].cursor() as cursor:
        cursor.execute("SELECT payload FROM outbox WHERE name = %s ORDER BY id", [name])
        return [json.loads(row[0]) if isinstance(row[0], str) else row[0] for row in cursor.fetchall()]


def wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


# -- drawdown -----------------------------------------------------------------------------------------------


def test_a_drawdown_beyond_the_limit_trips_the_breaker_once_and_halts_orders(paper, candles):
    services.risk_limits_update(values={"max_drawdown_pct": D(5), "drawdown_capital": D(1000)}, actor_id=None)
    candles.close("100")
    assert buy().status == "filled"  # 1 BTC at 100, fee 0.1
    candles.close("120")  # equity 1000 - 0.1 + 20: the new peak
    state = DrawdownState.objects.using("trading").get()
    assert state.peak_equity == D("1019.9") and state.drawdown_pct == 0
    candles.close("110")  # 1009.9: 0.98% down, within the limit
    assert DrawdownState.objects.using("trading").get().drawdown_pct == D("0.980488")
    assert not CircuitBreaker.objects.using("trading").filter(is_open=True).exists()
    candles.close("60")  # 959.9: 5.88% below the peak
    breaker = CircuitBreaker.objects.using("trading").get()
    assert breaker.is_open and "drawdown 5.882930%" in breaker.reason
    violation = RiskViolation.objects.using("trading").get(rule="max_drawdown")
    assert (violation.limit, violation.actual) == ("5.0000", "5.882930")
    assert [p["rule"] for p in trading_outbox("trading.risk_violation")] == ["max_drawdown"]
    assert [p["is_open"] for p in trading_outbox("trading.circuit_breaker_changed")] == [True]
    halted = buy("0.1")
    assert halted.status == "rejected" and "circuit_breaker" in halted.transitions.last().reason
    # deeper, redelivered, or closed by hand: still one violation for this peak
    candles.close("55")
    assert trading_only(candles.delivered) == 0  # the inbox absorbs redelivered bars
    services.circuit_breaker_set(is_open=False, reason="reviewed", actor_id=None)
    candles.close("50")
    assert RiskViolation.objects.using("trading").filter(rule="max_drawdown").count() == 1
    assert not CircuitBreaker.objects.using("trading").get().is_open
    # a new peak re-arms the monitor
    candles.close("200")
    candles.close("100")
    assert RiskViolation.objects.using("trading").filter(rule="max_drawdown").count() == 2
    assert CircuitBreaker.objects.using("trading").get().is_open


def test_the_snapshot_job_checks_drawdown_too(paper, candles):
    services.risk_limits_update(values={"max_drawdown_pct": D(10), "drawdown_capital": D(100)}, actor_id=None)
    candles.close("100")
    buy()
    reading = drawdown.drawdown_check()
    assert reading.equity == D("99.9") and not reading.tripped
    from dsta.trading.models import MarkPrice

    MarkPrice.objects.using("trading").update(price=D(85))  # marked down outside the candle path
    reading = drawdown.drawdown_check()
    assert (
        reading.tripped and reading.peak_equity == D(100) and reading.drawdown_pct == D("15.1")
    )  # the peak before the fee


# -- stops --------------------------------------------------------------------------------------------------


def test_stop_loss_closes_the_position_exactly_once(paper, candles, worker, client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("trader", password="x" * 12))
    url = "/api/v1/positions/BTC-USDT/stops"
    candles.close("100")
    assert (
        client.post(
            url, {"exchange": "paper", "kind": "stop_loss", "stop_price": "90"}, content_type="application/json"
        ).status_code
        == 400
    )  # no position yet
    buy()
    wrong_side = client.post(
        url, {"exchange": "paper", "kind": "stop_loss", "stop_price": "101"}, content_type="application/json"
    )
    assert wrong_side.status_code == 400 and "stop_price" in wrong_side.json()
    missing = client.post(url, {"exchange": "paper", "kind": "trailing_stop"}, content_type="application/json")
    assert missing.status_code == 400 and "trail_pct" in missing.json()
    created = client.post(
        url, {"exchange": "paper", "kind": "stop_loss", "stop_price": "90"}, content_type="application/json"
    )
    assert created.status_code == 201, created.content
    stop_id = created.json()["id"]
    assert created.json()["close_side"] == "sell" and created.json()["status"] == "active"
    candles.close("95")
    assert PositionStop.objects.using("trading").get(pk=stop_id).status == "active"
    candles.close("89")
    stop = PositionStop.objects.using("trading").get(pk=stop_id)
    assert stop.status == "triggered" and stop.trigger_price == D(89) and stop.order is not None
    close = stop.order
    assert (close.client_order_id, close.side, close.quantity) == (f"dsta-stop-{stop_id}", "sell", D(1))
    wait_for(lambda: Order.objects.using("trading").get(pk=close.pk).status == "filled")
    assert Position.objects.using("trading").get(exchange="paper", symbol=SYMBOL).quantity == 0
    # redelivery, later bars and a direct re-evaluation add no second order
    assert trading_only(candles.delivered) == 0
    candles.close("80")
    assert stops.stops_on_price(exchange="binance", symbol=SYMBOL, price=D(70), at=T0) == []
    assert Order.objects.using("trading").filter(client_order_id__startswith="dsta-stop-").count() == 1
    assert len(exchange_api.fills_list(venue="paper")) == 2
    listed = client.get(url).json()
    assert [(s["id"], s["status"], s["order_id"]) for s in listed] == [(stop_id, "triggered", close.pk)]
    cancel = client.put(f"{url}/{stop_id}/cancel")
    assert cancel.status_code == 409  # already triggered


def test_trailing_stop_ratchets_with_the_high_water_mark(paper, candles, worker, client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("trader", password="x" * 12))
    candles.close("100")
    buy("2")
    created = client.post(
        "/api/v1/positions/BTC-USDT/stops",
        {"exchange": "paper", "kind": "trailing_stop", "trail_pct": "10"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    stop_id = created.json()["id"]
    assert D(created.json()["stop_price"]) == D(90) and D(created.json()["water_mark"]) == D(100)

    def state() -> tuple[Decimal, Decimal, str]:
        stop = PositionStop.objects.using("trading").get(pk=stop_id)
        return stop.water_mark, stop.stop_price, stop.status

    candles.close("110")
    assert state() == (D(110), D(99), "active")
    candles.close("105")  # a dip above the stop: the stop stays where it was
    assert state() == (D(110), D(99), "active")
    candles.close("120")
    assert state() == (D(120), D(108), "active")
    candles.close("107")  # below the ratcheted stop: close the whole position
    assert state() == (D(120), D(108), "triggered")
    close = PositionStop.objects.using("trading").get(pk=stop_id).order
    assert (close.side, close.quantity) == ("sell", D(2))
    wait_for(lambda: Order.objects.using("trading").get(pk=close.pk).status == "filled")
    assert Position.objects.using("trading").get(exchange="paper", symbol=SYMBOL).quantity == 0


def test_a_stop_whose_position_is_gone_cancels_itself_and_can_be_cancelled(paper, candles):
    candles.close("100")
    buy()
    stop = stops.stop_attach(
        exchange="paper", symbol=SYMBOL, kind="stop_loss", stop_price=D(90), trail_pct=None, actor_id=None
    )
    other = stops.stop_attach(
        exchange="paper", symbol=SYMBOL, kind="stop_loss", stop_price=D(80), trail_pct=None, actor_id=None
    )
    assert stops.stop_cancel(stop_id=other.pk).status == "cancelled"
    orders.order_place(
        orders.NewOrder(exchange="paper", symbol=SYMBOL, side="sell", order_type="market", quantity=D(1))
    )
    assert stops.stops_on_price(exchange="binance", symbol=SYMBOL, price=D(85), at=T0) == []
    assert PositionStop.objects.using("trading").get(pk=stop.pk).status == "cancelled"
    assert not Order.objects.using("trading").filter(client_order_id__startswith="dsta-stop-").exists()
