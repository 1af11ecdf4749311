"""Series checks on columns (numpy): OHLC consistency, volume, time order, outliers, and gaps on the grid.

Nothing is dropped here: every rule reports its count and the first examples, and the caller decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

EXAMPLES_PER_RULE = 5
# 0.6745 is the 0.75 quantile of the standard normal: it scales the MAD to a standard deviation.
MAD_TO_SIGMA = 0.6745
DEFAULT_OUTLIER_Z = 10.0


@dataclass(frozen=True)
class RuleOutcome:
    rule: str
    description: str
    violations: int
    example_indices: tuple[int, ...]


@dataclass(frozen=True)
class GridGap:
    """`missing` bars on the grid, from `first_missing_us` to `last_missing_us` inclusive."""

    first_missing_us: int
    last_missing_us: int
    missing: int


def robust_z_scores(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Modified z-score (Iglewicz & Hoaglin): 0.6745 * (x - median) / MAD; 0 where the MAD is 0."""
    if len(values) == 0:
        return np.zeros(0)
    median = np.median(values)
    mad = np.median(np.abs(values - median))
    if mad == 0:
        return np.zeros_like(values)
    scores: npt.NDArray[np.float64] = MAD_TO_SIGMA * (values - median) / mad
    return scores


def _outcome(rule: str, description: str, mask: npt.NDArray[np.bool_]) -> RuleOutcome:
    indices = np.flatnonzero(mask)
    return RuleOutcome(rule, description, int(len(indices)), tuple(int(i) for i in indices[:EXAMPLES_PER_RULE]))


def validate(
    *,
    open_time_us: npt.NDArray[np.int64],
    open: npt.NDArray[np.float64],
    high: npt.NDArray[np.float64],
    low: npt.NDArray[np.float64],
    close: npt.NDArray[np.float64],
    volume: npt.NDArray[np.float64],
    step_us: int,
    outlier_z: float = DEFAULT_OUTLIER_Z,
) -> list[RuleOutcome]:
    """Every rule over a whole series; an example index points at the offending row (for the time rules,
    at the row that breaks the order; for outliers, at the bar whose close-to-close log return is extreme)."""
    time_steps = np.diff(open_time_us)
    log_returns = np.diff(np.log(np.where(close > 0, close, np.nan)))
    z = robust_z_scores(np.nan_to_num(log_returns))
    return [
        _outcome("high_ge_open_close", "high >= max(open, close)", high < np.maximum(open, close)),
        _outcome("low_le_open_close", "low <= min(open, close)", low > np.minimum(open, close)),
        _outcome("volume_non_negative", "volume >= 0", volume < 0),
        _outcome("prices_positive", "open, high, low, close > 0", (np.minimum.reduce([open, high, low, close]) <= 0)),
        _outcome("time_increasing", "open time strictly increasing", np.concatenate([[False], time_steps <= 0])),
        _outcome(
            "time_on_grid",
            "open time a whole number of steps from the first bar",
            (open_time_us - open_time_us[:1]) % step_us != 0 if len(open_time_us) else np.zeros(0, bool),
        ),
        _outcome(
            f"return_outlier_z{outlier_z:g}",
            f"|robust z| of the log return <= {outlier_z:g}",
            np.concatenate([[False], np.abs(z) > outlier_z]) if len(close) else np.zeros(0, bool),
        ),
    ]


def grid_gaps(
    *, open_time_us: npt.NDArray[np.int64], step_us: int, start_us: int | None = None, end_us: int | None = None
) -> list[GridGap]:
    """Runs of missing bars on the grid `first + k * step`: between the first and the last bar, and also
    before the first and after the last when an expected range [start, end) is given."""
    times = open_time_us
    if start_us is not None:  # a virtual bar one step before the range: a late first bar shows as a gap
        times = np.concatenate([[start_us - step_us], times])
    if end_us is not None:  # the next expected bar after the range: an early last bar shows as a gap
        times = np.concatenate([times, [end_us]])
    steps = np.diff(times)
    (holes,) = np.nonzero(steps > step_us)
    return [
        GridGap(
            first_missing_us=int(times[i] + step_us),
            last_missing_us=int(times[i + 1] - step_us),
            missing=int(-(-steps[i] // step_us) - 1),
        )
        for i in holes
    ]
