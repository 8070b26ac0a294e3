"""Leakage audit: how much of a task's test split a strategy could answer by copying from train.

Short-intent data is full of near-copies ("Where can I use my card?" is in both Banking77 splits),
and a strategy that retrieves labelled train items (rag's nearest-neighbour shots) scores on them
without generalising. The audit makes that visible on every cell record and leaderboard table.

The measure: texts are normalised (lower case, every run of non-alphanumeric characters one
space), then compared by the Jaccard similarity of their sets of character 5-grams. Each test item
gets the similarity of its nearest train item (an inverted index over the 5-grams, so all of
Banking77 takes about a second). "exact" is normalised equality (similarity 1.0); the novelty
buckets split test items at 0.5 and 0.8.

For free-text tasks with a corpus the audit also counts test items whose reference answer occurs
verbatim (normalised) in the corpus: expected for QA, reported so a reader knows extraction works.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from harness.types import Sample, ScoreInput, Task

MEASURE = "character 5-gram Jaccard similarity of normalised text (lower case, punctuation dropped)"
NGRAM = 5
NEAR, SIMILAR = 0.8, 0.5  # near-duplicate and "similar" thresholds
BUCKETS = (("<0.5", 0.0, SIMILAR), ("0.5-0.8", SIMILAR, NEAR), (">=0.8", NEAR, 1.01))
WARN_NEAR_SHARE = 0.10  # user data with more test items this close to train gets a warning


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def ngrams(text: str) -> set[str]:
    padded = f" {text} "
    return {padded[i:i + NGRAM] for i in range(max(len(padded) - NGRAM + 1, 1))}


def nearest_train(test: Sequence[str], train: Sequence[str]) -> list[tuple[float, int]]:
    """For each test text, (similarity, index) of its nearest train text (-1 when train is empty)."""
    vocab: dict[str, int] = {}
    train_sets = [ngrams(normalise(t)) for t in train]
    postings: list[list[int]] = []
    for j, grams in enumerate(train_sets):
        for g in grams:
            if g not in vocab:
                vocab[g] = len(postings)
                postings.append([])
            postings[vocab[g]].append(j)
    arrays = [np.asarray(p, dtype=np.int64) for p in postings]
    sizes = np.array([len(s) for s in train_sets], dtype=np.float64)
    out = []
    for text in test:
        grams = ngrams(normalise(text))
        hits = [arrays[vocab[g]] for g in grams if g in vocab]
        if not hits:
            out.append((0.0, -1))
            continue
        shared = np.bincount(np.concatenate(hits), minlength=len(train_sets)).astype(np.float64)
        jaccard = shared / (len(grams) + sizes - shared)
        best = int(jaccard.argmax())
        out.append((float(jaccard[best]), best))
    return out


@dataclass
class Audit:
    """The audit of one task's test split against its train split (see the module docstring)."""

    n_test: int
    n_train: int
    exact: int  # test items whose normalised text equals a train item's
    exact_same_label: int
    near: int  # similarity >= NEAR (exact included)
    near_same_label: int
    similar: int  # similarity >= SIMILAR (near included)
    examples: list[dict] = field(default_factory=list)  # the three closest pairs
    answer_in_corpus: int | None = None  # free-text tasks with a corpus; None = not applicable
    nearest: dict[str, float] = field(default_factory=dict)  # test id -> nearest similarity

    def summary(self) -> dict:
        """What a cell record keeps (no per-item list: the predictions file has the ids)."""
        keys = ("n_test", "n_train", "exact", "exact_same_label", "near", "near_same_label",
                "similar", "examples", "answer_in_corpus")
        return {"measure": MEASURE, **{k: getattr(self, k) for k in keys}}

    @classmethod
    def from_summary(cls, summary: dict) -> Audit:
        """The audit as a record keeps it (`summary()`), without the per-item similarities."""
        return cls(**{k: v for k, v in summary.items() if k != "measure"})

    def line(self) -> str:
        """One sentence for the leaderboard and the terminal."""
        pct = lambda k: f"{k} ({k / max(self.n_test, 1):.1%})"  # noqa: E731
        text = (f"{pct(self.exact)} of {self.n_test} test items are exact copies of a train item "
                f"after normalising, {pct(self.near)} near copies (>= {NEAR}), {pct(self.similar)} "
                f"similar (>= {SIMILAR})")
        if self.answer_in_corpus is not None:
            text += (f"; the reference answer occurs verbatim in the corpus for "
                     f"{pct(self.answer_in_corpus)}")
        return text


