"""Accuracy and macro-F1 over a closed label set, each with a seeded 95% bootstrap CI.

Invalid answers (`None`: the model said something that is not a label) count as wrong. Macro-F1
averages per-label F1 over every label that occurs in the gold answers or the predictions of the
(re)sample, so a label the model never predicts still counts, at F1 = 0.

The bootstrap (harness/scoring/bootstrap.py) resamples test items with replacement (B = 1000,
numpy's seeded generator); macro-F1 is recomputed per resample from per-item indicator matrices.
Accuracy takes the 2.5th and 97.5th percentiles of the resamples; macro-F1 the basic bootstrap
interval (`basic_ci`: its estimate is biased on small classes, and the percentile interval is not).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.scoring.bootstrap import (
    BOOTSTRAP_RESAMPLES,  # noqa: F401 (re-exported)
    basic_ci,
)
from harness.scoring.bootstrap import percentile_ci as _ci
from harness.scoring.bootstrap import resample_weights as _resample_weights
from harness.types import Metric, ScoreInput


def _macro_f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """Macro-F1 per row of (rows, labels) count matrices, over labels present in gold or pred."""
    present = (tp + fn + fp) > 0
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return (f1 * present).sum(axis=-1) / np.maximum(present.sum(axis=-1), 1)


def label_metrics(labels: Sequence[str], gold: Sequence[str], pred: Sequence[str | None],
                  seed: int) -> dict[str, Metric]:
    """Accuracy and macro-F1 with bootstrap CIs, and the invalid-answer rate."""
    n = len(gold)
    if n == 0:
        return {m: Metric(None, note="no samples") for m in ("accuracy", "macro_f1")}
    index = {label: i for i, label in enumerate(labels)}
    for g in gold:
        index.setdefault(g, len(index))  # a gold label outside the set still counts as a class
    k = len(index)
    gold_1h = np.zeros((n, k))
    gold_1h[np.arange(n), [index[g] for g in gold]] = 1
    pred_1h = np.zeros((n, k))
    for i, p in enumerate(pred):
        if p is not None and p in index:
            pred_1h[i, index[p]] = 1
    correct = (gold_1h * pred_1h).sum(axis=1)

    def counts(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        tp = w @ (gold_1h * pred_1h)
        return tp, w @ pred_1h - tp, w @ gold_1h - tp

    weights = _resample_weights(n, seed)
    acc_boot = weights @ correct / n
    f1_boot = _macro_f1(*counts(weights))
    f1 = float(_macro_f1(*counts(np.ones((1, n))))[0])
    invalid = np.array([p is None for p in pred], dtype=float)
    return {
        "accuracy": Metric(float(correct.mean()), *_ci(acc_boot)),
        "macro_f1": Metric(f1, *basic_ci(f1, f1_boot)),
        "invalid_rate": Metric(float(invalid.mean()), *_ci(weights @ invalid / n),
                               higher_is_better=False),
    }


def confused_pairs(gold: Sequence[str], pred: Sequence[str | None], top: int = 5
                   ) -> list[dict[str, Any]]:
    """The most frequent (gold, predicted) mistakes between valid labels."""
    pairs = Counter((g, p) for g, p in zip(gold, pred, strict=True) if p is not None and p != g)
    return [{"gold": g, "predicted": p, "count": c} for (g, p), c in pairs.most_common(top)]


class LabelScorer:
    """Accuracy, macro-F1 and invalid rate for tasks whose answer space is a closed label set."""

    name = "labels"

    def __call__(self, inp: ScoreInput) -> dict[str, Metric]:
        return label_metrics(inp.task.answer_space.labels, [s.target for s in inp.samples],
                             inp.answers, inp.seed)
