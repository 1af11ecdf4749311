"""Feature sets: TA-Lib indicators over the data facade's frame, stored per series and version, and served."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dsta.data import api as data_api
from dsta.domains import DOMAINS
from dsta.ml import api as ml_api
from dsta.ml import features
from dsta.ml.contracts import MLInputError

ALL = [domain.alias for domain in DOMAINS]
pytestmark = pytest.mark.django_db(databases=ALL)


def test_features_match_independent_pandas_computations(btc_candles):
    frame = data_api.candles_frame(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    columns, values = features.compute(
        features.definition_get("core", 1),
        open=frame.open,
        high=frame.high,
        low=frame.low,
        close=frame.close,
        volume=frame.volume,
    )
    table = pd.DataFrame(values, columns=columns)
    close = pd.Series(frame.close)
    log_returns = np.log(close / close.shift(1))
    np.testing.assert_allclose(table["ret_1"], log_returns, equal_nan=True)
    np.testing.assert_allclose(table["ret_24"], np.log(close / close.shift(24)), equal_nan=True)
    # TA-Lib's STDDEV is the population deviation (ddof=0).
    np.testing.assert_allclose(table["vol_24"][30:], log_returns.rolling(24).std(ddof=0)[30:], rtol=1e-6, atol=1e-10)
    middle = close.rolling(20).mean()
    spread = close.rolling(20).std(ddof=0)
    percent_b = (close - (middle - 2 * spread)) / (4 * spread)
    np.testing.assert_allclose(table["bb_pct_20"][40:], percent_b[40:], rtol=1e-6, atol=1e-8)
    rsi = table["rsi_14"].dropna()
    assert rsi.between(0, 1).all() and len(rsi) == len(close) - 14
    # Causal: the features of the first 1000 bars do not change when later bars exist.
    _, head = features.compute(
        features.definition_get("core", 1),
        open=frame.open[:1000],
        high=frame.high[:1000],
        low=frame.low[:1000],
        close=frame.close[:1000],
        volume=frame.volume[:1000],
    )
    np.testing.assert_allclose(head, values[:1000], equal_nan=True)


def test_extract_stores_one_matrix_per_series_and_version(btc_candles):
    info = ml_api.features_extract(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    assert info.rows == len(data_api.candles_frame(exchange="binance", symbol="BTC/USDT", timeframe="1h"))
    assert info.feature_set == "core" and info.feature_set_version == 1 and "macd_hist" in info.columns
    again = ml_api.features_extract(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    assert again.rows == info.rows
    table = ml_api.features_get(exchange="binance", symbol="BTC/USDT", timeframe="1h", limit=10)
    assert table is not None and table.values.shape == (10, len(info.columns))
    assert table.open_time[-1].astype("datetime64[us]").item() == info.last_time.replace(tzinfo=None)
    with pytest.raises(MLInputError) as missing:
        ml_api.features_extract(exchange="binance", symbol="DOGE/USDT", timeframe="1h")
    assert "symbol" in missing.value.errors
    with pytest.raises(MLInputError) as unknown:
        ml_api.features_extract(exchange="binance", symbol="BTC/USDT", timeframe="1h", version=99)
    assert "feature_set" in unknown.value.errors


def test_feature_endpoints(api, btc_candles):
    assert api.get("/api/v1/ml/features/BTC-USDT").status_code == 404  # not extracted yet
    created = api.post(
        "/api/v1/ml/features/extract", {"symbol": "BTC-USDT", "timeframe": "1h"}, content_type="application/json"
    )
    assert created.status_code == 201, created.content
    body = api.get("/api/v1/ml/features/BTC-USDT?timeframe=1h&limit=3").json()
    assert body["info"]["rows"] == created.json()["rows"] and len(body["rows"]) == 3
    assert set(body["info"]["columns"]) <= set(body["rows"][-1]) and body["rows"][-1]["open_time"].endswith("Z")
    assert all(value is not None for value in body["rows"][-1].values())
    bad = api.post(
        "/api/v1/ml/features/extract", {"symbol": "BTC-USDT", "timeframe": "7m"}, content_type="application/json"
    )
    assert bad.status_code == 400 and "timeframe" in bad.json()
    absent = api.post("/api/v1/ml/features/extract", {"symbol": "NOPE-USDT"}, content_type="application/json")
    assert absent.status_code == 400 and "symbol" in absent.json()
