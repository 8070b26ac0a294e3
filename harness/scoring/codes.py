"""Metrics for tasks whose answers are codes of a hierarchical code system (ICD-10-CM and the like).

The scorer only needs a *code system*: an object with `normalize`, `is_valid`, `is_billable`,
`category` and `chapter` (see `CodeSystem`); the task supplies it, so this module knows nothing
about any particular code set.

Answers. A parsed answer is `None` (nothing code-like in the model's reply) or a string of one or
more normalised codes separated by commas, the first being the predicted primary code. A code-like
string that is not in the code set is kept as is, so it can be counted as an *invalid code* rather
than silently as "no answer".

Per-item metrics (each a mean over test items, with a seeded 95% bootstrap CI):

- `exact_accuracy` (the primary metric): predicted primary code == gold primary code.
- `category_accuracy`: same 3-character category. Credited when the predicted code's 3-character
  category exists in the code set, even if the full code does not (E11.99 for gold E11.65 is
  category-correct and also counted in `invalid_code_rate`).
- `chapter_accuracy`: same chapter, through the predicted code's category (same rule).
- `invalid_code_rate`: an answer was given but its primary code is not in the code set.
- `no_answer_rate`: nothing code-like in the reply (or the backend returned no text that parsed).
- `nonbillable_rate`: the primary code exists but is not billable (a category such as E11 with
  children). Such an answer is wrong for `exact_accuracy` but may be right for the category.
  `invalid_code_rate`, `no_answer_rate` and `nonbillable_rate` are lower-is-better.

Set metrics over *all* codes of a note (primary + secondary): the gold set of item i is
{primary} + meta["secondary"]; the predicted set is every code in the answer (an invalid code is an
ordinary false positive). When the model answers with the primary code only, as the default
instructions ask, the same definition applies: recall is then bounded by the share of primaries
among gold codes. `micro_f1` pools true/false positives and false negatives over all items;
`macro_f1` averages per-code F1 over every code present in the gold or predicted sets of the
(re)sample (a gold code never predicted counts with F1 = 0).

Candidate metrics, for strategies that retrieve codes (rag over the code set: each retrieved
document id is a code), from the strategy's per-sample `retrieved` extras; "not scored" otherwise.
They separate a retrieval miss from a model that ignores good candidates:

- `candidate_recall_at_k`: the gold primary code is among the k retrieved codes (the ceiling of
  exact accuracy for a model that only picks from the candidates).
- `candidate_category_recall_at_k`: a retrieved code has the gold code's 3-character category.
- `answer_in_candidates_rate`: the predicted primary code is one of the retrieved codes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from harness.scoring.bootstrap import basic_ci, mean_metric
from harness.scoring.classification import _ci, _macro_f1, _resample_weights, confused_pairs
from harness.types import Metric, Sample, ScoreInput

SEPARATOR = ","

PER_ITEM_METRICS = ("exact_accuracy", "category_accuracy", "chapter_accuracy", "invalid_code_rate",
                    "no_answer_rate", "nonbillable_rate")
SET_METRICS = ("micro_f1", "macro_f1")
CANDIDATE_METRICS = ("candidate_recall_at_k", "candidate_category_recall_at_k",
                     "answer_in_candidates_rate")
LOWER_IS_BETTER = frozenset({"invalid_code_rate", "no_answer_rate", "nonbillable_rate"})


class CodeSystem(Protocol):
    """What the scorer needs from a code set. Every method accepts any spelling of a code."""

    name: str

    def normalize(self, code: str) -> str | None: ...  # canonical form, None if not code-like

    def is_valid(self, code: str) -> bool: ...

    def is_billable(self, code: str) -> bool: ...

    def category(self, code: str) -> str | None: ...  # None when the category does not exist

    def chapter(self, code: str) -> str | None: ...


def split_answer(answer: str | None) -> list[str]:
    """The codes in a parsed answer, in order, without duplicates; [] for None."""
    if not answer:
        return []
    out: list[str] = []
    for part in answer.split(SEPARATOR):
        part = part.strip()
        if part and part not in out:
            out.append(part)
    return out


def join_codes(codes: Sequence[str]) -> str:
    return f"{SEPARATOR} ".join(codes)


def _norm(system: CodeSystem, code: str) -> str:
    return system.normalize(code) or code.strip().upper()


def primary_code_match(system: CodeSystem, sample: Sample, answer: str | None) -> float:
    """1.0 when the answer's primary code is the gold primary code (exact_accuracy per item)."""
    primary = (split_answer(answer) or [None])[0]
    return float(primary is not None and _norm(system, primary) == _norm(system, sample.target))


