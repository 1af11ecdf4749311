"""Performance metrics, rolling correlation and the analytics endpoints, against independent computations."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from dsta.data import analytics
from dsta.data.tests.helpers import data_file, import_series, read_with_pandas

EQUITY = np.array([100.0, 110.0, 99.0, 108.9, 130.68])  # returns +10%, -10%, +10%, +20%


def test_metrics_of_a_hand_checkable_curve():
    result = analytics.metrics(EQUITY, periods_per_year=4, risk_free=0.0)
    returns = [0.1, -0.1, 0.1, 0.2]
    assert result.periods == 4
    assert result.total_return == pytest.approx(0.3068)
    assert result.annualised_return == pytest.approx(0.3068)  # four periods = one year here
    assert result.volatility == pytest.approx(statistics.stdev(returns) * 2)
    assert result.sharpe == pytest.approx(statistics.mean(returns) / statistics.stdev(returns) * 2)
    downside = math.sqrt(0.1**2 / 4)  # only the -10% bar is below zero
    assert result.sortino == pytest.approx(statistics.mean(returns) / downside * 2)
    assert result.max_drawdown == pytest.approx(0.1)  # 110 -> 99
    assert result.max_drawdown_periods == 2  # 99 and 108.9 are under the 110 peak
    assert result.calmar == pytest.approx(0.3068 / 0.1)
    assert result.win_rate == pytest.approx(0.75)
    assert result.profit_factor == pytest.approx(0.4 / 0.1)
    assert result.expectancy == pytest.approx(0.075)
    assert result.exposure == 1.0


def test_risk_free_rate_and_positions_enter_the_formulas():
    with_rate = analytics.metrics(EQUITY, periods_per_year=4, risk_free=0.21550625)  # (1.05)^4 - 1
    returns = np.array([0.1, -0.1, 0.1, 0.2])
    assert with_rate.sharpe == pytest.approx((returns - 0.05).mean() / returns.std(ddof=1) * 2)
    flat = analytics.metrics(
        np.array([100.0, 100.0, 110.0, 110.0, 99.0]), periods_per_year=4, positions=np.array([0, 0, 1, 0, 1])
    )
    assert flat.exposure == 0.5 and flat.win_rate == 0.5 and flat.max_drawdown == pytest.approx(0.1)


def test_periods_per_year_follow_the_timeframe():
    assert analytics.periods_per_year("1h") == 8760
    assert analytics.periods_per_year("5m") == 105_120
    assert analytics.periods_per_year("1d") == 365


def test_rolling_correlation_equals_pandas_rolling_corr():
    rng = np.random.default_rng(7)
    base = rng.normal(size=(500, 1))
    returns = np.hstack([base + rng.normal(scale=s, size=(500, 1)) for s in (0.5, 1.0, 3.0)])
    ours = analytics.rolling_correlation(returns, window=50)
    frame = pd.DataFrame(returns)
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        expected = frame[i].rolling(50).corr(frame[j]).to_numpy()
        np.testing.assert_allclose(ours[49:, i, j], expected[49:], atol=1e-9)
        assert np.isnan(ours[:49, i, j]).all()
    assert np.allclose(ours[49:, 1, 1], 1.0)


def test_rolling_sharpe_equals_a_direct_window_computation():
    rng = np.random.default_rng(3)
    returns = rng.normal(0.001, 0.01, size=300)
    ours = analytics.rolling_sharpe(returns, window=30, periods_per_year=365)
    window = returns[-30:]
    assert ours[-1] == pytest.approx(window.mean() / window.std(ddof=1) * math.sqrt(365))


@pytest.fixture
def analyst(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("analyst", password="x" * 12))
    return client


@pytest.mark.django_db(databases=["data", "default"])
def test_performance_equity_and_sharpe_endpoints_on_real_candles(analyst):
    path = import_series("BTC/USDT")
    closes = read_with_pandas(path)["close"]
    body = analyst.get("/api/v1/analytics/performance?symbol=BTC/USDT&timeframe=1h&risk_free=0.04").json()
    returns = closes.pct_change().dropna()
    assert body["periods"] == len(returns) == 12555
    assert body["total_return"] == pytest.approx(closes.iloc[-1] / closes.iloc[0] - 1)
    per_period_rf = 1.04 ** (1 / 8760) - 1
    assert body["sharpe"] == pytest.approx((returns - per_period_rf).mean() / returns.std() * math.sqrt(8760))
    drawdown = closes / closes.cummax() - 1
    assert body["max_drawdown"] == pytest.approx(-drawdown.min())
    assert body["start"] == "2024-09-14T00:00:00Z" and body["risk_free"] == 0.04

    curve = analyst.get("/api/v1/analytics/equity-curve?symbol=BTC/USDT&timeframe=1h&max_points=100").json()
    assert 90 <= len(curve) <= 101
    assert curve[0]["equity"] == "10000.00" and curve[0]["drawdown"] == 0.0
    assert float(curve[-1]["equity"]) == pytest.approx(10000 * closes.iloc[-1] / closes.iloc[0], abs=0.01)

    sharpe = analyst.get("/api/v1/analytics/sharpe?symbol=BTC/USDT&timeframe=1h&window=720").json()
    last = returns.iloc[-720:]
    assert sharpe["sharpe"] == pytest.approx(returns.mean() / returns.std() * math.sqrt(8760))
    assert sharpe["rolling_sharpe"] == pytest.approx(last.mean() / last.std() * math.sqrt(8760))


@pytest.mark.django_db(databases=["data", "default"])
def test_correlation_endpoint_matches_pandas(analyst):
    closes = {}
    for symbol in ("BTC/USDT", "ETH/USDT", "SOL/USDT"):
        closes[symbol] = read_with_pandas(import_series(symbol))["close"]
    table = pd.concat(closes, axis=1, join="inner")
    log_returns = np.log(table).diff().dropna()
    body = analyst.get(
        "/api/v1/analytics/correlation?symbols=BTC/USDT,ETH/USDT,SOL/USDT&timeframe=1h&window=168"
    ).json()
    assert body["symbols"] == ["BTC/USDT", "ETH/USDT", "SOL/USDT"] and body["bars"] == len(table) == 12554
    np.testing.assert_allclose(body["full_period"], log_returns.corr().to_numpy(), atol=1e-6)
    np.testing.assert_allclose(body["rolling"], log_returns.iloc[-168:].corr().to_numpy(), atol=1e-6)
    assert body["as_of"] == "2026-02-19T01:00:00Z"  # the last bar all three have


@pytest.mark.django_db(databases=["data", "default"])
def test_analytics_refuse_bad_input_with_400(analyst):
    assert analyst.get("/api/v1/analytics/correlation?symbols=BTC/USDT&timeframe=1h").status_code == 400
    assert analyst.get("/api/v1/analytics/performance?symbol=BTC/USDT&timeframe=2w").status_code == 400
    response = analyst.get("/api/v1/analytics/performance?symbol=NONE/USDT&timeframe=1h")
    assert response.status_code == 400 and "0 real bars" in response.json()["detail"]
    response = analyst.get(
        "/api/v1/analytics/performance?symbol=BTC/USDT&timeframe=1h&start=2025-02-01T00:00Z&end=2025-01-01T00:00Z"
    )
    assert response.status_code == 400 and "end" in response.json()


@pytest.mark.django_db(databases=["data", "default"])
def test_analytics_need_authentication(client):
    assert (
        client.get("/api/v1/analytics/sharpe?symbol=BTC/USDT&timeframe=1h").status_code == 401
    )  # anonymous: no credentials


@pytest.mark.django_db(databases=["data"], transaction=True)
def test_correlation_reads_in_parallel_outside_a_transaction_and_agrees_with_one_connection():
    from django.db import connections

    from dsta.data import selectors

    symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    for symbol in symbols:
        import_series(symbol)
    assert not connections["data"].in_atomic_block  # so the two-connection read is the one under test
    parallel = selectors._real_closes_of("binance", symbols, "1h", None, None)
    single = selectors._read_real_closes("binance", symbols, "1h", None, None)
    assert list(parallel) == symbols
    for symbol in symbols:
        expected = read_with_pandas(data_file(symbol, "1h"))["close"].to_numpy()
        np.testing.assert_array_equal(parallel[symbol][1], single[symbol][1])
        np.testing.assert_allclose(parallel[symbol][1], expected)