_memo: dict[tuple[str, str], Audit] = {}


def audit_task(task: Task, dataset_sha256: str | None = None, split: str = "test") -> Audit:
    """The audit of `split` against train (memoised per dataset hash within the process)."""
    key = (dataset_sha256 or "", split)
    if dataset_sha256 and key in _memo:
        return _memo[key]
    test, train = list(task.splits.get(split, [])), list(task.splits.get("train", []))
    found = nearest_train([s.text for s in test], [s.text for s in train])
    same = [j >= 0 and train[j].target == s.target for s, (_, j) in zip(test, found, strict=True)]
    sims = [sim for sim, _ in found]
    train_texts = {normalise(t.text): j for j, t in enumerate(train)}
    for i, s in enumerate(test):  # an exact copy is the nearest item, whatever the 5-grams tie
        j = train_texts.get(normalise(s.text))
        if j is not None:
            found[i], sims[i], same[i] = (1.0, j), 1.0, train[j].target == s.target
    exact = [normalise(s.text) in train_texts for s in test]
    closest = sorted(range(len(test)), key=lambda i: -sims[i])[:3]
    result = Audit(
        n_test=len(test), n_train=len(train), exact=sum(exact),
        exact_same_label=sum(e and s for e, s in zip(exact, same, strict=True)),
        near=sum(x >= NEAR for x in sims),
        near_same_label=sum(x >= NEAR and s for x, s in zip(sims, same, strict=True)),
        similar=sum(x >= SIMILAR for x in sims),
        examples=[{"test_id": test[i].id, "train_id": train[found[i][1]].id,
                   "similarity": round(sims[i], 3), "test_text": test[i].text[:200],
                   "train_text": train[found[i][1]].text[:200],
                   "same_label": same[i]} for i in closest if found[i][1] >= 0],
        answer_in_corpus=_answers_in_corpus(task, test),
        nearest={s.id: round(x, 4) for s, x in zip(test, sims, strict=True)})
    if dataset_sha256:
        _memo[key] = result
    return result


def _answers_in_corpus(task: Task, test: Sequence[Sample]) -> int | None:
    if task.corpus is None or task.answer_space.kind != "text":
        return None  # a label or code "in the corpus" says nothing about leakage
    haystack = "\n".join(normalise(d.text) for d in task.corpus())
    return sum(1 for s in test if normalise(s.target) and normalise(s.target) in haystack)


def bucket_of(similarity: float) -> str:
    return next(name for name, low, high in BUCKETS if low <= similarity < high)


def novelty_breakdown(task: Task, samples: Sequence[Sample], answers: Sequence[str | None],
                      nearest: dict[str, float], seed: int) -> list[dict]:
    """The primary metric per novelty bucket (closed answer spaces), each with its n and CI.

    Shows whether a strategy wins only on near-copies of train items or also on novel ones.
    Free-text tasks return [] (their scorers may call a judge; the audit line still applies).
    """
    if task.answer_space.kind == "text":
        return []
    out = []
    for name, low, high in BUCKETS:
        idx = [i for i, s in enumerate(samples) if low <= nearest.get(s.id, 0.0) < high]
        metric = None
        if idx:
            sub_s, sub_a = [samples[i] for i in idx], [answers[i] for i in idx]
            for scorer in task.scorers:
                inp = ScoreInput(task, sub_s, sub_a, [{} for _ in idx], seed)
                metric = scorer(inp).get(task.primary_metric) or metric
        out.append({"bucket": name, "n": len(idx), "value": metric.value if metric else None,
                    "ci_low": metric.ci_low if metric else None,
                    "ci_high": metric.ci_high if metric else None})
    return out


def near_duplicate_warning(task: Task, dataset_sha256: str | None = None) -> str | None:
    """A warning for user data whose test split is full of near-copies of train, or None."""
    found = audit_task(task, dataset_sha256)
    if not found.n_test or found.near / found.n_test < WARN_NEAR_SHARE:
        return None
    pairs = "; ".join(f"{e['test_id']} {e['test_text'][:60]!r} ~ {e['train_id']} "
                      f"{e['train_text'][:60]!r} ({e['similarity']:.2f})" for e in found.examples)
    return (f"task {task.name!r}: {found.near} of {found.n_test} test items "
            f"({found.near / found.n_test:.0%}) are near copies (>= {NEAR}) of a train item, so "
            f"scores may reward copying over generalising; e.g. {pairs}. The records' novelty "
            "breakdown shows quality on the novel items")
