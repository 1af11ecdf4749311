"""Probability of backtest overfitting (PBO) by combinatorially symmetric cross-validation (CSCV), after
Bailey, Borwein, Lopez de Prado and Zhu, "The Probability of Backtest Overfitting" (2015).

The bars of an optimisation are cut into S equal blocks. For every way of choosing S/2 blocks as the
in-sample half (the rest is out-of-sample), the trial with the best in-sample Sharpe is taken and its
out-of-sample Sharpe ranked among all trials': ω = rank / (N + 1), λ = log(ω / (1 - ω)). PBO is the share of
splits with λ <= 0, i.e. where the in-sample winner lands at or below the out-of-sample median. Near 0: the
optimum keeps its edge out of sample; 0.5 and above: choosing by backtest is no better than choosing at random.

Each trial keeps only (count, sum, sum of squares) of its per-bar returns per block, so the Sharpe of any union
of blocks is exact and an optimisation of thousands of trials stores a few numbers per trial.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from dsta.data.models import BacktestJob

BLOCKS = 16  # S: C(16, 8) = 12,870 splits
MIN_TRIALS = 10  # fewer trials say little about the selection process
MIN_BARS_PER_BLOCK = 10
HIGH_PBO = 0.5


def block_moments(equity: np.ndarray, blocks: int = BLOCKS) -> np.ndarray:
    """(blocks, 3): count, sum and sum of squares of the per-bar returns in each contiguous block."""
    returns = equity[1:] / equity[:-1] - 1
    parts = np.array_split(returns, blocks)
    return np.array([(len(part), float(part.sum()), float((part * part).sum())) for part in parts])


@dataclass(frozen=True)
class OverfittingReport:
    trials: int
    blocks: int
    splits: int
    pbo: float  # probability of backtest overfitting
    median_logit: float  # median λ: above 0, the in-sample winner usually beats the out-of-sample median
    probability_oos_loss: float  # share of splits where the in-sample winner loses out of sample (Sharpe < 0)
    degradation_slope: float  # least-squares slope of out-of-sample on in-sample Sharpe of the winners
    warning: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _sharpe(count: np.ndarray, total: np.ndarray, squares: np.ndarray) -> np.ndarray:
    # mean / sample deviation, 0 where the deviation is 0; in place (arrays of splits x trials, 10^6 each)
    mean: np.ndarray = total / count
    variance = total * total
    variance /= count
    np.subtract(squares, variance, out=variance)
    np.maximum(variance, 0.0, out=variance)
    variance /= np.maximum(count - 1, 1)
    deviation = np.sqrt(variance, out=variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean /= deviation
    mean[~(deviation > 0)] = 0.0
    return mean


@functools.cache
def _halves(blocks: int) -> np.ndarray:
    """The in-sample blocks of every split, (splits, blocks / 2), in lexicographic order: the out-of-sample
    half of split i (the complement, in block order) is the in-sample half of split splits - 1 - i."""
    return np.array(list(itertools.combinations(range(blocks), blocks // 2)))


@functools.cache
def _prefix_steps(blocks: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """How to build every split's in-sample sum block by block, sharing the partial sums of splits whose
    first chosen blocks agree: per depth, each distinct prefix's parent prefix (one depth up) and its last
    block; the last depth's prefixes are the splits themselves, in order."""
    chosen = _halves(blocks)
    steps = []
    parents = np.zeros(len(chosen), dtype=np.int64)  # depth 0: the one empty prefix
    for depth in range(1, chosen.shape[1] + 1):
        prefixes, first, split_prefix = np.unique(chosen[:, :depth], axis=0, return_index=True, return_inverse=True)
        steps.append((parents[first], prefixes[:, -1]))
        parents = split_prefix.reshape(-1)
    return tuple(steps)


def _half_sums(stat: np.ndarray, blocks: int) -> np.ndarray:
    """(splits, trials): each split's sum of `stat` (blocks, trials) over its in-sample blocks, added one
    block at a time in block order (defined here: a 0/1 matrix product, the previous form, leaves the order
    to the BLAS); splits with the same first blocks share those partial sums (a quarter of the additions)."""
    total = np.zeros((1, stat.shape[1]))
    for parent, block in _prefix_steps(blocks):
        total = total[parent] + stat[block]
    return total


