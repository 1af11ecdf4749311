"""Backtest endpoints, the CLI, and jobs fanned out over real dramatiq worker processes."""

from __future__ import annotations

import io
import re
import time

import pytest
from django.core.management import CommandError, call_command

from dsta.data.management.commands.load_demo_data import DEMO_DIR
from dsta.data.models import BacktestJob
from dsta.data.services import candles_import_file
from dsta.domains import DOMAINS
from dsta.kernel.tests import processes

ALL = [domain.alias for domain in DOMAINS]
RUN = {
    "strategy": "sma_cross",
    "params": {"fast": 10, "slow": 20},
    "symbol": "BTC/USDT",
    "timeframe": "1h",
    "commission": "0.001",
}


@pytest.fixture
def btc_candles():
    candles_import_file(path=DEMO_DIR / "BTC_USDT-1h.csv.gz", exchange="binance", symbol="BTC/USDT", timeframe="1h")


@pytest.fixture
def api(client, django_user_model):
    # Permissions per role are the RBAC matrix's business (tests/test_rbac_matrix.py); here: what the endpoints do.
    client.force_login(django_user_model.objects.create_superuser("quant", password="x" * 12))
    return client


def wait_for_job(job_id: str, timeout: float = 90) -> BacktestJob:
    finished = (BacktestJob.Status.SUCCEEDED, BacktestJob.Status.FAILED)
    assert processes.wait_until(
        lambda: BacktestJob.objects.using("data").get(pk=job_id).status in finished, timeout=timeout, interval=0.2
    )
    return BacktestJob.objects.using("data").get(pk=job_id)


