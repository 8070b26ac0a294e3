"""Paired significance between two cells scored on the same test samples.

Two strategies answering the same items are not independent samples: the right test looks at
item-by-item differences. For 0/1 per-item scores (correct or not) that is McNemar's exact test,
which only counts the discordant items (b: A right and B wrong, c: the reverse) and asks how
likely so lopsided a split is under a fair coin. For continuous per-item scores (token-F1) it is a
paired bootstrap of the mean difference. Both are two-sided.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import comb

import numpy as np

from harness.scoring.bootstrap import resample_weights


@dataclass(frozen=True)
class PairedTest:
    """The outcome of comparing cell A with cell B on their shared items."""

    test: str  # "McNemar exact" or "paired bootstrap"
    p_value: float
    n: int  # shared items
    mean_difference: float  # mean(A) - mean(B) over the shared items


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts b and c."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def paired_bootstrap_p(a: Sequence[float], b: Sequence[float], seed: int = 0) -> float:
    """Two-sided p-value that mean(a - b) differs from 0, by resampling items (B = 1000)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if d.size == 0 or not d.any():
        return 1.0
    means = resample_weights(d.size, seed) @ d / d.size
    share_le, share_ge = float(np.mean(means <= 0)), float(np.mean(means >= 0))
    return min(1.0, 2 * min(share_le, share_ge))


def paired_test(a: dict[str, float], b: dict[str, float], seed: int = 0) -> PairedTest | None:
    """Compare per-item scores keyed by sample id; None when the cells share no item."""
    shared = sorted(a.keys() & b.keys())
    if not shared:
        return None
    xa = [a[i] for i in shared]
    xb = [b[i] for i in shared]
    diff = float(np.mean(xa) - np.mean(xb))
    if all(v in (0.0, 1.0) for v in xa + xb):
        only_a = sum(1 for x, y in zip(xa, xb, strict=True) if x == 1.0 and y == 0.0)
        only_b = sum(1 for x, y in zip(xa, xb, strict=True) if x == 0.0 and y == 1.0)
        return PairedTest("McNemar exact", mcnemar_exact(only_a, only_b), len(shared), diff)
    return PairedTest("paired bootstrap", paired_bootstrap_p(xa, xb, seed), len(shared), diff)
