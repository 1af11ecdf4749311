"""Live predictions on closed candles (published as `ml.prediction` through the outbox) and A/B splits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dsta.data import api as data_api
from dsta.data.contracts import CandleBar
from dsta.domains import DOMAINS
from dsta.kernel.tests import processes
from dsta.ml import api as ml_api
from dsta.ml.models import OutboxEvent, Prediction
from dsta.ml.services import predictions_on_candle

ALL = [domain.alias for domain in DOMAINS]
BAR = datetime(2025, 6, 1, 12, tzinfo=UTC)
SERIES = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h"}


def train(name: str, kind: str = "regime") -> int:
    job = ml_api.training_start(kind=kind, model_name=name, params={"folds": 2}, wait=True, **SERIES)
    assert job.model_id is not None, job.error
    return job.model_id


@pytest.mark.django_db(databases=ALL)
def test_a_closed_candle_makes_one_published_prediction_per_production_model(api, btc_candles):
    staging_only = train("staging-only")
    production = train("btc-regime")
    ml_api.model_promote(model_id=production)
    assert predictions_on_candle(**SERIES, bar_time=BAR) == 1
    assert predictions_on_candle(**SERIES, bar_time=BAR) == 0  # a redelivered event makes no second one
    assert predictions_on_candle(exchange="binance", symbol="ETH/USDT", timeframe="1h", bar_time=BAR) == 0
    live = Prediction.objects.using("ml").get(source="live")
    assert live.model_id == production and live.bar_time == BAR
    assert not Prediction.objects.using("ml").filter(model_id=staging_only).exists()
    event = OutboxEvent.objects.using("ml").get(name="ml.prediction")
    assert event.payload["prediction_id"] == str(live.pk) and event.payload["label"] == live.label
    assert event.payload["model_name"] == "btc-regime" and event.aggregate_key == "ml:binance:BTC/USDT:1h"
    # Too early in the series for the features: skipped, nothing published.
    assert predictions_on_candle(**SERIES, bar_time=datetime(2024, 9, 14, 2, tzinfo=UTC)) == 0
    assert OutboxEvent.objects.using("ml").filter(name="ml.prediction").count() == 1


@pytest.mark.django_db(databases=ALL)
def test_ab_split_sends_a_stable_share_of_predictions_to_version_b(api, btc_candles):
    first, second = train("btc-regime"), train("btc-regime")
    other = train("other")
    refused = api.put(
        "/api/v1/ml/ab-splits/btc-regime",
        {"model_a": first, "model_b": other, "share_b": 0.5},
        content_type="application/json",
    )
    assert refused.status_code == 400 and "model_b" in refused.json()
    refused = api.put(
        "/api/v1/ml/ab-splits/btc-regime",
        {"model_a": first, "model_b": second, "share_b": 2},
        content_type="application/json",
    )
    assert refused.status_code == 400 and "share_b" in refused.json()
    made = api.put(
        "/api/v1/ml/ab-splits/btc-regime",
        {"model_a": first, "model_b": second, "share_b": 0.3},
        content_type="application/json",
    )
    assert made.status_code == 200 and made.json()["share_b"] == 0.3
    bars = [BAR + timedelta(hours=hour) for hour in range(200)]
    results = [ml_api.predict(name="btc-regime", at=bar) for bar in bars]
    for result in results:
        assert result.model_id == (second if result.arm == "b" else first)
    share = sum(result.arm == "b" for result in results) / len(results)
    assert 0.2 < share < 0.4
    assert [ml_api.predict(name="btc-regime", at=bar).arm for bar in bars[:20]] == [r.arm for r in results[:20]]
    assert ml_api.predict(model_id=first, at=BAR).arm == ""  # by id: no split
    assert api.delete("/api/v1/ml/ab-splits/btc-regime").status_code == 204
    assert api.delete("/api/v1/ml/ab-splits/btc-regime").status_code == 404
    assert ml_api.predict(name="btc-regime", at=BAR).model_id == second  # no split, no production: the latest


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_candle_closed_reaches_ml_through_relay_and_worker(
    api, btc_candles, clean_broker, children, tmp_path, settings
):
    model_id = train("btc-regime")
    ml_api.model_promote(model_id=model_id)
    children(processes.worker(tmp_path, DSTA_STATE_DIR=str(settings.STATE_DIR)))
    children(processes.relay(tmp_path))
    frame = data_api.candles_frame(**SERIES)
    last = frame.open_time[-1].astype("datetime64[us]").item().replace(tzinfo=UTC)
    new_bar = last + timedelta(hours=1)
    price = data_api.candles_get(**SERIES, start=last)[0].close
    data_api.candle_close(bar=CandleBar("binance", "BTC/USDT", "1h", new_bar, price, price, price, price, price))

    def predicted_and_published() -> bool:
        return OutboxEvent.objects.using("ml").filter(name="ml.prediction", delivered_at__isnull=False).exists()

    assert processes.wait_until(predicted_and_published, timeout=60, interval=0.2)
    live = Prediction.objects.using("ml").get(source="live")
    assert (live.model_id, live.bar_time) == (model_id, new_bar)