def warm_up() -> None:
    """Build the splits' tables (tens of ms, once per process) ahead of the first optimisation's ranking: in a
    pool, whichever worker stores the last batch ranks, often one that never ranked before (worker boot)."""
    _prefix_steps(BLOCKS)


def pbo_from_moments(moments: np.ndarray) -> OverfittingReport:
    """`moments`: (trials, blocks, 3) as `block_moments` gives per trial, all over the same bars."""
    trials, blocks, _ = moments.shape
    if blocks % 2 or blocks < 2:
        raise ValueError("CSCV needs an even number of blocks")
    if trials < 2:
        raise ValueError("CSCV needs at least two trials")
    chosen = _halves(blocks)  # one row per split
    # each (blocks, trials), contiguous; the bar counts per block are the same for every trial of an
    # optimisation (same bars): one column then, broadcast (the same numbers, a third less work)
    per_stat = [np.ascontiguousarray(moments[:, :, k].T) for k in range(3)]
    if (per_stat[0] == per_stat[0][:, :1]).all():
        per_stat[0] = per_stat[0][:, :1]
    is_sharpe = _sharpe(*(_half_sums(stat, blocks) for stat in per_stat))  # (splits, trials)
    oos_sharpe = is_sharpe[::-1]  # the complement of split i is split splits - 1 - i
    winner = is_sharpe.argmax(axis=1)
    rows = np.arange(len(chosen))
    winner_oos = oos_sharpe[rows, winner]
    # Rank 1..N of the winner's out-of-sample Sharpe (ties share the average rank).
    below = (oos_sharpe < winner_oos[:, None]).sum(axis=1)
    equal = (oos_sharpe == winner_oos[:, None]).sum(axis=1)
    rank = below + (equal + 1) / 2
    omega = rank / (trials + 1)
    logit = np.log(omega / (1 - omega))
    pbo = float((logit <= 0).mean())
    winner_is = is_sharpe[rows, winner]
    slope = float(np.polyfit(winner_is, winner_oos, 1)[0]) if np.ptp(winner_is) > 0 else 0.0
    warning = (
        f"probability of backtest overfitting {pbo:.2f} >= {HIGH_PBO}: the in-sample best of these {trials} trials"
        " ranks at or below the out-of-sample median in most splits; treat the optimum as overfitted"
        if pbo >= HIGH_PBO
        else ""
    )
    return OverfittingReport(
        trials=trials,
        blocks=blocks,
        splits=len(chosen),
        pbo=pbo,
        median_logit=float(np.median(logit)),
        probability_oos_loss=float((winner_oos < 0).mean()),
        degradation_slope=slope if math.isfinite(slope) else 0.0,
        warning=warning,
    )


def pbo_from_returns(returns: np.ndarray, blocks: int = BLOCKS) -> OverfittingReport:
    """`returns`: (bars, trials) per-bar returns; the reference form of the test, on raw series."""
    equity = np.vstack([np.ones(returns.shape[1]), np.cumprod(1 + returns, axis=0)])
    return pbo_from_moments(np.stack([block_moments(equity[:, n], blocks) for n in range(returns.shape[1])]))


def optimisation_overfitting(moments_by_trial: list[list[list[float]]]) -> dict[str, object]:
    """The report stored with an optimisation (its `overfitting` analysis), or why there is none."""
    usable = [m for m in moments_by_trial if m and len(m) == BLOCKS]
    if len(usable) < MIN_TRIALS:
        return {"computed": False, "reason": f"{len(usable)} trials with returns; CSCV needs at least {MIN_TRIALS}"}
    moments = np.array(usable, dtype=np.float64)
    if moments[0, :, 0].min() < MIN_BARS_PER_BLOCK:
        return {"computed": False, "reason": f"fewer than {MIN_BARS_PER_BLOCK * BLOCKS} bars for {BLOCKS} blocks"}
    return {"computed": True, **pbo_from_moments(moments).as_dict()}


def trials_overfitting(parent: BacktestJob) -> dict[str, object]:
    """`optimisation_overfitting` over the succeeded trials of an optimisation job (the hook its ranking calls)."""
    from dsta.data.models import BacktestJob, BacktestResult  # noqa: F811 - at run time; the hint is TYPE_CHECKING

    analyses = (
        BacktestResult.objects.using("data")
        .filter(job__parent=parent, job__status=BacktestJob.Status.SUCCEEDED)
        .values_list("analysis", flat=True)
    )
    return optimisation_overfitting([analysis.get("block_moments") for analysis in analyses])
