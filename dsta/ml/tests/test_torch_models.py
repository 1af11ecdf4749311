"""The torch model kinds: the MLP direction classifier and the DQN trading agent, as training jobs (in process and
on a real dramatiq worker), in the registry, and through the prediction path; the agent's environment books
exactly what the backtest engine books."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings as django_settings

from dsta.data import api as data_api
from dsta.domains import DOMAINS
from dsta.kernel.tests import processes
from dsta.ml import api as ml_api
from dsta.ml import services
from dsta.ml.models import Prediction, TrainingJob

ALL = [domain.alias for domain in DOMAINS]
BAR = datetime(2025, 6, 1, 12, tzinfo=UTC)
# Small slices and few epochs/episodes: each job trains in seconds on a CPU.
TORCH_DIRECTION = {
    "kind": "torch_direction",
    "model_name": "btc-mlp",
    "symbol": "BTC-USDT",
    "timeframe": "1h",
    "params": {"bars": 2500, "folds": 3, "epochs": 8, "window": 3, "seed": 7},
}
RL_AGENT = {
    "kind": "rl_agent",
    "model_name": "btc-dqn",
    "symbol": "BTC-USDT",
    "timeframe": "1h",
    "params": {"bars": 1200, "episodes": 3, "window": 4, "hidden": 32, "seed": 3},
}


def artefact_file(model: dict) -> Path:
    """Where the server keeps a model's artefact: the API names it relative to the models folder only."""
    assert model["artefact"] and not Path(model["artefact"]).is_absolute()
    return Path(django_settings.STATE_DIR) / "models" / model["artefact"]


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def train(api, body: dict) -> dict:
    response = api.post("/api/v1/ml/train", {**body, "wait": True}, content_type="application/json")
    assert response.status_code == 200, response.content
    job = response.json()
    assert job["status"] == "succeeded", job["error"]
    return job


