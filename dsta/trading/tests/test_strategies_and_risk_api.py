"""Strategy instances, their signals from candle events, risk limits, circuit breaker and violations."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections

from dsta.domains import DOMAINS
from dsta.trading import bot_signals
from dsta.trading.models import Signal

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS])
DEMO_BTC = Path(__file__).resolve().parents[2] / "data" / "demo" / "BTC_USDT-1h.csv.gz"
STRATEGY = {
    "name": "btc-sma",
    "strategy": "sma_cross",
    "params": {"fast": 10, "slow": 30},
    "exchange": "binance",
    "symbol": "BTC/USDT",
    "timeframe": "1h",
}


@pytest.fixture
def api(client, django_user_model):
    # Permissions per role are the RBAC matrix's business (tests/test_rbac_matrix.py); here: what the endpoints do.
    client.force_login(django_user_model.objects.create_superuser("trader", password="x" * 12))
    return client


@pytest.fixture(autouse=True)
def market():
    """A stored bar of the market: a paper instance trades what data holds candles of (no venue lookup)."""
    from dsta.data import api as data_api
    from dsta.data.contracts import CandleBar

    price = Decimal("60000")
    data_api.candle_close(
        bar=CandleBar("binance", "BTC/USDT", "1h", datetime(2024, 1, 1, tzinfo=UTC), price, price, price, price, price)
    )


def outbox_names() -> list[str]:
    with connections["trading"].cursor() as cursor:
        cursor.execute("SELECT name FROM outbox ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def test_create_read_and_reparameterise_a_strategy(api):
    created = api.post("/api/v1/strategies", STRATEGY, content_type="application/json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["params"] == {"fast": 10, "slow": 30, "exposure": 1.0} and body["params_version"] == 1
    instance_id = body["id"]
    assert api.get(f"/api/v1/strategies/{instance_id}").json()["name"] == "btc-sma"
    updated = api.put(
        f"/api/v1/strategies/{instance_id}/parameters",
        {"params": {"fast": 5, "slow": 50}},
        content_type="application/json",
    )
    assert updated.status_code == 200 and updated.json()["params_version"] == 2
    assert [row["name"] for row in api.get("/api/v1/strategies").json()] == ["btc-sma"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strategy": "moonshot"}, "strategy"),
        ({"params": {"fast": 40, "slow": 30}}, "params.fast"),
        ({"params": {"speed": 3}}, "params.speed"),
        ({"timeframe": "2w"}, "timeframe"),
        ({"name": ""}, "name"),
    ],
)
def test_invalid_strategy_input_is_a_400_naming_the_field(api, change, field):
    response = api.post("/api/v1/strategies", {**STRATEGY, **change}, content_type="application/json")
    assert response.status_code == 400 and field in response.json()


def test_duplicate_name_and_bad_parameters_update_are_400(api):
    instance_id = api.post("/api/v1/strategies", STRATEGY, content_type="application/json").json()["id"]
    assert "name" in api.post("/api/v1/strategies", STRATEGY, content_type="application/json").json()
    response = api.put(
        f"/api/v1/strategies/{instance_id}/parameters",
        {"params": {"fast": 99, "slow": 20}},
        content_type="application/json",
    )
    assert response.status_code == 400 and "params.fast" in response.json()
    assert api.get("/api/v1/strategies/999999").status_code == 404


def test_a_closed_candle_yields_one_signal_per_strategy_and_bar(api):
    call_command(
        "import_ohlcv",
        str(DEMO_BTC),
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
        no_progress=True,
        stdout=StringIO(),
    )
    instance_id = api.post("/api/v1/strategies", STRATEGY, content_type="application/json").json()["id"]
    bar_time = datetime(2025, 6, 1, 12, tzinfo=UTC)
    kwargs = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h", "bar_time": bar_time}
    assert bot_signals.signals_on_candle(**kwargs) == 1
    assert bot_signals.signals_on_candle(**kwargs) == 0  # redelivered event: no second signal
    signal = Signal.objects.using("trading").get(instance_id=instance_id)
    assert signal.target in (Decimal("0"), Decimal("1")) and signal.bar_time == bar_time
    assert outbox_names().count("trading.signal") == 1
    signals = api.get(f"/api/v1/strategies/{instance_id}/signals").json()
    assert len(signals) == 1 and signals[0]["bar_time"] == "2025-06-01T12:00:00Z"


def test_risk_limits_are_versioned_and_validated(api):
    first = api.get("/api/v1/risk/limits").json()
    assert first["version"] == 1 and first["max_open_orders"] == 20
    updated = api.put(
        "/api/v1/risk/limits", {"max_open_orders": 5, "reason": "tighten"}, content_type="application/json"
    )
    assert updated.status_code == 200
    assert (updated.json()["version"], updated.json()["max_open_orders"]) == (2, 5)
    assert updated.json()["max_order_notional"] == first["max_order_notional"]
    bad = api.put("/api/v1/risk/limits", {"price_band_pct": "-1"}, content_type="application/json")
    assert bad.status_code == 400 and "price_band_pct" in bad.json()
    assert api.put("/api/v1/risk/limits", {"reason": "nothing"}, content_type="application/json").status_code == 400
    assert outbox_names().count("trading.risk_limits_changed") == 2


def test_circuit_breaker_opens_and_closes_with_events(api):
    assert api.get("/api/v1/risk/circuit-breaker").json()["is_open"] is False
    opened = api.post(
        "/api/v1/risk/circuit-breaker", {"is_open": True, "reason": "exchange outage"}, content_type="application/json"
    )
    assert opened.status_code == 200 and opened.json()["is_open"] is True
    api.post("/api/v1/risk/circuit-breaker", {"is_open": True, "reason": "still"}, content_type="application/json")
    api.post("/api/v1/risk/circuit-breaker", {"is_open": False}, content_type="application/json")
    assert outbox_names().count("trading.circuit_breaker_changed") == 2
    assert api.post("/api/v1/risk/circuit-breaker", {}, content_type="application/json").status_code == 400
    assert api.get("/api/v1/risk/violations").json() == []