def code_metrics(system: CodeSystem, gold: Sequence[str], gold_secondary: Sequence[Sequence[str]],
                 answers: Sequence[str | None], seed: int) -> dict[str, Metric]:
    """All code metrics (see the module docstring), each with a seeded 95% bootstrap CI."""
    n = len(gold)
    if not (len(gold_secondary) == len(answers) == n):
        raise ValueError("gold, gold_secondary and answers must have the same length")
    names = PER_ITEM_METRICS + SET_METRICS
    if n == 0:
        return {m: Metric(None, higher_is_better=m not in LOWER_IS_BETTER, note="no samples")
                for m in names}

    gold_n = [_norm(system, g) for g in gold]
    pred_sets = [[_norm(system, c) for c in split_answer(a)] for a in answers]
    primary = [p[0] if p else None for p in pred_sets]

    def same(fn, g: str, p: str | None) -> bool:
        if p is None:
            return False
        gv, pv = fn(g), fn(p)
        return gv is not None and gv == pv

    valid = [p is not None and system.is_valid(p) for p in primary]
    indicators = {
        "exact_accuracy": [p is not None and p == g for g, p in zip(gold_n, primary, strict=True)],
        "category_accuracy": [same(system.category, g, p) for g, p in zip(gold_n, primary, strict=True)],
        "chapter_accuracy": [same(system.chapter, g, p) for g, p in zip(gold_n, primary, strict=True)],
        "invalid_code_rate": [p is not None and not v for p, v in zip(primary, valid, strict=True)],
        "no_answer_rate": [p is None for p in primary],
        "nonbillable_rate": [v and not system.is_billable(p) for p, v in zip(primary, valid, strict=True)],
    }
    weights = _resample_weights(n, seed)
    metrics: dict[str, Metric] = {}
    for name, flags in indicators.items():
        x = np.asarray(flags, dtype=np.float64)
        metrics[name] = Metric(float(x.mean()), *_ci(weights @ x / n),
                               higher_is_better=name not in LOWER_IS_BETTER)
    gold_sets = [list(dict.fromkeys([g, *(_norm(system, s) for s in sec)]))
                 for g, sec in zip(gold_n, gold_secondary, strict=True)]
    return metrics | set_f1_metrics(gold_sets, pred_sets, weights)


