"""The bot over the API and the CLI: create with trading settings, start / pause / stop, arm / disarm live,
performance; every bad input is a 400 with field errors (a message and a non-zero exit) and stores nothing."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from dsta.domains import DOMAINS
from dsta.trading import bot_replay
from dsta.trading.models import StrategyInstance

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS])
DEMO_BTC = Path(__file__).resolve().parents[2] / "data" / "demo" / "BTC_USDT-1h.csv.gz"
D = Decimal
BASE = {
    "name": "btc-bot",
    "strategy": "sma_cross",
    "params": {"fast": 5, "slow": 12},
    "exchange": "binance",
    "symbol": "BTC/USDT",
    "timeframe": "1h",
}


@pytest.fixture
def api(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("trader", password="x" * 12))
    return client


@pytest.fixture
def candles():
    from dsta.data import api as data_api
    from dsta.exchange import api as exchange_api

    exchange_api.paper_reset(slippage_bps=D(0), slippage_jitter_bps=D(0))
    bars = bot_replay.candles_read(DEMO_BTC, exchange="binance", symbol="BTC/USDT", timeframe="1h")[:60]
    for bar in bars[:20]:
        data_api.candle_close(bar=bar)
    return bars


def post(api, path, body=None):
    return api.post(path, body or {}, content_type="application/json")


def test_create_start_pause_stop_and_read_performance(api, candles):
    response = post(api, "/api/v1/strategies", {**BASE, "capital": "1500"})
    assert response.status_code == 201, response.json()
    created = response.json()
    assert (created["mode"], created["venue"], created["state"], D(created["capital"])) == (
        "paper",
        "paper",
        "stopped",
        D(1500),
    )
    instance_id = created["id"]
    assert post(api, f"/api/v1/strategies/{instance_id}/start").json()["state"] == "running"
    for bar in candles[20:]:
        bot_replay.bar_feed(bar)
    assert post(api, f"/api/v1/strategies/{instance_id}/pause").json()["state"] == "paused"
    assert post(api, f"/api/v1/strategies/{instance_id}/stop").json()["state"] == "stopped"
    performance = api.get(f"/api/v1/strategies/{instance_id}/performance").json()
    from dsta.data import api as data_api

    # the backtest's metric names, computed by the backtest's code
    metrics = data_api.performance_metrics(equity=[1.0, 1.0], closes=[1.0, 1.0], trades=[], timeframe="1h")
    assert set(performance["metrics"]) == set(metrics)
    assert performance["trades"] >= 1 and len(performance["equity_curve"]) == 40
    equity = D(performance["equity"])
    assert equity == D(performance["cash"]) + D(performance["position"]) * D(performance["mark_price"])
    report = api.get(f"/api/v1/strategies/{instance_id}/parity").json()
    assert report["summary"].startswith("parity: ") and report["bars"] == 40 and 0 <= report["score"] <= 1
    # paused then stopped after the last bar: every trade it made is the backtest's
    assert report["extra"] == [] and len(report["matched"]) == report["bot_trades"] >= 1
    bad = api.get(f"/api/v1/strategies/{instance_id}/parity?start=yesterday&end=2020-01-01T00:00:00Z")
    assert bad.status_code == 400 and "start" in bad.json()
    empty = api.get(f"/api/v1/strategies/{instance_id}/parity?start=2030-01-01T00:00:00Z")
    assert empty.status_code == 400 and "decided no bar" in empty.json()["start"]
    assert D(performance["realised_pnl"]) + D(performance["unrealised_pnl"]) == pytest.approx(
        equity - D(1500), abs=D("0.000001")
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strategy": "nope"}, "strategy"),
        ({"params": {"fast": 5, "slow": 12, "bogus": 1}}, "params.bogus"),
        ({"capital": "0"}, "capital"),
        ({"capital": "-5"}, "capital"),
        ({"capital": "100000000"}, "capital"),
        ({"mode": "live"}, "mode"),  # no credentials stored for binance
        ({"symbol": "BTCUSDT"}, "symbol"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(api, candles, change, field):
    response = post(api, "/api/v1/strategies", {**BASE, **change})
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not StrategyInstance.objects.using("trading").exists()


def test_cli_list_start_pause_stop_status(api, candles):
    instance_id = post(api, "/api/v1/strategies", BASE).json()["id"]
    out = StringIO()
    call_command("bot", "start", str(instance_id), stdout=out)
    call_command("bot", "pause", str(instance_id), stdout=out)
    call_command("bot", "list", stdout=out)
    call_command("bot", "status", str(instance_id), stdout=out)
    call_command("bot", "stop", str(instance_id), stdout=out)
    text = out.getvalue()
    assert f"{instance_id} btc-bot: running" in text and f"{instance_id} btc-bot: paused" in text
    assert "btc-bot" in text.splitlines()[3] and "paper" in text.splitlines()[3]
    assert f"{instance_id} btc-bot: stopped" in text
    with pytest.raises(CommandError, match="no strategy instance 999999"):
        call_command("bot", "start", "999999")
    with pytest.raises(CommandError, match="decided no bar"):
        call_command("bot", "parity", str(instance_id))
