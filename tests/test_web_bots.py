"""The Bots page: each instance's state, mode, allocation, own position and P&L, last signals; start / pause /
stop buttons are CSRF-protected forms through the trading facade, allowed to traders only."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client

from dsta.core.tests.factories import user_with_role
from dsta.domains import DOMAINS

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS])


@pytest.fixture
def instance():
    from dsta.data import api as data_api
    from dsta.data.contracts import CandleBar
    from dsta.exchange import api as exchange_api
    from dsta.trading import bot

    exchange_api.paper_reset()
    price = Decimal("60000")
    data_api.candle_close(
        bar=CandleBar("binance", "BTC/USDT", "1h", datetime(2024, 1, 1, tzinfo=UTC), price, price, price, price, price)
    )
    return bot.instance_create(
        name="page-bot",
        strategy="sma_cross",
        params={"fast": 5, "slow": 12},
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
        settings=bot.BotSettings(capital=Decimal("2500")),
        actor_id=None,
    )


def test_the_bots_page_lists_instances_and_its_buttons_change_state_with_a_csrf_token(instance):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_with_role("trader"))
    page = client.get("/bots/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "page-bot" in html and "2500.00" in html and 'class="state">stopped' in html
    form = {"instance_id": str(instance.pk), "action": "start"}
    assert client.post("/bots/", form).status_code == 403  # no token: CSRF failure
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response = client.post("/bots/", {**form, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert 'class="state">running' in client.get("/bots/").content.decode()
    paused = client.post("/bots/", {**form, "action": "pause", "csrfmiddlewaretoken": token})
    assert paused.status_code == 302
    instance.refresh_from_db(using="trading")
    assert instance.state == "paused"
    bad = client.post("/bots/", {**form, "action": "explode", "csrfmiddlewaretoken": token})
    assert bad.status_code == 400 and "expected start, pause or stop" in bad.content.decode()


def test_a_viewer_sees_the_bots_but_cannot_start_one(instance):
    client = Client()
    client.force_login(user_with_role("viewer"))
    assert client.get("/bots/").status_code == 200
    response = client.post("/bots/", {"instance_id": str(instance.pk), "action": "start"})
    assert response.status_code == 403
    instance.refresh_from_db(using="trading")
    assert instance.state == "stopped"
