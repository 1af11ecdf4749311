"""The web app's pages through Django's test client: sign-in, RBAC per page, CSRF, and content from real
rows written through the facades (or as plain rows where a domain has no write facade)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from dsta.core.tests.factories import PASSWORD, clear_login_counters, user_with_role
from dsta.domains import DOMAINS
from tests import web_seed

ALL = [domain.alias for domain in DOMAINS]
pytestmark = pytest.mark.django_db(databases=ALL)

PAGES = {
    "/": "trading.read",
    "/dashboard/panels": "trading.read",
    "/chart/": "market_data.read",
    "/backtests/": "data.backtest.read",
    "/models/": "ml.read",
    "/notifications/": "notifications.read",
    "/bots/": "trading.read",
}


@pytest.fixture(autouse=True)
def _no_login_counters():
    clear_login_counters()
    yield
    clear_login_counters()


def signed_in(role: str) -> Client:
    client = Client()
    client.force_login(user_with_role(role))
    return client


@pytest.mark.parametrize("url", list(PAGES))
def test_every_page_sends_anonymous_callers_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_an_htmx_poll_without_a_session_is_told_to_go_to_the_login_page(client):
    response = client.get("/dashboard/panels", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response["HX-Redirect"].startswith("/login/?next=")


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("viewer", {"/", "/dashboard/panels", "/chart/", "/models/", "/bots/"}),
        ("analyst", {"/", "/dashboard/panels", "/chart/", "/backtests/", "/models/", "/notifications/", "/bots/"}),
        ("trader", {"/", "/dashboard/panels", "/chart/", "/models/", "/notifications/", "/bots/"}),
        ("admin", set(PAGES)),
        (None, set()),
    ],
)
def test_each_page_needs_its_permission(role, allowed):
    client = Client()
    client.force_login(user_with_role(role))
    for url, permission in PAGES.items():
        response = client.get(url)
        if url in allowed:
            assert response.status_code == 200, (role, url)
        else:
            assert response.status_code == 403, (role, url)
            assert permission.encode() in response.content


def test_navigation_lists_only_the_pages_the_role_may_open():
    page = signed_in("viewer").get("/").content.decode()
    assert 'href="/chart/"' in page and 'href="/models/"' in page
    assert 'href="/backtests/"' not in page and 'href="/notifications/"' not in page


def test_login_with_the_form_then_logout(client):
    user = user_with_role("viewer")
    page = client.get("/login/?next=/chart/")
    assert page.status_code == 200 and b'name="password"' in page.content
    wrong = client.post("/login/", {"username": user.username, "password": "nope-nope-nope", "next": "/chart/"})
    assert wrong.status_code == 400
    assert b"Username or password is wrong." in wrong.content
    assert client.get("/chart/").status_code == 302
    right = client.post("/login/", {"username": user.username, "password": PASSWORD, "next": "/chart/"})
    assert right.status_code == 302 and right["Location"] == "/chart/"
    from dsta.core.models import AuditEntry

    actions = list(AuditEntry.objects.filter(actor_id=user.pk).values_list("action", "details"))
    assert ("auth.login_failed", {"locked": False}) in actions and ("auth.login", {"via": "session"}) in actions
    assert client.get("/").status_code == 200
    assert client.get("/logout/").status_code == 405  # logging out changes state: POST only
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302
    assert AuditEntry.objects.filter(actor_id=user.pk, action="auth.logout", details={"via": "session"}).exists()


def test_login_refuses_an_offsite_next_and_a_missing_field(client):
    user = user_with_role("viewer")
    response = client.post("/login/", {"username": user.username, "password": PASSWORD, "next": "https://evil.test/"})
    assert response.status_code == 302 and response["Location"] == "/"
    client.logout()
    response = client.post("/login/", {"username": user.username})
    assert response.status_code == 400 and b"This field is required." in response.content


def test_login_is_throttled_with_the_api_lockout(client, settings):
    settings.DSTA_LOGIN_MAX_FAILURES = 2
    user = user_with_role("viewer")
    for _ in range(2):
        client.post("/login/", {"username": user.username, "password": "wrong-password-x"})
    locked = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0
    assert b"Too many login attempts" in locked.content


def test_forms_need_a_csrf_token():
    client = Client(enforce_csrf_checks=True)
    user = user_with_role("analyst")
    assert client.post("/login/", {"username": user.username, "password": PASSWORD}).status_code == 403
    page = client.get("/login/")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1).decode()
    response = client.post("/login/", {"username": user.username, "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert client.post("/backtests/", {"strategy": "sma_cross"}).status_code == 403  # no token: CSRF failure


def test_dashboard_shows_pnl_positions_open_orders_and_risk():
    web_seed.seed_trading()
    client = signed_in("viewer")
    for url in ("/", "/dashboard/panels"):
        page = client.get(url).content.decode()
        assert "ETH/USDT" in page and "1.75" in page and "3012.5" in page  # the position
        assert 'data-testid="pnl-unrealised">175.00<' in page  # (3112.5 - 3012.5) * 1.75 at the mark
        assert 'data-testid="pnl-realised">42.25<' in page
        assert "SOL/USDT" in page and "101.25" in page and "submitted" in page  # the open order
        assert "XRP/USDT" not in page  # a filled order is not open
        assert "order notional 99999 above 50000" in page
        assert 'data-testid="breaker">closed<' in page
    assert 'hx-trigger="every 5s"' in client.get("/").content.decode()


def test_dashboard_shows_an_open_circuit_breaker():
    from dsta.trading.services import circuit_breaker_set

    circuit_breaker_set(is_open=True, reason="exchange outage", actor_id=None)
    page = signed_in("viewer").get("/dashboard/panels").content.decode()
    assert 'data-testid="breaker">OPEN<' in page and "exchange outage" in page


def test_chart_page_embeds_candles_and_the_sma_from_the_data_facade(tmp_path):
    import json

    web_seed.seed_candles(tmp_path)
    client = signed_in("viewer")
    response = client.get("/chart/", {"series": "binance|BTC/USDT|1h"})
    assert response.status_code == 200
    payload = json.loads(
        re.search(r'id="chart-data" type="application/json">(.*?)</script>', response.content.decode()).group(1)
    )
    assert payload["symbol"] == "BTC/USDT" and payload["stream"] == "BTC-USDT"
    assert len(payload["candles"]) == 300
    assert len(payload["sma"]) == 300 - 20 + 1
    closes = [bar["close"] for bar in payload["candles"]]
    assert payload["sma"][-1]["value"] == pytest.approx(sum(closes[-20:]) / 20)
    assert payload["candles"][-1]["time"] > payload["candles"][0]["time"]
    assert client.get("/chart/", {"series": "binance|NOPE/USDT|1h"}).status_code == 404


def test_a_viewer_cannot_start_a_backtest(tmp_path):
    web_seed.seed_candles(tmp_path)
    from dsta.data.models import BacktestJob

    response = signed_in("viewer").post(
        "/backtests/",
        {"strategy": "sma_cross", "series": "binance|BTC/USDT|1h", "initial_cash": "10000", "commission": "0.001"},
    )
    assert response.status_code == 403
    assert not BacktestJob.objects.using("data").exists()


def test_backtest_form_reports_bad_parameters_as_field_errors(tmp_path):
    web_seed.seed_candles(tmp_path)
    client = signed_in("analyst")
    form = {"strategy": "sma_cross", "series": "binance|BTC/USDT|1h", "initial_cash": "10000", "commission": "0.001"}
    bad_syntax = client.post("/backtests/", {**form, "params": "fast=ten"})
    assert bad_syntax.status_code == 400 and b"&#x27;fast=ten&#x27; is not name=number" in bad_syntax.content
    out_of_range = client.post("/backtests/", {**form, "params": "fast=30, slow=20"})
    assert out_of_range.status_code == 400 and b"params." in out_of_range.content
    unknown_market = client.post("/backtests/", {**form, "series": "binance|DOGE/USDT|1h"})
    assert unknown_market.status_code == 400 and b"Select a valid choice" in unknown_market.content


def test_backtest_form_queues_a_job_then_the_detail_page_polls_until_it_shows_the_report(tmp_path):
    import json

    from dsta.data import api as data_api

    web_seed.seed_candles(tmp_path)
    client = signed_in("analyst")
    response = client.post(
        "/backtests/",
        {
            "strategy": "sma_cross",
            "series": "binance|BTC/USDT|1h",
            "params": "fast=10, slow=20",
            "initial_cash": "10000",
            "commission": "0.001",
        },
    )
    assert response.status_code == 302
    job_id = response["Location"].strip("/").split("/")[-1]
    queued = client.get(response["Location"]).content.decode()
    assert 'data-testid="backtest-state">queued<' in queued and 'hx-trigger="every 1s"' in queued
    assert client.get(f"/backtests/{job_id}/report").status_code == 404  # not ready yet

    # What the worker does with the queued job (the e2e test runs the real worker).
    from dsta.data.backtesting.jobs import job_execute

    job_execute(job_id)
    done = client.get(f"/backtests/{job_id}/status").content.decode()
    assert 'data-testid="backtest-state">succeeded<' in done and "hx-trigger" not in done
    trades = data_api.backtest_trades(job_id=job_id)
    assert trades and f"Trades ({min(len(trades), 200)}" in done
    assert f"{trades[0].entry_time:%Y-%m-%d %H:%M}" in done
    assert "total_return_pct" in done
    chart = json.loads(re.search(r'id="equity-data" type="application/json">(.*?)</script>', done).group(1))
    assert len(chart["equity"]) == 600  # one point per bar of the 600 seeded
    assert len(chart["markers"]) == 2 * len(trades)
    assert min(point["value"] for point in chart["drawdown"]) < 0 == max(point["value"] for point in chart["drawdown"])
    times = [point["time"] for point in chart["equity"]]
    assert all(marker["time"] in times for marker in chart["markers"])
    report = client.get(f"/backtests/{job_id}/report")
    assert report.status_code == 200 and report["X-Frame-Options"] == "SAMEORIGIN"
    assert b"drawdown" in report.content and b"data:image/png;base64," in report.content
    assert signed_in("viewer").get(f"/backtests/{job_id}/").status_code == 403


def test_ml_models_and_notifications_pages_list_rows():
    web_seed.seed_ml_model()
    web_seed.seed_notification()
    models = signed_in("viewer").get("/models/").content.decode()
    assert "btc-direction" in models and "production" in models and "accuracy=0.5625" in models
    notes = signed_in("analyst").get("/notifications/").content.decode()
    assert "Breaker tripped on BTC/USDT" in notes and "ops@example.test" in notes


def test_static_assets_are_served_locally():
    page = signed_in("viewer").get("/chart/").content.decode()
    assert "/static/web/vendor/htmx-2.0.11.min.js" in page
    assert "cdn." not in page and "unpkg" not in page


def test_admin_api_and_health_still_answer(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/admin/login/").status_code == 200
    assert client.get("/api/v1/market-data/series").status_code == 401
