"""Probability of backtest overfitting (CSCV): against a direct reading of Bailey et al.'s procedure on raw
returns, on noise (about a coin flip), on a real edge (near 0), and stored with every optimisation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dsta.data.backtesting.overfitting import (
    BLOCKS,
    block_moments,
    optimisation_overfitting,
    pbo_from_moments,
    pbo_from_returns,
)
from dsta.domains import DOMAINS

ALL = [domain.alias for domain in DOMAINS]


def pbo_by_the_paper(returns: np.ndarray, blocks: int) -> float:
    """Bailey et al. step by step, on the raw return matrix: no moments, no matrix products."""
    bars, trials = returns.shape
    pieces = np.array_split(np.arange(bars), blocks)
    overfit = 0
    splits = list(itertools.combinations(range(blocks), blocks // 2))
    for chosen in splits:
        train = np.concatenate([pieces[b] for b in chosen])
        test = np.concatenate([pieces[b] for b in range(blocks) if b not in chosen])

        def sharpe(rows: np.ndarray, trial: int) -> float:
            sample = returns[rows, trial]
            return float(sample.mean() / sample.std(ddof=1))

        in_sample = [sharpe(train, n) for n in range(trials)]
        out_of_sample = np.array([sharpe(test, n) for n in range(trials)])
        best = int(np.argmax(in_sample))
        rank = 1 + int((out_of_sample < out_of_sample[best]).sum())  # no ties in continuous noise
        omega = rank / (trials + 1)
        overfit += np.log(omega / (1 - omega)) <= 0
    return overfit / len(splits)


def test_pbo_equals_the_papers_procedure_computed_directly():
    generator = np.random.default_rng(7)
    returns = generator.normal(0, 0.01, size=(600, 12)) + np.linspace(-0.0004, 0.0004, 12)
    report = pbo_from_returns(returns, blocks=8)
    assert report.splits == 70 and report.trials == 12
    assert report.pbo == pytest.approx(pbo_by_the_paper(returns, 8), abs=1e-12)


def test_noise_gives_a_coin_flip_and_a_warning_while_a_real_edge_gives_near_zero():
    generator = np.random.default_rng(3)
    noise = generator.normal(0, 0.01, size=(2_000, 40))
    pbos = [pbo_from_returns(generator.normal(0, 0.01, size=(1_600, 30))).pbo for _ in range(4)]
    assert 0.3 < np.mean(pbos) < 0.7  # selection among skill-less trials is luck
    flagged = pbo_from_returns(noise)
    if flagged.pbo >= 0.5:
        assert "overfitted" in flagged.warning

    skilled = noise.copy()
    skilled[:, :10] += np.linspace(0.0, 0.004, 10)  # ten trials with a steady, graded edge
    report = pbo_from_returns(skilled)
    assert report.pbo < 0.05 and report.warning == ""
    assert report.probability_oos_loss < 0.05 and report.median_logit > 1


def test_block_moments_give_the_exact_sharpe_of_any_union_of_blocks():
    generator = np.random.default_rng(0)
    equity = 100 * np.cumprod(1 + generator.normal(0, 0.01, 1_001))
    moments = block_moments(equity)
    assert moments.shape == (BLOCKS, 3) and moments[:, 0].sum() == 1_000
    returns = equity[1:] / equity[:-1] - 1
    assert moments[:, 1].sum() == pytest.approx(returns.sum(), rel=1e-12)
    assert moments[:, 2].sum() == pytest.approx((returns**2).sum(), rel=1e-12)


def test_too_few_trials_or_bars_are_reported_not_computed():
    assert optimisation_overfitting([[[10, 0.1, 0.01]] * BLOCKS] * 3)["computed"] is False
    short = optimisation_overfitting([[[5, 0.1, 0.01]] * BLOCKS] * 20)
    assert short["computed"] is False and "bars" in short["reason"]
    with pytest.raises(ValueError, match="even"):
        pbo_from_moments(np.ones((4, 5, 3)))


@pytest.mark.django_db(databases=ALL)
def test_every_optimisation_with_enough_trials_reports_its_pbo():
    from dsta.data.backtesting import optimisation, trial_batches
    from dsta.data.contracts import BacktestRequest
    from dsta.data.management.commands.load_demo_data import DEMO_DIR
    from dsta.data.models import BacktestResult
    from dsta.data.services import candles_import_file

    candles_import_file(path=DEMO_DIR / "BTC_USDT-1h.csv.gz", exchange="binance", symbol="BTC/USDT", timeframe="1h")
    base = BacktestRequest(strategy="sma_cross", params={}, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    parent = optimisation.optimisation_create(
        base, method="grid", space={"fast": [5, 10, 15, 20], "slow": [30, 50, 80]}
    )

    def run_batch(trial_ids: list[str]) -> None:  # the batch actor's work, in this process
        trial_batches.batch_execute(trial_ids)
        optimisation.trials_progress(str(parent.pk))

    optimisation.grid_start(str(parent.pk), send_batch=run_batch)
    analysis = BacktestResult.objects.using("data").get(job=parent).analysis
    overfitting = analysis["overfitting"]
    assert overfitting["computed"] is True and overfitting["trials"] == 12 and overfitting["splits"] == 12_870
    assert 0.0 <= overfitting["pbo"] <= 1.0
    assert (overfitting["warning"] != "") == (overfitting["pbo"] >= 0.5)


@pytest.mark.django_db(databases=ALL)
def test_the_deflated_sharpe_of_an_optimisation_equals_the_one_of_its_best_trials_own_backtest(monkeypatch):
    """Ranking reads the best trial's return shape kept by its batch: no re-run, the same figures as the
    deflated Sharpe computed on the curve of that trial's single backtest."""
    import math

    from dsta.data.backtesting import jobs, optimisation, trial_batches
    from dsta.data.backtesting.analysis import deflated_sharpe, return_shape
    from dsta.data.backtesting.metrics import periods_per_year
    from dsta.data.backtesting.runner import run_request
    from dsta.data.contracts import TIMEFRAME_SECONDS, BacktestRequest
    from dsta.data.management.commands.load_demo_data import DEMO_DIR
    from dsta.data.models import BacktestJob, BacktestResult
    from dsta.data.services import candles_import_file

    candles_import_file(path=DEMO_DIR / "BTC_USDT-1h.csv.gz", exchange="binance", symbol="BTC/USDT", timeframe="1h")
    base = BacktestRequest(strategy="sma_cross", params={}, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    parent = optimisation.optimisation_create(base, method="grid", space={"fast": [5, 10, 15], "slow": [30, 50]})

    def run_batch(trial_ids: list[str]) -> None:
        trial_batches.batch_execute(trial_ids)
        optimisation.trials_progress(str(parent.pk))

    def no_rerun(request):  # type: ignore[no-untyped-def]
        raise AssertionError("ranking re-ran a trial")

    with monkeypatch.context() as patched:
        patched.setattr(optimisation, "run_request", no_rerun)
        optimisation.grid_start(str(parent.pk), send_batch=run_batch)
    analysis = BacktestResult.objects.using("data").get(job=parent).analysis
    for trial in BacktestJob.objects.using("data").filter(parent=parent).select_related("result"):
        equity = run_request(jobs.request_of(trial)).result.equity
        assert trial.result.analysis["return_shape"] == vars(return_shape(equity[1:] / equity[:-1] - 1))
    best = BacktestJob.objects.using("data").get(pk=analysis["trials"][0]["job_id"])
    equity = run_request(jobs.request_of(best)).result.equity
    scale = math.sqrt(periods_per_year(TIMEFRAME_SECONDS["1h"]))
    expected = deflated_sharpe(equity[1:] / equity[:-1] - 1, [row["sharpe"] / scale for row in analysis["trials"]])
    assert analysis["data_snooping"] == {
        "trials": expected.trials,
        "deflated_sharpe": expected.deflated_sharpe,
        "expected_max_sharpe_per_bar": expected.expected_max_sharpe_per_bar,
        "best_sharpe_per_bar": expected.best_sharpe_per_bar,
        "warning": expected.warning,
    }