def expected_device(torch) -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@pytest.mark.django_db(databases=ALL)
def test_torch_direction_is_cross_validated_against_naive_and_sklearn_baselines(api, btc_candles, torch):
    job = train(api, TORCH_DIRECTION)
    metrics = job["metrics"]
    assert metrics["folds"] == 3 and len(metrics["accuracy_per_fold"]) == 3
    assert len(metrics["baseline_logistic_accuracy_per_fold"]) == 3
    assert metrics["device"] == expected_device(torch) and metrics["network"].startswith("mlp 36-32-32-1")
    assert metrics["rows"] <= 2500 - 1
    scores = ("accuracy", "baseline_majority_accuracy", "baseline_persistence_accuracy", "baseline_logistic_accuracy")
    for key in scores:
        assert 0.3 < metrics[key] < 0.7  # hourly direction is close to a coin flip for every method
    best_naive = max(metrics["baseline_majority_accuracy"], metrics["baseline_persistence_accuracy"])
    assert metrics["edge_over_best_baseline"] == pytest.approx(metrics["accuracy"] - best_naive)
    assert metrics["edge_over_logistic"] == pytest.approx(metrics["accuracy"] - metrics["baseline_logistic_accuracy"])

    # The same seed gives the same metrics and the same weights.
    again = train(api, TORCH_DIRECTION)
    assert again["metrics"] == metrics
    first, second = (api.get(f"/api/v1/ml/models/{j['model_id']}").json() for j in (job, again))
    assert (first["kind"], first["version"], second["version"]) == ("torch_direction", 1, 2)
    saved = [torch.load(artefact_file(model), weights_only=True) for model in (first, second)]
    assert artefact_file(first).suffix == ".pt" and saved[0]["metadata"]["window"] == 3
    for name, tensor in saved[0]["state_dict"].items():
        assert torch.equal(tensor, saved[1]["state_dict"][name])
    # A different seed trains a different network.
    other = train(api, {**TORCH_DIRECTION, "params": {**TORCH_DIRECTION["params"], "seed": 8}})
    other_weights = torch.load(artefact_file(api.get(f"/api/v1/ml/models/{other['model_id']}").json()))
    assert not torch.equal(other_weights["state_dict"]["0.weight"], saved[0]["state_dict"]["0.weight"])

    made = api.post(
        "/api/v1/ml/predict", {"model_id": job["model_id"], "at": BAR.isoformat()}, content_type="application/json"
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["label"] in ("up", "down") and 0.5 <= body["probability"] <= 1
    assert (body["label"] == "up") == (body["output"]["p_up"] >= 0.5)
    # Loaded once, then served from the process cache: the same network object answers again, identically.
    cached = services._ARTEFACTS[job["model_id"]][1]["net"]
    assert ml_api.predict(model_id=job["model_id"], at=BAR).output == body["output"]
    assert services._ARTEFACTS[job["model_id"]][1]["net"] is cached


@pytest.mark.django_db(databases=ALL)
def test_rl_agent_is_evaluated_out_of_sample_against_baselines(api, btc_candles, torch):
    job = train(api, RL_AGENT)
    metrics = job["metrics"]
    train_range, test_range = metrics["train_range"], metrics["test_range"]
    # Out of sample means after the training range, up to the slice's last bar.
    assert train_range["end"] < test_range["start"]
    frame = data_api.candles_frame(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    times = [f"{time}Z" for time in frame.open_time[-1200:].astype("datetime64[s]").astype(str)]
    assert times.index(test_range["start"]) == times.index(train_range["end"]) + 1
    assert test_range["end"] == times[-1] and test_range["bars"] == 1200 - times.index(test_range["start"])
    assert train_range["bars"] + test_range["bars"] <= 1200
    assert metrics["episodes"] == 3 and len(metrics["train_episode_returns"]) == 3
    assert metrics["steps"] == 3 * (train_range["bars"] - 1) and metrics["updates"] > 0
    assert metrics["actions"] == ["flat", "long"] and metrics["device"] == expected_device(torch)

    oos = metrics["oos"]
    assert oos["flat"]["total_return"] == 0 and oos["flat"]["trades"] == 0
    # Buy-and-hold, costed by the engine: in at the first test bar's next open, out at the last close.
    start = len(frame) - test_range["bars"]
    entry = frame.open[start + 1] * (1 + metrics["slippage"]) * (1 + metrics["commission"])
    exit_ = frame.close[-1] * (1 - metrics["slippage"]) * (1 - metrics["commission"])
    assert oos["buy_and_hold"]["total_return"] == pytest.approx(exit_ / entry - 1, rel=1e-9)
    assert oos["buy_and_hold"]["trades"] == 1 and oos["buy_and_hold"]["exposure"] == 1
    assert 0 <= oos["agent"]["exposure"] <= 1 and 0 <= oos["agent"]["max_drawdown"] < 1
    assert oos["random"]["runs"] == 20 and oos["random"]["total_return_std"] > 0
    assert 0 <= oos["random"]["agent_beats_share"] <= 1
    assert metrics["edge_over_buy_and_hold"] == pytest.approx(
        oos["agent"]["total_return"] - oos["buy_and_hold"]["total_return"]
    )
    assert metrics["edge_over_random"] == pytest.approx(
        oos["agent"]["total_return"] - oos["random"]["total_return_mean"]
    )

    again = train(api, RL_AGENT)
    assert again["metrics"] == metrics  # deterministic under its seed

    model = api.get(f"/api/v1/ml/models/{job['model_id']}").json()
    assert model["kind"] == "rl_agent" and artefact_file(model).suffix == ".pt"
    prediction = ml_api.predict(model_id=job["model_id"], at=BAR)
    assert prediction.label in ("flat", "long") and prediction.probability is None
    assert prediction.output["action"] == prediction.label
    assert prediction.output["target"] == {"flat": 0.0, "long": 1.0}[prediction.label]
    assert prediction.output["position"] in (0.0, 1.0)
    q_values = prediction.output["q_values"]
    assert set(q_values) == {"flat", "long"} and max(q_values, key=q_values.get) == prediction.label
    latest = api.post("/api/v1/ml/predict", {"name": "btc-dqn"}, content_type="application/json")
    assert latest.status_code == 201 and latest.json()["label"] in ("flat", "long")
    # In production it acts on every closed bar of its series, as the sklearn models do.
    ml_api.model_promote(model_id=job["model_id"])
    assert services.predictions_on_candle(exchange="binance", symbol="BTC/USDT", timeframe="1h", bar_time=BAR) == 1
    live = Prediction.objects.using("ml").get(model_id=job["model_id"], source="live", bar_time=BAR)
    assert (live.label, live.output) == (prediction.label, prediction.output)


@pytest.mark.django_db(databases=ALL)
def test_the_environment_books_what_the_backtest_engine_books(btc_candles, torch):
    from dsta.ml import rl

    frame = data_api.candles_frame(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    bars = 700
    opens, highs, lows, closes = (column[-bars:] for column in (frame.open, frame.high, frame.low, frame.close))
    targets = list(rl.action_targets(allow_short=True).values())
    env = rl.TradingEnv(
        open=opens,
        close=closes,
        observations=np.zeros((bars, 1)),
        targets=targets,
        commission=0.001,
        slippage=0.0005,
    )
    # Runs of held actions with flips between long, short and flat, as a policy produces them.
    rng = np.random.default_rng(11)
    actions = np.repeat(rng.integers(0, len(targets), size=bars // 7 + 1), 7)[: bars - 1]
    env.reset(start=0, end=bars)
    equity = [env.equity]
    for action in actions:
        _, reward, done = env.step(int(action))
        assert reward == pytest.approx(np.log(env.equity / equity[-1]))
        equity.append(env.equity)
    assert done and env.book.qty == 0  # settled at the last close

    decided = np.append(np.asarray(targets)[actions], 0.0)  # the last bar's decision is never filled
    engine = data_api.backtest_replay_targets(
        open=opens, high=highs, low=lows, close=closes, targets=decided, commission=0.001, slippage=0.0005
    )
    np.testing.assert_array_equal(np.asarray(equity), engine.equity)
    assert engine.trades > 10 and engine.fees > 0 and engine.equity[-1] != engine.equity[0]
    with pytest.raises(ValueError):
        data_api.backtest_replay_targets(open=opens, high=highs, low=lows, close=closes, targets=decided[:-1])


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_torch_jobs_run_on_a_real_worker(api, btc_candles, clean_broker, children, tmp_path, settings, torch):
    children(processes.worker(tmp_path, threads=1, DSTA_STATE_DIR=str(settings.STATE_DIR)))
    job_ids = []
    for body in (TORCH_DIRECTION, RL_AGENT):
        queued = api.post("/api/v1/ml/train", body, content_type="application/json")
        assert queued.status_code == 202 and queued.json()["status"] == "pending"
        job_ids.append(queued.json()["job_id"])
    finished = (TrainingJob.Status.SUCCEEDED, TrainingJob.Status.FAILED)
    assert processes.wait_until(
        lambda: all(TrainingJob.objects.using("ml").get(pk=job_id).status in finished for job_id in job_ids),
        timeout=180,
        interval=0.3,
    )
    labels = []
    for job_id in job_ids:
        status = api.get(f"/api/v1/ml/training/{job_id}/status").json()
        assert status["status"] == "succeeded", status["error"]
        metrics = api.get(f"/api/v1/ml/training/{job_id}/metrics").json()["metrics"]
        assert metrics["seed"] in (3, 7)
        labels.append(ml_api.predict(model_id=status["model_id"], at=BAR).label)
    assert labels[0] in ("up", "down") and labels[1] in ("flat", "long")


@pytest.mark.django_db(databases=ALL)
def test_bad_torch_parameters_are_refused(api, btc_candles):
    for params, fragment in (
        ({"epochs": 0}, "epochs"),
        ({"window": "4"}, "window"),
        ({"learning": 1}, "unknown parameter 'learning'"),
    ):
        refused = api.post("/api/v1/ml/train", {**TORCH_DIRECTION, "params": params}, content_type="application/json")
        assert refused.status_code == 400 and any(fragment in message for message in refused.json()["params"])
    refused = api.post(
        "/api/v1/ml/train",
        {**RL_AGENT, "params": {"train_fraction": 0.99, "allow_short": "yes", "folds": 3}},
        content_type="application/json",
    )
    messages = " ".join(refused.json()["params"])
    assert refused.status_code == 400
    assert "train_fraction" in messages and "allow_short" in messages and "'folds'" in messages


@pytest.mark.django_db(databases=ALL)
def test_without_torch_the_torch_kinds_are_refused_and_the_rest_still_trains(api, btc_candles, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails, as on a machine without it
    for body in (TORCH_DIRECTION, RL_AGENT):
        refused = api.post("/api/v1/ml/train", {**body, "wait": True}, content_type="application/json")
        assert refused.status_code == 400
        assert "needs torch, which is not installed" in refused.json()["kind"][0]
    job = api.post(
        "/api/v1/ml/train",
        {"kind": "direction", "model_name": "plain", "symbol": "BTC-USDT", "params": {"folds": 2}, "wait": True},
        content_type="application/json",
    ).json()
    assert job["status"] == "succeeded", job["error"]
    assert ml_api.predict(model_id=job["model_id"], at=BAR).label in ("up", "down")