@pytest.mark.django_db(databases=ALL)
def test_run_inline_then_read_results_report_and_monte_carlo(api, btc_candles):
    response = api.post("/api/v1/backtest/run", {**RUN, "wait": True}, content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "succeeded" and body["engine_used"] == "vectorised"
    assert body["metrics"]["trades"] == 373  # the same count backtesting.py finds on this data
    job_id = body["job_id"]

    results = api.get(f"/api/v1/backtest/{job_id}/results?trades=5&equity_points=100").json()
    assert results["trades_total"] == 373 and len(results["trades"]) == 5
    assert results["analysis"]["lookahead"]["has_bias"] is False
    assert 100 <= len(results["equity_curve"]) <= 110
    assert results["equity_curve"][0][1] == 10_000

    report = api.get(f"/api/v1/backtest/{job_id}/report")
    assert report.status_code == 200 and b"data:image/png;base64" in b"".join(report.streaming_content)

    for method in ("trade_shuffle", "return_bootstrap"):
        monte_carlo = api.post(
            "/api/v1/backtest/monte-carlo",
            {"job_id": job_id, "method": method, "simulations": 200},
            content_type="application/json",
        )
        assert monte_carlo.status_code == 200
        bands = monte_carlo.json()
        assert bands["simulations"] == 200
        assert bands["max_drawdown_pct"]["5"] <= bands["max_drawdown_pct"]["95"] <= 0


@pytest.mark.django_db(databases=ALL)
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"params": {"fast": 30, "slow": 20}}, "params.fast"),
        ({"strategy": "moonshot"}, "strategy"),
        ({"timeframe": "7x"}, "timeframe"),
        ({"commission": "-0.1"}, "commission"),
        ({"engine": "warp"}, "engine"),
        ({"start": "2025-02-01T00:00:00Z", "end": "2025-01-01T00:00:00Z"}, "end"),
        ({"params": {"fast": "quick"}}, "params"),
    ],
)
def test_bad_backtest_input_is_a_400_naming_the_field(api, change, field):
    response = api.post("/api/v1/backtest/run", {**RUN, **change, "wait": True}, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.django_db(databases=ALL)
def test_unknown_job_is_404_and_anonymous_is_refused(api, client):
    assert api.get("/api/v1/backtest/00000000-0000-0000-0000-000000000000/results").status_code == 404
    client.logout()
    assert client.post("/api/v1/backtest/run", RUN, content_type="application/json").status_code == 401


@pytest.mark.django_db(databases=ALL)
def test_backtest_command_prints_metrics_and_the_report_path(btc_candles):
    out = io.StringIO()
    call_command(
        "backtest",
        strategy="sma_cross",
        symbol="BTC/USDT",
        timeframe="1h",
        param=["fast=10", "slow=20"],
        fee="0.001",
        no_progress=True,
        stdout=out,
    )
    text = out.getvalue()
    assert "trades" in text and "373" in text and "sharpe" in text and "report: " in text
    split = re.search(r"seconds: start-up ([\d.]+), load ([\d.]+), run ([\d.]+), report ([\d.]+); total ([\d.]+)", text)
    assert split and float(split[5]) >= sum(float(split[number]) for number in range(1, 5)) - 0.02
    with pytest.raises(CommandError, match="params.fast: must be smaller than slow"):
        call_command(
            "backtest",
            strategy="sma_cross",
            symbol="BTC/USDT",
            timeframe="1h",
            param=["fast=30", "slow=20"],
            no_progress=True,
            stdout=io.StringIO(),
        )
    with pytest.raises(CommandError, match="expected NAME=VALUE"):
        call_command(
            "backtest",
            strategy="sma_cross",
            symbol="BTC/USDT",
            timeframe="1h",
            param=["fast"],
            no_progress=True,
            stdout=io.StringIO(),
        )


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_async_run_and_grid_optimisation_fan_out_over_two_workers(api, btc_candles, clean_broker, children, tmp_path):
    for number in range(2):
        children(processes.worker(tmp_path, threads=1, name=f"worker-{number}"))
    queued = api.post("/api/v1/backtest/run", RUN, content_type="application/json")
    assert queued.status_code == 202
    assert wait_for_job(queued.json()["job_id"]).status == "succeeded"

    space = {"fast": [5, 10, 20, 40], "slow": [20, 50, 100]}  # (20, 20) and (40, 20) are invalid corners
    started = api.post(
        "/api/v1/backtest/optimize", {**RUN, "method": "grid", "space": space}, content_type="application/json"
    )
    assert started.status_code == 202, started.content
    parent = wait_for_job(started.json()["job_id"])
    assert parent.status == "succeeded", parent.error
    trials = BacktestJob.objects.using("data").filter(parent=parent)
    assert trials.count() == 10 and set(trials.values_list("status", flat=True)) == {"succeeded"}
    analysis = api.get(f"/api/v1/backtest/{parent.pk}/results").json()["analysis"]
    scores = [row["objective"] for row in analysis["trials"]]
    assert scores == sorted(scores, reverse=True) and analysis["best_params"] == analysis["trials"][0]["params"]
    assert 0 <= analysis["data_snooping"]["deflated_sharpe"] <= 1


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_optuna_optimisation_runs_its_trials_on_the_pool(api, btc_candles, clean_broker, children, tmp_path):
    children(processes.worker(tmp_path, threads=3))
    started = api.post(
        "/api/v1/backtest/optimize",
        {
            **RUN,
            "method": "optuna",
            "space": {"fast": [5, 30], "slow": [40, 120]},
            "trials": 6,
            "batch": 2,
            "objective": "total_return_pct",
        },
        content_type="application/json",
    )
    assert started.status_code == 202, started.content
    parent = wait_for_job(started.json()["job_id"], timeout=120)
    assert parent.status == "succeeded", parent.error
    assert BacktestJob.objects.using("data").filter(parent=parent, status="succeeded").count() == 6


@pytest.mark.django_db(databases=ALL)
def test_optimisation_input_is_validated(api):
    response = api.post(
        "/api/v1/backtest/optimize",
        {**RUN, "method": "optuna", "space": {"fast": [30, 5]}},
        content_type="application/json",
    )
    assert response.status_code == 400 and "space.fast" in response.json()
    started = time.monotonic()
    response = api.post(
        "/api/v1/backtest/optimize",
        {**RUN, "method": "grid", "space": {"fast": list(range(2, 100)), "slow": list(range(100, 200))}},
        content_type="application/json",
    )
    assert response.status_code == 400 and "space" in response.json()
    assert time.monotonic() - started < 5


@pytest.mark.django_db(databases=ALL)
def test_cached_bars_are_reread_after_new_candles_arrive(btc_candles):
    from datetime import UTC, datetime
    from decimal import Decimal

    from dsta.data import api as data
    from dsta.data.bars import load_bars
    from dsta.data.contracts import CandleBar

    before = load_bars(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    assert load_bars(exchange="binance", symbol="BTC/USDT", timeframe="1h") is before  # cached
    data.candle_close(
        bar=CandleBar(
            "binance", "BTC/USDT", "1h", datetime(2030, 1, 1, tzinfo=UTC), *map(Decimal, ["1", "2", "0.5", "1.5", "3"])
        )
    )
    after = load_bars(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    assert len(after) == len(before) + 1 and after.close[-1] == 1.5


@pytest.mark.django_db(databases=ALL)
def test_walk_forward_endpoint_stitches_out_of_sample_windows(api, btc_candles):
    body = {**RUN, "space": {"fast": [10, 20], "slow": [50, 100]}, "in_sample_bars": 3000, "out_of_sample_bars": 1500}
    response = api.post("/api/v1/backtest/walk-forward", body, content_type="application/json")
    assert response.status_code == 200, response.content
    result = response.json()
    assert len(result["windows"]) == (12556 - 3000) // 1500
    assert all(w["out_of_sample"][0] == w["in_sample"][1] for w in result["windows"])
    assert result["stitched_equity"][0][1] == 10_000
    too_big = {**body, "space": {"fast": list(range(2, 60)), "slow": [100]}}
    assert "space" in api.post("/api/v1/backtest/walk-forward", too_big, content_type="application/json").json()
    bad = {**body, "space": {"fast": [40], "slow": [20]}}
    assert api.post("/api/v1/backtest/walk-forward", bad, content_type="application/json").status_code == 400
    tiny = {**body, "in_sample_bars": 12_000, "out_of_sample_bars": 1_000}
    assert api.post("/api/v1/backtest/walk-forward", tiny, content_type="application/json").status_code == 400


# --- shared-cash portfolios -------------------------------------------------------------------------------


@pytest.fixture
def btc_and_eth_candles(btc_candles):
    candles_import_file(path=DEMO_DIR / "ETH_USDT-1h.csv.gz", exchange="binance", symbol="ETH/USDT", timeframe="1h")


@pytest.mark.django_db(databases=ALL)
def test_a_portfolio_backtest_runs_from_the_api_with_shared_cash_and_stores_trades_per_symbol(api, btc_and_eth_candles):
    from dsta.data.backtesting.engine import BacktestConfig
    from dsta.data.backtesting.portfolio import run_shared_cash
    from dsta.data.bars import load_bars
    from dsta.data.strategies.builtin import SmaCross

    symbols = ["BTC/USDT", "ETH/USDT"]
    body = {**RUN, "symbols": symbols, "wait": True}
    del body["symbol"]
    response = api.post("/api/v1/backtest/run", body, content_type="application/json")
    assert response.status_code == 200, response.content
    summary = response.json()
    assert summary["status"] == "succeeded" and summary["engine_used"] == "portfolio"
    assert summary["request"]["symbols"] == symbols

    bars = {symbol: load_bars(exchange="binance", symbol=symbol, timeframe="1h") for symbol in symbols}
    expected = run_shared_cash(
        strategies={symbol: SmaCross(fast=10, slow=20) for symbol in symbols},
        bars_by_symbol=bars,
        config=BacktestConfig(initial_cash=10_000, commission=0.001),
    )
    results = api.get(f"/api/v1/backtest/{summary['job_id']}/results?trades=100000&equity_points=100000").json()
    assert results["trades_total"] == len(expected.trades) == summary["metrics"]["trades"]
    assert [trade["symbol"] for trade in results["trades"]] == expected.trade_symbols
    assert {trade["symbol"] for trade in results["trades"]} == set(symbols)
    assert float(results["trades"][0]["pnl"]) == pytest.approx(expected.trades[0].pnl, abs=1e-6)
    curve = results["equity_curve"]
    assert len(curve) == len(expected.equity) and curve[0][1] == 10_000
    assert curve[-1][1] == pytest.approx(expected.equity[-1])
    report = api.get(f"/api/v1/backtest/{summary['job_id']}/report")
    html = b"".join(report.streaming_content).decode()
    assert report.status_code == 200 and "<th>symbol</th>" in html and "<td>ETH/USDT</td>" in html
    assert "BTC/USDT, ETH/USDT" in html


@pytest.mark.django_db(databases=ALL)
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"symbols": ["BTC/USDT", "BTC/USDT"]}, "symbols"),
        ({"symbols": ["BTC/USDT", "ETH/USDT"], "engine": "fast"}, "engine"),
        ({"symbols": ["BTC/USDT", "NONE/USDT"]}, "symbols"),
        ({"symbols": []}, "symbols"),
        ({"symbols": ["ETH/USDT", "BTC/USDT"], "symbol": "BTC/USDT"}, "symbol"),
    ],
)
def test_bad_portfolio_input_is_a_400_naming_the_field(api, btc_candles, change, field):
    response = api.post("/api/v1/backtest/run", {**RUN, **change, "wait": True}, content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in response.json()


@pytest.mark.django_db(databases=ALL)
def test_backtest_command_runs_a_portfolio_with_repeated_symbols(btc_and_eth_candles):
    out = io.StringIO()
    call_command(
        "backtest",
        "--strategy=sma_cross",
        "--symbol=BTC/USDT",
        "--symbol=ETH/USDT",
        "--timeframe=1h",
        "--param=fast=10",
        "--param=slow=20",
        "--no-progress",
        stdout=out,
    )
    text = out.getvalue()
    assert "(portfolio engine) over BTC/USDT, ETH/USDT (shared cash)" in text and "report: " in text
    job = BacktestJob.objects.using("data").get()
    assert job.symbols == ["BTC/USDT", "ETH/USDT"]
    assert set(job.trades.values_list("symbol", flat=True)) == {"BTC/USDT", "ETH/USDT"}
    with pytest.raises(CommandError, match="each symbol once"):
        call_command("backtest", "--strategy=sma_cross", "--symbol=BTC/USDT", "--symbol=BTC/USDT", "--timeframe=1h")
