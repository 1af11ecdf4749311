"""Validation rules with a report (nothing dropped) and gap detection on the grid, on real and crafted data."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from dsta.data import api as data
from dsta.data.tests.helpers import SYMBOLS, import_series, read_with_pandas

pytestmark = pytest.mark.django_db(databases=["data", "default"])
HEADER = "timestamp,open,high,low,close,volume\n"
T0 = 1_735_689_600_000  # 2025-01-01 00:00 UTC in ms
HOUR = 3_600_000


def rules_of(report) -> dict[str, int]:
    return {rule.rule: rule.violations for rule in report.rules}


def test_each_rule_counts_its_violations_and_shows_examples(tmp_path):
    rows = [
        (T0, 100, 101, 99, 100, 5),
        (T0 + HOUR, 100, 99.5, 98, 100, 5),  # high below open/close
        (T0 + 2 * HOUR, 100, 102, 100.5, 101, 5),  # low above open
        (T0 + 3 * HOUR, 101, 102, 100, 101, -1),  # negative volume
        (T0 + 5 * HOUR, 101, 102, 100, 101, 3),  # fine (a gap before it is not a rule violation)
        (T0 + 4 * HOUR, 101, 102, 100, 101, 3),  # time goes backwards
        (T0 + 6 * HOUR + 60_000, 101, 102, 100, 101, 3),  # off the hourly grid
        (T0 + 7 * HOUR, 101, 500, 100, 400, 3),  # a 4x jump: an outlier
        (T0 + 8 * HOUR, 400, 401, 399, 400, 3),
    ]
    for i in range(60):  # a calm stretch whose returns set the scale the outlier is measured against
        close = round(400 * (1 + 0.004 * np.sin(i * 1.7)), 4)
        rows.append((T0 + (9 + i) * HOUR, close, close + 1, close - 1, close, 3))
    path = tmp_path / "crafted.csv"
    path.write_text(HEADER + "".join(",".join(map(str, row)) + "\n" for row in rows))
    out = StringIO()
    call_command("quality_report", str(path), timeframe="1h", stdout=out)
    text = out.getvalue()
    from dsta.data import selectors

    report = selectors.quality_report_file(path=path, timeframe="1h")
    assert report.rows == len(rows) and not report.clean
    assert rules_of(report) == {
        "high_ge_open_close": 1,
        "low_le_open_close": 1,
        "volume_non_negative": 1,
        "prices_positive": 0,
        "time_increasing": 1,
        "time_on_grid": 1,
        "return_outlier_z10": 1,
    }
    by_rule = {rule.rule: rule for rule in report.rules}
    assert by_rule["high_ge_open_close"].examples[0].open_time == datetime(2025, 1, 1, 1, tzinfo=UTC)
    assert by_rule["time_increasing"].examples[0].open_time == datetime(2025, 1, 1, 4, tzinfo=UTC)
    assert by_rule["return_outlier_z10"].examples[0].open_time == datetime(2025, 1, 1, 7, tzinfo=UTC)
    assert "high_ge_open_close" in text and "2025-01-01 01:00" in text


def test_import_keeps_suspicious_rows_and_reports_them(tmp_path):
    path = tmp_path / "one-bad.csv"
    path.write_text(HEADER + f"{T0},100,99,98,100,5\n{T0 + HOUR},100,101,99,100,5\n")
    out = StringIO()
    call_command(
        "import_ohlcv", str(path), exchange="binance", symbol="BTC/USDT", timeframe="1h", no_progress=True, stdout=out
    )
    assert "inserted 2" in out.getvalue() and "'high_ge_open_close': 1" in out.getvalue()
    assert len(data.candles_get(exchange="binance", symbol="BTC/USDT", timeframe="1h")) == 2


def test_quality_of_the_real_btc_hours_matches_an_independent_computation():
    path = import_series("BTC/USDT")
    table = read_with_pandas(path)
    report = data.quality_report(exchange="binance", symbol="BTC/USDT", timeframe="1h", outlier_z=6)
    returns = np.log(table["close"]).diff().dropna()
    mad = (returns - returns.median()).abs().median()
    expected_outliers = int((0.6745 * (returns - returns.median()).abs() / mad > 6).sum())
    counts = rules_of(report)
    assert counts["return_outlier_z6"] == expected_outliers > 0
    assert counts["high_ge_open_close"] == int((table["high"] < table[["open", "close"]].max(axis=1)).sum())
    assert counts["low_le_open_close"] == int((table["low"] > table[["open", "close"]].min(axis=1)).sum())
    assert counts["time_increasing"] == counts["time_on_grid"] == counts["volume_non_negative"] == 0


def pandas_gaps(path, step: pd.Timedelta, end: pd.Timestamp | None = None) -> list[tuple[pd.Timestamp, int]]:
    """Independent gap finder: reindex the file on the full grid and collect runs of missing bars."""
    times = read_with_pandas(path).index
    grid = pd.date_range(times[0], (end - step) if end is not None else times[-1], freq=step)
    missing = grid.difference(times)
    runs, start, count = [], None, 0
    for moment in missing:
        if start is not None and moment == start + count * step:
            count += 1
        else:
            if start is not None:
                runs.append((start, count))
            start, count = moment, 1
    if start is not None:
        runs.append((start, count))
    return runs


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_gaps_in_the_shipped_hourly_data_match_pandas(symbol):
    path = import_series(symbol)
    found = data.gaps_find(exchange="binance", symbol=symbol, timeframe="1h")
    assert [(g.first_missing, g.missing) for g in found] == pandas_gaps(path, pd.Timedelta(hours=1))
    # Against the common range of the five files, the series that end early have a trailing gap.
    end = datetime(2026, 2, 19, 4, tzinfo=UTC)  # one step after the latest last bar (BTC, 03:00)
    found = data.gaps_find(exchange="binance", symbol=symbol, timeframe="1h", end=end)
    assert [(g.first_missing, g.missing) for g in found] == pandas_gaps(path, pd.Timedelta(hours=1), pd.Timestamp(end))


@pytest.mark.slow
def test_gaps_in_the_shipped_5m_eth_data_through_the_endpoint(client, django_user_model):
    path = import_series("ETH/USDT", "5m")
    client.force_login(django_user_model.objects.create_superuser("analyst", password="x" * 12))
    url = "/api/v1/market-data/gaps?exchange=binance&symbol=ETH/USDT&timeframe=5m"
    body = client.get(url).json()
    assert body == {"gaps": [], "missing": 0}  # no hole inside the shipped series
    # ETH's 5m file stops at 19:15 on 2026-02-19 while SOL/BNB/XRP go on to 22:50: 43 bars the file lacks.
    body = client.get(url + "&end=2026-02-19T22:55:00Z").json()
    expected = pandas_gaps(path, pd.Timedelta(minutes=5), pd.Timestamp("2026-02-19T22:55:00Z"))
    assert expected == [(pd.Timestamp("2026-02-19T19:20:00Z"), 43)]
    assert body["missing"] == 43
    assert body["gaps"][0]["first_missing"] == "2026-02-19T19:20:00Z"
    assert body["gaps"][0]["last_missing"] == "2026-02-19T22:50:00Z"


def test_gaps_are_found_where_bars_are_missing_and_recorded(client, django_user_model):
    path = import_series("SOL/USDT")
    with connections["data"].cursor() as cursor:
        cursor.execute(
            "DELETE FROM candle WHERE symbol = 'SOL/USDT' AND ((open_time >= %s AND open_time < %s) OR open_time = %s)",
            [
                datetime(2025, 3, 2, 5, tzinfo=UTC),
                datetime(2025, 3, 2, 9, tzinfo=UTC),
                datetime(2025, 11, 30, 23, tzinfo=UTC),
            ],
        )
    assert pandas_gaps(path, pd.Timedelta(hours=1)) == []
    client.force_login(django_user_model.objects.create_superuser("analyst", password="x" * 12))
    body = client.get("/api/v1/market-data/gaps?symbol=SOL/USDT&timeframe=1h").json()
    assert body["missing"] == 5
    assert [(g["first_missing"], g["last_missing"], g["missing"]) for g in body["gaps"]] == [
        ("2025-03-02T05:00:00Z", "2025-03-02T08:00:00Z", 4),
        ("2025-11-30T23:00:00Z", "2025-11-30T23:00:00Z", 1),
    ]
    from dsta.data import selectors

    recorded = selectors.gaps_recorded(exchange="binance", symbol="SOL/USDT", timeframe="1h")
    assert [(g.first_missing, g.missing, g.status) for g in recorded] == [
        (datetime(2025, 3, 2, 5, tzinfo=UTC), 4, "open"),
        (datetime(2025, 11, 30, 23, tzinfo=UTC), 1, "open"),
    ]
    assert client.get("/api/v1/market-data/gaps?symbol=SOL/USDT&timeframe=7x").status_code == 400


def test_quality_endpoint_and_command_refusals(client, django_user_model, tmp_path):
    assert (
        client.get("/api/v1/market-data/quality?symbol=BTC/USDT&timeframe=1h").status_code == 401
    )  # anonymous: no credentials
    client.force_login(django_user_model.objects.create_superuser("analyst", password="x" * 12))
    import_series("BTC/USDT")
    body = client.get("/api/v1/market-data/quality?symbol=BTC/USDT&timeframe=1h&outlier_z=6").json()
    assert body["rows"] == 12556 and body["clean"] is False
    assert {rule["rule"] for rule in body["rules"]} >= {"high_ge_open_close", "return_outlier_z6"}
    assert client.get("/api/v1/market-data/quality?symbol=BTC/USDT&timeframe=1h&outlier_z=0").status_code == 400
    with pytest.raises(CommandError, match="no such file"):
        call_command("quality_report", str(tmp_path / "nope.csv"), timeframe="1h")
    with pytest.raises(CommandError, match="unknown timeframe"):
        call_command("quality_report", symbol="BTC/USDT", timeframe="9q")
