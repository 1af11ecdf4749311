"""End to end in headless Chromium (Debian's /usr/bin/chromium driven by Playwright): the real ASGI server
(uvicorn), a dramatiq worker and the outbox relay on 127.0.0.1 against the test database. Log in, see the
seeded position on the dashboard and its htmx refresh, watch a published candle arrive live on the chart,
run a backtest from the form to its report, and open the ML models and notifications pages. Screenshots go
to test-artifacts/e2e/ (gitignored); the assertions are on page content."""

from __future__ import annotations

import os
import re
import socket
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from dsta.domains import DOMAINS
from tests import web_seed

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "e2e"
ALL = [domain.alias for domain in DOMAINS]

if not CHROMIUM.exists():
    message = f"{CHROMIUM} is missing (Debian package `chromium`; ./dev test installs it when run as root)"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(databases=ALL, transaction=True)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def server(children, tmp_path, clean_broker):
    """uvicorn + worker + relay on the test database; yields the base URL."""
    from dsta.kernel.tests import processes

    port = free_port()
    uvicorn = processes.Child(
        "uvicorn",
        [sys.executable, "-m", "uvicorn", "dsta.asgi:application", "--host", "127.0.0.1", "--port", str(port)],
        processes.child_env(),
        tmp_path,
    )
    children(uvicorn)
    children(processes.worker(tmp_path, threads=2))
    children(processes.relay(tmp_path))
    base = f"http://127.0.0.1:{port}"
    print(f"[e2e] {time.monotonic():.1f} started")
    assert processes.wait_until(lambda: answers(f"{base}/healthz"), timeout=120), uvicorn.log_tail()
    print(f"[e2e] {time.monotonic():.1f} web up")
    return base


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(20_000)
        yield page
        shot(page, "99-last-page")  # where the flow ended, which is what to look at when it failed
        browser.close()


def publish_elsewhere(write) -> None:  # type: ignore[no-untyped-def]
    """Run a write in another thread: its on-commit broadcast uses async_to_sync, which refuses to run in a
    thread where an event loop (Playwright's) is running."""
    from django.db import connections

    def run() -> None:
        try:
            write()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(run).result(timeout=30)


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"[e2e] {time.monotonic():.1f} {name}")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_browser_flow_from_login_to_live_chart_backtest_report_models_and_notifications(
    server, browser_page, tmp_path, monkeypatch
):
    from playwright.sync_api import expect

    from dsta.core.tests.factories import PASSWORD, clear_login_counters, user_with_role
    from dsta.data import api as data_api
    from dsta.data.contracts import CandleBar

    # Playwright's sync API keeps an event loop in this thread; the ORM calls below are plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    clear_login_counters()
    user = user_with_role("analyst", username="e2e-analyst")
    web_seed.seed_trading()
    web_seed.seed_candles(tmp_path, rows=600)
    web_seed.seed_ml_model()
    web_seed.seed_notification()
    page = browser_page
    # Every page runs under the Content-Security-Policy (no inline script): Chromium reports what it blocks.
    blocked: list[str] = []
    page.on(
        "console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None
    )
    print(f"[e2e] {time.monotonic():.1f} seeded")

    # Sign in: an anonymous visit lands on the login form, which returns to the dashboard.
    page.goto(f"{server}/")
    expect(page).to_have_url(f"{server}/login/?next=%2F")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("Username or password is wrong.")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server}/")
    positions = page.locator("#positions")
    expect(positions).to_contain_text("ETH/USDT")
    expect(positions).to_contain_text("1.75")
    expect(page.get_by_test_id("pnl-unrealised")).to_have_text("175.00")
    expect(page.locator("#open-orders")).to_contain_text("SOL/USDT")
    expect(page.get_by_test_id("breaker")).to_have_text("closed")
    shot(page, "01-dashboard")

    # The panels refresh themselves (htmx polling): trip the breaker, the page shows it without a reload.
    from dsta.trading.services import circuit_breaker_set

    circuit_breaker_set(is_open=True, reason="e2e drill", actor_id=None)
    expect(page.get_by_test_id("breaker")).to_have_text("OPEN", timeout=15_000)
    expect(page.locator("#risk")).to_contain_text("e2e drill")

    # The chart: candles + SMA drawn, then a candle published now arrives over the WebSocket.
    page.click("nav >> text=Chart")
    expect(page.locator("#chart-title")).to_have_text("binance BTC/USDT 1h")
    expect(page.locator("#chart canvas").first).to_be_visible()
    expect(page.get_by_test_id("stream-state")).to_have_text("live")
    last = data_api.candles_get(exchange="binance", symbol="BTC/USDT", timeframe="1h")[-1]
    close = last.close * Decimal("1.005")
    bar = CandleBar(
        "binance",
        "BTC/USDT",
        "1h",
        last.open_time + timedelta(hours=1),
        last.close,
        close,
        last.close,
        close,
        last.volume,
    )
    publish_elsewhere(lambda: data_api.candle_close(bar=bar))
    expect(page.get_by_test_id("live-count")).to_have_text("1")
    expect(page.get_by_test_id("last-close")).to_have_text(str(bar.close))
    expect(page.get_by_test_id("last-time")).to_have_text(f"{bar.open_time:%Y-%m-%d %H:%M}")
    shot(page, "02-chart-live-candle")

    # A backtest from the form: progress is polled until the report shows.
    page.click("nav >> text=Backtests")
    page.select_option("select[name=strategy]", "sma_cross")
    page.select_option("select[name=series]", "binance|BTC/USDT|1h")
    page.fill("input[name=params]", "fast=10, slow=20")
    page.click("#backtest-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/backtests/[0-9a-f-]{36}/$"))
    expect(page.get_by_test_id("backtest-state")).to_have_text("succeeded", timeout=60_000)
    expect(page.locator("#metrics")).to_contain_text("total_return_pct")
    job_id = page.url.rstrip("/").split("/")[-1]
    trades = data_api.backtest_trades(job_id=job_id)
    assert trades and page.locator("#trades tbody tr").count() == min(len(trades), 200)
    expect(page.get_by_test_id("equity-status")).to_contain_text(
        f"601 equity points · {len(trades)} trades marked"  # the 600 seeded bars and the one published live
    )
    expect(page.locator("#equity-chart canvas").first).to_be_visible()
    expect(page.locator("#drawdown-chart canvas").first).to_be_visible()
    report = page.frame_locator("#report")
    expect(report.locator("h1")).to_contain_text("sma_cross")
    expect(report.locator("svg").first).to_be_visible()  # the chart is inline SVG
    shot(page, "03-backtest-report")

    page.click("nav >> text=ML models")
    expect(page.locator("#models")).to_contain_text("btc-direction")
    expect(page.locator("#models")).to_contain_text("production")
    shot(page, "04-ml-models")

    page.click("nav >> text=Notifications")
    expect(page.locator("#notifications")).to_contain_text("Breaker tripped on BTC/USDT")
    shot(page, "05-notifications")

    # Swagger UI starts from its own script file (the split view), so the policy lets it render the schema.
    page.goto(f"{server}/api/schema/swagger-ui/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("DSTA API")
    shot(page, "06-swagger-ui")
    page.goto(f"{server}/notifications/")
    assert blocked == []

    page.click("text=Log out")
    expect(page).to_have_url(f"{server}/login/")
    page.goto(f"{server}/models/")
    expect(page).to_have_url(f"{server}/login/?next=%2Fmodels%2F")
