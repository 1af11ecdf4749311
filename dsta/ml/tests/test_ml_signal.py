"""ml_signal (issue 14 item 4): the strategy's decision at a bar is the model's prediction for that bar.
Backtest predictions are causal (walk-forward refits on earlier bars, the model itself after it was trained,
computed exactly as live), and the backtest runs them through data's engine; live, the bot's hook gives the
same prediction and data's strategy_signal the same decision."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from dsta.data import api as data_api
from dsta.data.contracts import InvalidStrategyParameters
from dsta.domains import DOMAINS
from dsta.ml import api as ml_api
from dsta.ml.contracts import MLInputError
from dsta.ml.models import MLModel
from dsta.ml.signals import causal_predictions

ALL = [domain.alias for domain in DOMAINS]
SERIES = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h"}
THRESHOLDS = {"long_above": 0.52, "flat_below": 0.5, "short_below": 0.0}


@pytest.fixture
def model(btc_candles, settings, tmp_path) -> MLModel:
    settings.STATE_DIR = tmp_path / "state"
    info = ml_api.training_start(kind="direction", model_name="btc-dir", params={"folds": 2}, wait=True, **SERIES)
    assert info.status == "succeeded", info.error
    stored = MLModel.objects.using("ml").get(pk=info.model_id)
    ml_api.model_promote(model_id=stored.pk)
    return MLModel.objects.using("ml").get(pk=stored.pk)


@pytest.mark.slow
@pytest.mark.django_db(databases=ALL)
def test_predictions_are_causal_and_equal_live_ones_after_training(model):
    full = causal_predictions(model, retrain_every=3_000, min_train=1_000, **SERIES)
    assert full.refits >= 3 and full.production_bars == 0 and full.walk_forward_bars == len(full.p_up) > 10_000
    assert ((full.p_up > 0) & (full.p_up < 1)).all()

    # Cut the future off: every bar before the cut is predicted exactly as before (nothing after it was used).
    cut = datetime.fromtimestamp(int(full.times_ms[6_000]) / 1000, tz=UTC)
    early = causal_predictions(model, retrain_every=3_000, min_train=1_000, end=cut, **SERIES)
    shared = np.isin(full.times_ms, early.times_ms)
    assert len(early.p_up) == shared.sum() > 4_000
    np.testing.assert_array_equal(full.p_up[shared], early.p_up)

    # As if the model had been trained 40 bars before the data ends: those 40 bars come from the model
    # itself, and each equals the live prediction for its bar.
    trained = datetime.fromtimestamp(int(full.times_ms[-40]) / 1000, tz=UTC)
    recent = causal_predictions(model, retrain_every=3_000, min_train=1_000, trained_at=trained, **SERIES)
    assert recent.production_bars == 40
    for ms, p in list(zip(recent.times_ms[-40:], recent.p_up[-40:], strict=True))[::8]:
        bar = datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
        live = ml_api.ml_signal_prediction(name="btc-dir", bar_time=bar, **SERIES)
        assert live.times_ms == (int(ms),) and live.values == (pytest.approx(float(p), rel=1e-12),)


@pytest.mark.slow
@pytest.mark.django_db(databases=ALL)
def test_the_backtest_runs_the_predictions_through_the_engine_and_the_live_hook_decides_the_same(model):
    result = ml_api.ml_signal_backtest(
        name="btc-dir", params=THRESHOLDS, retrain_every=3_000, commission=Decimal(0), **SERIES
    )
    summary = result.summary
    assert summary.status == "succeeded", summary.error
    assert summary.request.strategy == "ml_signal" and summary.engine_used == "event"
    assert summary.strategy_version == {s.name: s for s in data_api.strategies_list()}["ml_signal"].version
    assert result.walk_forward_bars == result.predicted_bars > 10_000

    # The trades, from the thresholds applied to the same predictions by a plain loop.
    predictions = causal_predictions(model, retrain_every=3_000, min_train=1_000, **SERIES)
    held, wanted = 0.0, {}
    for ms, p in zip(predictions.times_ms.tolist(), predictions.p_up.tolist(), strict=True):
        held = 1.0 if p >= 0.52 else (0.0 if p < 0.5 else held)
        wanted[ms] = held
    times = sorted(wanted)
    entries = [
        times[n + 1]
        for n in range(len(times) - 1)
        if wanted[times[n]] == 1.0 and (n == 0 or wanted[times[n - 1]] == 0.0)
    ]
    trades = data_api.backtest_trades(job_id=summary.job_id)
    assert len(trades) > 50
    got = [int(t.entry_time.timestamp() * 1000) for t in trades]
    assert got == entries[: len(got)] and len(entries) - len(got) <= 1

    out = io.StringIO()
    call_command("ml_signal_backtest", "btc-dir", "--param", "long_above=0.52", "--retrain-every", "3000", stdout=out)
    assert f"{result.predicted_bars} bars predicted causally" in out.getvalue() and "trades" in out.getvalue()

    # Live: the bot's hook, then data's decision for that bar, from the same class.
    bar = datetime.fromtimestamp(int(predictions.times_ms[-1]) / 1000, tz=UTC)
    live = ml_api.ml_signal_prediction(name="btc-dir", bar_time=bar, **SERIES)
    signal = data_api.strategy_signal(strategy="ml_signal", params=THRESHOLDS, as_of=bar, inputs=(live,), **SERIES)
    p = live.values[0]
    expected = Decimal("1.0") if p >= 0.52 else (Decimal("0.0") if p < 0.5 else None)
    assert signal.bar_time == bar and signal.target == expected


@pytest.mark.django_db(databases=ALL)
def test_refusals_are_clear(btc_candles, settings, tmp_path):
    settings.STATE_DIR = tmp_path / "state"
    with pytest.raises(MLInputError, match="no model"):
        ml_api.ml_signal_backtest(name="nobody")
    with pytest.raises(CommandError, match="no model nobody"):
        call_command("ml_signal_backtest", "nobody")
    with pytest.raises(CommandError, match="expected NAME=NUMBER"):
        call_command("ml_signal_backtest", "nobody", "--param", "long_above")
    regime = ml_api.training_start(kind="regime", model_name="btc-regime", params={"folds": 2}, wait=True, **SERIES)
    with pytest.raises(MLInputError, match="direction models"):
        ml_api.ml_signal_backtest(model_id=regime.model_id)
    with pytest.raises(InvalidStrategyParameters, match="needs the input series"):
        data_api.strategy_signal(strategy="ml_signal", params={}, as_of=datetime(2025, 6, 1, tzinfo=UTC), **SERIES)
