"""Training jobs (in process and on a real dramatiq worker), the model registry and predictions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from dsta.domains import DOMAINS
from dsta.kernel.tests import processes
from dsta.ml import api as ml_api
from dsta.ml.contracts import MLInputError
from dsta.ml.models import TrainingJob

ALL = [domain.alias for domain in DOMAINS]
REGIME = {"kind": "regime", "model_name": "btc-regime", "symbol": "BTC-USDT", "timeframe": "1h"}
DIRECTION = {"kind": "direction", "model_name": "btc-direction", "symbol": "BTC-USDT", "timeframe": "1h"}
BAR = datetime(2025, 6, 1, 12, tzinfo=UTC)


def artefact_file(model: dict) -> Path:
    """Where the server keeps a model's artefact: the API names it relative to the models folder only."""
    assert model["artefact"] and not Path(model["artefact"]).is_absolute()
    return Path(django_settings.STATE_DIR) / "models" / model["artefact"]


def train(api, body: dict) -> dict:
    response = api.post("/api/v1/ml/train", {**body, "wait": True}, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db(databases=ALL)
def test_regime_training_beats_a_single_gaussian_and_registers_a_staging_version(api, btc_candles, settings):
    job = train(api, {**REGIME, "params": {"regimes": 3, "folds": 4}})
    assert job["status"] == "succeeded", job["error"]
    metrics = api.get(f"/api/v1/ml/training/{job['job_id']}/metrics").json()["metrics"]
    assert metrics["folds"] == 4 and len(metrics["cv_log_likelihood_per_fold"]) == 4
    # Crypto returns are fat-tailed and volatility clusters: a mixture explains held-out bars better than one Gaussian.
    assert metrics["cv_log_likelihood"] > metrics["baseline_log_likelihood"]
    regimes = metrics["regimes"]
    assert [row["regime"] for row in regimes] == [0, 1, 2]
    assert abs(sum(row["share"] for row in regimes) - 1) < 1e-9
    volatilities = [row["mean_volatility"] for row in regimes]
    assert volatilities == sorted(volatilities)  # regime 0 is the calmest
    status = api.get(f"/api/v1/ml/training/{job['job_id']}/status").json()
    assert status["status"] == "succeeded" and "metrics" not in status and status["finished_at"]
    model = api.get(f"/api/v1/ml/models/{job['model_id']}").json()
    assert (model["name"], model["version"], model["status"], model["kind"]) == ("btc-regime", 1, "staging", "regime")
    assert model["artefact"] == f"btc-regime/v1-{job['job_id']}.joblib"
    assert artefact_file(model).is_file()


@pytest.mark.django_db(databases=ALL)
def test_direction_classifiers_are_scored_against_naive_baselines(api, btc_candles):
    for classifier in ("logistic", "gradient_boosting"):
        job = train(api, {**DIRECTION, "params": {"classifier": classifier, "folds": 3}})
        assert job["status"] == "succeeded", job["error"]
        metrics = job["metrics"]
        assert metrics["classifier"] == classifier and len(metrics["accuracy_per_fold"]) == 3
        for key in ("accuracy", "baseline_majority_accuracy", "baseline_persistence_accuracy"):
            assert 0.3 < metrics[key] < 0.7  # hourly direction is close to a coin flip for every method
        best_baseline = max(metrics["baseline_majority_accuracy"], metrics["baseline_persistence_accuracy"])
        assert metrics["edge_over_best_baseline"] == pytest.approx(metrics["accuracy"] - best_baseline)
        importance = metrics["permutation_importance"]
        assert len(importance) == 12 and importance[0]["importance"] >= importance[-1]["importance"]
    versions = api.get("/api/v1/ml/models?name=btc-direction").json()
    assert [model["version"] for model in versions] == [2, 1]
    ranked = api.get(f"/api/v1/ml/importance?model_id={versions[0]['model_id']}").json()["importance"]
    assert {row["feature"] for row in ranked} >= {"rsi_14", "macd_hist", "volume_z_24"}


@pytest.mark.django_db(databases=ALL)
def test_bad_training_requests_are_refused_and_failures_are_recorded(api, btc_candles):
    refused = api.post("/api/v1/ml/train", {**REGIME, "params": {"regimes": 40}}, content_type="application/json")
    assert refused.status_code == 400 and "params" in refused.json()
    refused = api.post("/api/v1/ml/train", {**DIRECTION, "kind": "oracle"}, content_type="application/json")
    assert refused.status_code == 400 and "kind" in refused.json()
    refused = api.post(
        "/api/v1/ml/train", {**DIRECTION, "params": {"classifier": "magic"}}, content_type="application/json"
    )
    assert refused.status_code == 400 and "params" in refused.json()
    failed = train(api, {**REGIME, "symbol": "NOPE-USDT"})
    assert failed["status"] == "failed" and "no 1h candles stored" in failed["error"] and failed["model_id"] is None
    assert api.get(f"/api/v1/ml/training/{'0' * 8}-0000-0000-0000-{'0' * 12}/status").status_code == 404


@pytest.mark.django_db(databases=ALL)
def test_promote_rollback_delete(api, btc_candles):
    first, second = (train(api, {**REGIME, "params": {"folds": 2}})["model_id"] for _ in range(2))
    assert api.post(f"/api/v1/ml/models/{first}/promote").json()["status"] == "production"
    assert api.post(f"/api/v1/ml/models/{second}/promote").json()["status"] == "production"
    assert api.get(f"/api/v1/ml/models/{first}").json()["status"] == "archived"
    # By name, a prediction uses the production version.
    assert ml_api.predict(name="btc-regime", at=BAR).model_id == second
    refused = api.delete(f"/api/v1/ml/models/{second}")
    assert refused.status_code == 400 and "model_id" in refused.json()
    rolled = api.post("/api/v1/ml/models/rollback", {"name": "btc-regime"}, content_type="application/json").json()
    assert rolled["model_id"] == first and rolled["status"] == "production"
    assert api.get(f"/api/v1/ml/models/{second}").json()["status"] == "archived"
    again = api.post("/api/v1/ml/models/rollback", {"name": "btc-regime"}, content_type="application/json")
    assert again.status_code == 400  # nothing was in production before the first version
    artefact = artefact_file(api.get(f"/api/v1/ml/models/{second}").json())
    assert api.delete(f"/api/v1/ml/models/{second}").status_code == 204
    assert not artefact.exists() and api.get(f"/api/v1/ml/models/{second}").status_code == 404
    assert api.delete(f"/api/v1/ml/models/{second}").status_code == 404
    assert api.post("/api/v1/ml/models/999999/promote").status_code == 404


@pytest.mark.django_db(databases=ALL)
def test_predictions_single_batch_and_stored(api, btc_candles):
    regime_id = train(api, {**REGIME, "params": {"folds": 2}})["model_id"]
    direction_id = train(api, {**DIRECTION, "params": {"folds": 2}})["model_id"]
    made = api.post(
        "/api/v1/ml/predict", {"model_id": direction_id, "at": BAR.isoformat()}, content_type="application/json"
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["label"] in ("up", "down") and 0.5 <= body["probability"] <= 1
    assert (body["label"] == "up") == (body["output"]["p_up"] >= 0.5)
    assert body["bar_time"].startswith("2025-06-01T12:00")
    assert api.get(f"/api/v1/ml/predictions/{body['prediction_id']}").json() == body
    # The same model and bar give the same answer; a different bar is computed from its own history.
    assert ml_api.predict(model_id=direction_id, at=BAR).output == body["output"]
    latest = ml_api.predict(model_id=regime_id)
    assert latest.label.startswith("regime_") and latest.bar_time > BAR
    batch = api.post(
        "/api/v1/ml/predict/batch",
        {
            "requests": [
                {"model_id": regime_id, "at": BAR.isoformat()},
                {"name": "btc-direction", "at": "2025-06-01T12:30:00Z"},
                {"model_id": direction_id, "symbol": "ETH-USDT", "at": BAR.isoformat()},
            ]
        },
        content_type="application/json",
    )
    results = batch.json()["results"]
    assert results[0]["prediction"]["output"]["regime"] in (0, 1, 2)
    assert "at" in results[1]["errors"]  # no bar opens at :30 on an hourly series
    assert "symbol" in results[2]["errors"]  # no ETH candles stored
    refused = api.post("/api/v1/ml/predict", {"at": BAR.isoformat()}, content_type="application/json")
    assert refused.status_code == 400 and "model_id" in refused.json()
    with pytest.raises(MLInputError):
        ml_api.predict(model_id=regime_id, at=datetime(2024, 9, 14, 3, tzinfo=UTC))  # inside the warm-up


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_training_runs_on_a_real_worker(api, btc_candles, clean_broker, children, tmp_path, settings):
    children(processes.worker(tmp_path, threads=1, DSTA_STATE_DIR=str(settings.STATE_DIR)))
    queued = api.post("/api/v1/ml/train", {**REGIME, "params": {"folds": 3}}, content_type="application/json")
    assert queued.status_code == 202 and queued.json()["status"] == "pending"
    job_id = queued.json()["job_id"]
    finished = (TrainingJob.Status.SUCCEEDED, TrainingJob.Status.FAILED)
    assert processes.wait_until(
        lambda: TrainingJob.objects.using("ml").get(pk=job_id).status in finished, timeout=120, interval=0.2
    )
    status = api.get(f"/api/v1/ml/training/{job_id}/status").json()
    assert status["status"] == "succeeded", status["error"]
    model = api.get(f"/api/v1/ml/models/{status['model_id']}").json()
    assert artefact_file(model).is_file() and model["metrics"]["folds"] == 3
    assert ml_api.predict(model_id=model["model_id"], at=BAR).label.startswith("regime_")
