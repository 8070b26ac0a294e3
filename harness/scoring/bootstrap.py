"""Seeded percentile bootstrap shared by every scorer.

Test items are resampled with replacement (B = 1000, numpy's seeded generator) and the 2.5th and
97.5th percentiles of the resampled statistic give the 95% CI. All resamples are computed at once
from a (B, n) count matrix, which keeps 1000 resamples of a few thousand items well under a second.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.types import Metric

BOOTSTRAP_RESAMPLES = 1000


def resample_weights(n: int, seed: int, resamples: int = BOOTSTRAP_RESAMPLES) -> np.ndarray:
    """(B, n) matrix: how often each item is drawn in each bootstrap resample."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    weights = np.zeros((resamples, n), dtype=np.float64)
    np.add.at(weights, (np.arange(resamples)[:, None], idx), 1.0)
    return weights


def percentile_ci(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def bootstrap_ci(values: Sequence[float] | np.ndarray, seed: int) -> tuple[float, float]:
    """95% CI of the mean of per-item `values`."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    return percentile_ci(resample_weights(x.size, seed) @ x / x.size)


def mean_metric(values: Sequence[float], seed: int, note: str = "",
                higher_is_better: bool = True) -> Metric:
    """The mean of per-item `values` with its 95% CI; "no items to score" (None) when empty."""
    if not len(values):
        return Metric(None, note=note or "no items to score")
    low, high = bootstrap_ci(values, seed)
    return Metric(float(np.mean(values)), low, high, higher_is_better, note)