def set_f1_metrics(gold_sets: Sequence[Sequence[str]], pred_sets: Sequence[Sequence[str]],
                   weights: np.ndarray) -> dict[str, Metric]:
    """Micro- and macro-F1 over every code of each note (gold: primary + secondary), with basic
    bootstrap CIs from the resample `weights`."""
    n = len(gold_sets)
    index: dict[str, int] = {}
    for codes in [*gold_sets, *pred_sets]:
        for c in codes:
            index.setdefault(c, len(index))
    gold_1h = np.zeros((n, len(index)))
    pred_1h = np.zeros((n, len(index)))
    for i, codes in enumerate(gold_sets):
        gold_1h[i, [index[c] for c in codes]] = 1
    for i, codes in enumerate(pred_sets):
        if codes:
            pred_1h[i, [index[c] for c in codes]] = 1
    both = gold_1h * pred_1h

    def counts(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        tp = w @ both
        return tp, w @ pred_1h - tp, w @ gold_1h - tp

    def micro(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
        tp, fp, fn = tp.sum(axis=-1), fp.sum(axis=-1), fn.sum(axis=-1)
        denom = 2 * tp + fp + fn
        return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)

    full, boot = counts(np.ones((1, n))), counts(weights)
    note = ("gold = primary + secondary codes; predicted = every code in the answer"
            + ("" if any(len(p) > 1 for p in pred_sets) else " (the model gave one code per note)"))
    micro_f1, macro_f1 = float(micro(*full)[0]), float(_macro_f1(*full)[0])
    return {"micro_f1": Metric(micro_f1, *basic_ci(micro_f1, micro(*boot)), note=note),
            "macro_f1": Metric(macro_f1, *basic_ci(macro_f1, _macro_f1(*boot)), note=note)}


def code_details(system: CodeSystem, samples: Sequence[Sample], answers: Sequence[str | None],
                 top: int = 5) -> dict[str, Any]:
    """Facts beside the metrics: frequent confusions, sibling confusions, invalid codes seen."""
    gold = [_norm(system, s.target) for s in samples]
    primary = [(split_answer(a) or [None])[0] for a in answers]
    primary = [None if p is None else _norm(system, p) for p in primary]
    wrong = [(g, p) for g, p in zip(gold, primary, strict=True) if p is not None and p != g]
    sibling = sum(1 for g, p in wrong if system.category(g) is not None
                  and system.category(g) == system.category(p))
    invalid = Counter(p for p in primary if p is not None and not system.is_valid(p))
    return {
        "code_system": system.name,
        "confused_pairs": confused_pairs(gold, primary, top=top),
        "wrong_valid_same_category": sibling,
        "wrong_answers": len(wrong),
        "invalid_codes": [{"code": c, "count": n} for c, n in invalid.most_common(top)],
    }


def candidate_metrics(system: CodeSystem, gold: Sequence[str], answers: Sequence[str | None],
                      extras: Sequence[Mapping[str, Any]] | None, seed: int) -> dict[str, Metric]:
    """The candidate metrics (see the module docstring), each with a seeded 95% bootstrap CI."""
    if not extras or not any("retrieved" in (e or {}) for e in extras):
        return {m: Metric(None, note="not scored: this strategy retrieves no candidate codes")
                for m in CANDIDATE_METRICS}
    rows = [(g, a, e) for g, a, e in zip(gold, answers, extras, strict=True)
            if "retrieved" in (e or {})]
    k = max(len(e["retrieved"]) for _, _, e in rows)
    indicators: dict[str, list[float]] = {m: [] for m in CANDIDATE_METRICS}
    for g, a, e in rows:
        g = _norm(system, g)
        candidates = [_norm(system, r["doc"]) for r in e["retrieved"]]
        primary = (split_answer(a) or [None])[0]
        indicators["candidate_recall_at_k"].append(g in candidates)
        indicators["candidate_category_recall_at_k"].append(
            system.category(g) is not None and any(system.category(c) == system.category(g)
                                                   for c in candidates))
        indicators["answer_in_candidates_rate"].append(
            primary is not None and _norm(system, primary) in candidates)
    note = f"k={k}, over {len(rows)} items with retrieved codes"
    return {name: mean_metric([float(f) for f in flags], seed, note=note)
            for name, flags in indicators.items()}


class CodeScorer:
    """Exact / category / chapter accuracy, invalid-code and no-answer rates, micro/macro-F1, and
    for strategies that retrieve codes, candidate recall."""

    name = "codes"

    def __init__(self, system: CodeSystem) -> None:
        self.system = system

    def __call__(self, inp: ScoreInput) -> dict[str, Metric]:
        gold = [s.target for s in inp.samples]
        secondary = [tuple(s.meta.get("secondary", ())) for s in inp.samples]
        return {**code_metrics(self.system, gold, secondary, inp.answers, inp.seed),
                **candidate_metrics(self.system, gold, inp.answers, inp.extras, inp.seed)}
