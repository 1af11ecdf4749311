"""The ML flow run both ways (in-process, and ml served in its own process on its own database): the web API
trains a model, the registry lists it, it is promoted, and a prediction made with it is stored."""

from __future__ import annotations

import os

import pytest

from dsta.domains import DOMAINS
from tests.facade_modes import MODES, facade_mode

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS])


@pytest.fixture(scope="module", params=MODES)
def ml_mode(request, served_domains, committed_candles, tmp_path_factory):
    from django.conf import settings

    os.environ["DSTA_RPC_TIMEOUT_SECONDS_ML"] = "120"  # training with wait=True answers when it is done
    saved = settings.STATE_DIR
    settings.STATE_DIR = tmp_path_factory.mktemp("ml-flow-state")
    try:
        with facade_mode(request.param, "ml", served_domains, set()):
            yield request.param
    finally:
        settings.STATE_DIR = saved


def test_ml_flow_trains_registers_and_predicts(ml_mode, client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("quant", password="x" * 12))
    name = f"flow-{ml_mode}"
    body = {"kind": "regime", "model_name": name, "symbol": "BTC-USDT", "timeframe": "1h", "wait": True}
    trained = client.post("/api/v1/ml/train", {**body, "params": {"regimes": 2, "folds": 2}}, "application/json")
    assert trained.status_code == 200, trained.content
    job = trained.json()
    assert job["status"] == "succeeded", job["error"]
    assert client.get(f"/api/v1/ml/training/{job['job_id']}/status").json()["status"] == "succeeded"

    listed = client.get(f"/api/v1/ml/models?name={name}").json()
    assert [(m["model_id"], m["version"], m["status"]) for m in listed] == [(job["model_id"], 1, "staging")]
    promoted = client.post(f"/api/v1/ml/models/{job['model_id']}/promote")
    assert promoted.status_code == 200 and promoted.json()["status"] == "production"

    predicted = client.post("/api/v1/ml/predict", {"name": name}, "application/json")
    assert predicted.status_code == 201, predicted.content
    prediction = predicted.json()
    assert prediction["model_id"] == job["model_id"] and prediction["label"]
    stored = client.get(f"/api/v1/ml/predictions/{prediction['prediction_id']}").json()
    assert stored["prediction_id"] == prediction["prediction_id"] and stored["label"] == prediction["label"]
    unknown = client.post("/api/v1/ml/predict", {"name": "no-such-model"}, "application/json")
    assert unknown.status_code == 400  # MLInputError, raised remotely, is the same 400 here
