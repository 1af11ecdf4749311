"""Probability of backtest overfitting (CSCV): against a direct reading of Bailey et al.'s procedure on raw
returns, on noise (about a coin flip), on a real edge (near 0), and stored with every optimisation."""

from __future__ import annotations

import itertools
import math

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


def pbo_by_loop(moments: np.ndarray) -> dict[str, float]:
    """The moments form split by split in a Python loop: each half's sums added block by block in block
    order, each trial's Sharpe, the in-sample winner, its out-of-sample rank (ties: the average rank)."""
    trials, blocks, _ = moments.shape
    logits, winners_is, winners_oos = [], [], []

    def sharpe(count: float, total: float, squares: float) -> float:
        variance = max(squares - total * total / count, 0.0) / max(count - 1, 1)
        return total / count / math.sqrt(variance) if variance > 0 else 0.0

    for chosen in itertools.combinations(range(blocks), blocks // 2):
        rest = [b for b in range(blocks) if b not in chosen]
        sums_is, sums_oos = np.zeros((trials, 3)), np.zeros((trials, 3))
        for n in range(trials):
            for b in chosen:
                sums_is[n] = sums_is[n] + moments[n, b] if b != chosen[0] else moments[n, b]
            for b in rest:
                sums_oos[n] = sums_oos[n] + moments[n, b] if b != rest[0] else moments[n, b]
        in_sample = [sharpe(*sums_is[n]) for n in range(trials)]
        out_of_sample = [sharpe(*sums_oos[n]) for n in range(trials)]
        best = int(np.argmax(in_sample))
        below = sum(value < out_of_sample[best] for value in out_of_sample)
        equal = sum(value == out_of_sample[best] for value in out_of_sample)
        omega = (below + (equal + 1) / 2) / (trials + 1)
        logits.append(math.log(omega / (1 - omega)))
        winners_is.append(in_sample[best])
        winners_oos.append(out_of_sample[best])
    return {
        "pbo": float(np.mean(np.array(logits) <= 0)),
        "median_logit": float(np.median(logits)),
        "probability_oos_loss": float(np.mean(np.array(winners_oos) < 0)),
        "degradation_slope": float(np.polyfit(winners_is, winners_oos, 1)[0]),
    }


def pbo_by_matrix_products(moments: np.ndarray) -> dict[str, float]:
    """The previous implementation: both halves as 0/1 matrix products, each Sharpe matrix computed."""
    trials, blocks, _ = moments.shape
    chosen = np.array(list(itertools.combinations(range(blocks), blocks // 2)))
    in_sample = np.zeros((len(chosen), blocks))
    np.put_along_axis(in_sample, chosen, 1.0, axis=1)
    per_stat = [np.ascontiguousarray(moments[:, :, k].T) for k in range(3)]

    def sharpe(count: np.ndarray, total: np.ndarray, squares: np.ndarray) -> np.ndarray:
        variance = np.maximum(squares - total * total / count, 0.0) / np.maximum(count - 1, 1)
        deviation = np.sqrt(variance)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(deviation > 0, total / count / deviation, 0.0)

    is_sharpe = sharpe(*(in_sample @ stat for stat in per_stat))
    oos_sharpe = sharpe(*((1.0 - in_sample) @ stat for stat in per_stat))
    rows = np.arange(len(chosen))
    winner = is_sharpe.argmax(axis=1)
    winner_oos = oos_sharpe[rows, winner]
    rank = (oos_sharpe < winner_oos[:, None]).sum(axis=1) + ((oos_sharpe == winner_oos[:, None]).sum(axis=1) + 1) / 2
    logit = np.log(rank / (trials + 1) / (1 - rank / (trials + 1)))
    return {
        "pbo": float((logit <= 0).mean()),
        "median_logit": float(np.median(logit)),
        "probability_oos_loss": float((winner_oos < 0).mean()),
        "degradation_slope": float(np.polyfit(is_sharpe[rows, winner], winner_oos, 1)[0]),
    }


def moments_of(returns: np.ndarray, blocks: int) -> np.ndarray:
    equity = np.vstack([np.ones(returns.shape[1]), np.cumprod(1 + returns, axis=0)])
    return np.stack([block_moments(equity[:, n], blocks) for n in range(returns.shape[1])])


def figures(report: object) -> dict[str, float]:
    return {key: getattr(report, key) for key in ("pbo", "median_logit", "probability_oos_loss", "degradation_slope")}


def test_pbo_over_all_splits_at_once_equals_a_loop_over_the_splits():
    generator = np.random.default_rng(11)
    returns = generator.normal(0, 0.01, size=(900, 14)) + np.linspace(-0.0003, 0.0003, 14)
    moments = moments_of(returns, 8)
    by_loop = pbo_by_loop(moments)
    assert figures(pbo_from_moments(moments)) == pytest.approx(by_loop, rel=1e-12, abs=1e-12)
    assert pbo_from_moments(moments).pbo == by_loop["pbo"]


def test_pbo_over_all_splits_at_once_equals_the_previous_matrix_products_exactly():
    generator = np.random.default_rng(5)
    returns = generator.normal(0, 0.01, size=(3_200, 100)) + np.linspace(-0.0002, 0.0002, 100)
    moments = moments_of(returns, BLOCKS)  # the optimisation's shape: 100 trials, 12,870 splits
    assert figures(pbo_from_moments(moments)) == pbo_by_matrix_products(moments)
    small = moments_of(returns[:, :12], 8)
    assert figures(pbo_from_moments(small)) == pbo_by_matrix_products(small)


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
    """Ranking re-runs the best trial through the batches' own run on the bars they read (no second read):
    the same figures as the deflated Sharpe on the curve of that trial's single backtest."""
    from dsta.data.backtesting import jobs, optimisation, trial_batches
    from dsta.data.backtesting.analysis import deflated_sharpe
    from dsta.data.backtesting.metrics import periods_per_year
    from dsta.data.backtesting.runner import run_request
    from dsta.data.contracts import TIMEFRAME_SECONDS, BacktestRequest
    from dsta.data.management.commands.load_demo_data import DEMO_DIR
    from dsta.data.models import BacktestJob, BacktestResult
    from dsta.data.services import candles_import_file

    candles_import_file(path=DEMO_DIR / "BTC_USDT-1h.csv.gz", exchange="binance", symbol="BTC/USDT", timeframe="1h")
    base = BacktestRequest(strategy="sma_cross", params={}, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    parent = optimisation.optimisation_create(base, method="grid", space={"fast": [5, 10, 15], "slow": [30, 50]})
    series: dict[tuple[object, ...], object] = {}  # a worker's bars of this optimisation (actors._series_of)
    reads = []
    read = trial_batches.load_bars
    monkeypatch.setattr(trial_batches, "load_bars", lambda **where: reads.append(where) or read(**where))

    def run_batch(trial_ids: list[str]) -> None:
        trial_batches.batch_execute(trial_ids, series=series)  # type: ignore[arg-type]
        optimisation.trials_progress(str(parent.pk), series=series)  # type: ignore[arg-type]

    monkeypatch.setattr(trial_batches, "split", lambda ids: [list(ids[:3]), list(ids[3:])])
    optimisation.grid_start(str(parent.pk), send_batch=run_batch)
    assert len(reads) == 1  # the first batch's; the second batch and the ranking reuse them
    analysis = BacktestResult.objects.using("data").get(job=parent).analysis
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
