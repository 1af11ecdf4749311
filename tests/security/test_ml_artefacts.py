"""Issue 20.13 (ml): a model name cannot lead its artefact out of the models folder, and no response shows a
server path."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import joblib
import pytest
from rest_framework.test import APIClient

from dsta.core.tests.factories import access_token_for, bearer, user_with_role
from dsta.domains import DOMAINS
from dsta.ml import api as ml_api
from dsta.ml.contracts import MLInputError
from dsta.ml.models import MLModel

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS])
TRAVERSALS = ["..", ".", "../escape", "a/../../b", "/etc", ".hidden", "a\\b", "a b", "x" * 101]


def client_for(role: str) -> APIClient:
    client = APIClient()
    client.credentials(**bearer(access_token_for(user_with_role(role))))
    return client


@pytest.fixture
def state_dir(settings, tmp_path) -> Path:  # type: ignore[no-untyped-def]
    settings.STATE_DIR = tmp_path / "state"
    return settings.STATE_DIR


def registered(path: Path, *, status: str = "staging") -> MLModel:
    return MLModel.objects.using("ml").create(
        name="btc-regime",
        version=MLModel.objects.using("ml").count() + 1,
        kind="regime",
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
        feature_set="core",
        feature_set_version=1,
        feature_columns=["ret_1"],
        metrics={},
        artefact_path=str(path),
        status=status,
    )


@pytest.mark.parametrize("name", TRAVERSALS)
def test_a_model_name_that_is_not_a_slug_is_a_400_with_a_field_error(name, state_dir):
    body = {"kind": "regime", "model_name": name, "symbol": "BTC-USDT", "wait": True}
    response = client_for("admin").post("/api/v1/ml/train", body, format="json")
    assert response.status_code == 400, response.content
    assert "model_name" in response.json()
    with pytest.raises(MLInputError) as refused:  # the facade too (other domains, the CLI, a served domain)
        ml_api.training_start(kind="regime", model_name=name, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    assert "model_name" in refused.value.errors


def test_an_artefact_path_outside_the_models_folder_is_never_loaded_nor_deleted(state_dir, tmp_path):
    outside = tmp_path / "outside.joblib"
    joblib.dump({"columns": ["ret_1"]}, outside)
    model = registered(outside)
    admin = client_for("admin")
    at = datetime(2025, 6, 1, 12, tzinfo=UTC).isoformat()
    refused = admin.post("/api/v1/ml/predict", {"model_id": model.pk, "at": at}, format="json")
    assert refused.status_code == 400
    assert "outside the models folder" in " ".join(refused.json()["model"])
    assert admin.delete(f"/api/v1/ml/models/{model.pk}").status_code == 204
    assert outside.exists()  # the row is gone, the file it named is not touched


def test_viewers_see_the_artefact_by_its_name_in_the_models_folder_never_a_server_path(state_dir, tmp_path):
    inside = registered(Path(state_dir) / "models" / "btc-regime" / "v1-job.joblib")
    elsewhere = registered(tmp_path / "elsewhere.joblib")
    viewer = client_for("viewer")
    listed = viewer.get("/api/v1/ml/models")
    assert listed.status_code == 200
    by_id = {model["model_id"]: model for model in listed.json()}
    assert by_id[inside.pk]["artefact"] == "btc-regime/v1-job.joblib"
    assert by_id[elsewhere.pk]["artefact"] == ""
    detail = viewer.get(f"/api/v1/ml/models/{inside.pk}")
    assert detail.json()["artefact"] == "btc-regime/v1-job.joblib"
    for body in (listed.content, detail.content):
        assert b"artefact_path" not in body and str(tmp_path).encode() not in body
