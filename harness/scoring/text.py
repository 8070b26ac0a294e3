"""Free-text QA metrics: answer token-F1 and exact match, abstention, retrieval, ragas non-LLM metrics.

Normalisation (SQuAD's): lowercase, punctuation removed, the articles a/an/the dropped, whitespace
collapsed. Token-F1 is the harmonic mean of token precision and recall against the reference;
exact match compares the normalised strings. Both get a seeded 95% bootstrap CI.

Abstention. Items whose reference is the task's abstention string (`Task.abstention`, e.g.
hr_policy_qa's "The handbook does not say."; a task without one has no unanswerable items) are
unanswerable: an answer scores 1 on token-F1 and exact match when it abstains (any phrasing
`is_abstention` recognises) and 0 otherwise; an abstention on an answerable item scores 0.
`abstention_accuracy` is the share of items where the model abstained exactly when it should.

Retrieval (only for strategies that retrieve: their predictions' `extra["retrieved"]` lists the
ranked chunks with their document ids). Over answerable items with reference sections:
`recall_at_k` = share of the reference sections among the retrieved chunks' sections,
`mrr` = 1 / rank of the first chunk from a reference section (0 if none). Without retrieval they
are recorded as not scored (value None, with a note), never NaN or zero.

ragas (0.4) non-LLM metrics, per item then averaged with a bootstrap CI: `rouge_l` (RougeScore,
ROUGE-L F-measure) and `string_similarity` (NonLLMStringSimilarity, 1 - normalised Levenshtein) on
the raw answer against the reference; `context_recall` (NonLLMContextRecall) and
`context_precision` (NonLLMContextPrecisionWithReference) comparing the retrieved chunk texts with
the texts of the reference sections. LLM-judge metrics need a judge model (`--judge openai/<model>`,
see harness/scoring/judge.py): faithfulness and answer correctness are then scored; without one
they are recorded as not scored with the reason.
"""

from __future__ import annotations

import os
import re
import string
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from harness.scoring.bootstrap import mean_metric
from harness.types import Metric, Sample, ScoreInput, Task

_ABSTAIN_PATTERNS = (
    "does not say", "doesnt say", "does not specify", "doesnt specify", "does not mention",
    "doesnt mention", "not mentioned", "not specified", "not stated", "no information",
    "does not cover", "not covered", "does not state", "cannot answer", "not in handbook",
)
JUDGE_METRICS = ("faithfulness", "answer_correctness")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation + "’‘“”")


def normalize(text: str | None) -> str:
    text = (text or "").lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def is_abstention(text: str | None, abstain: str | None) -> bool:
    """Does `text` abstain? Only a task with an abstention string has abstentions."""
    norm = normalize(text)
    return bool(norm) and abstain is not None and (
        norm == normalize(abstain) or any(p in norm for p in _ABSTAIN_PATTERNS))


def token_f1(prediction: str | None, reference: str) -> float:
    pred, ref = normalize(prediction).split(), normalize(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str | None, reference: str) -> float:
    return float(normalize(prediction) == normalize(reference))


def answer_scores(prediction: str | None, reference: str, abstain: str | None
                  ) -> tuple[float, float]:
    """(token-F1, exact match) with the abstention rule above."""
    if is_abstention(reference, abstain):
        ok = float(is_abstention(prediction, abstain))
        return ok, ok
    if is_abstention(prediction, abstain):
        return 0.0, 0.0
    return token_f1(prediction, reference), exact_match(prediction, reference)


def reciprocal_rank(retrieved_docs: Sequence[str], relevant: set[str]) -> float:
    for rank, doc in enumerate(retrieved_docs, 1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


def section_recall(retrieved_docs: Sequence[str], relevant: set[str]) -> float:
    return len(relevant & set(retrieved_docs)) / len(relevant)


def _ragas_available() -> str | None:
    """None when ragas and its non-LLM metric dependencies import; else the reason."""
    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
    try:
        import ragas  # noqa: F401
        import rapidfuzz  # noqa: F401
        import rouge_score  # noqa: F401
    except ImportError as exc:
        return f"not scored: {exc.name} is not installed (pip install 'rvf[rag]')"
    return None


def ragas_answer_scores(answers: Sequence[str], references: Sequence[str]
                        ) -> tuple[list[float], list[float]]:
    """Per-item ROUGE-L F-measure and Levenshtein string similarity, from ragas' metric classes."""
    from ragas.metrics.collections import NonLLMStringSimilarity, RougeScore

    rouge, sim = RougeScore(rouge_type="rougeL", mode="fmeasure"), NonLLMStringSimilarity()
    r = [float(rouge.score(reference=ref, response=ans).value) if ans.strip() and ref.strip()
         else float(ans.strip() == ref.strip()) for ans, ref in zip(answers, references, strict=True)]
    s = [float(sim.score(reference=ref, response=ans).value)
         for ans, ref in zip(answers, references, strict=True)]
    return r, s


def ragas_context_scores(retrieved: Sequence[Sequence[str]], reference: Sequence[Sequence[str]]
                         ) -> tuple[list[float], list[float]]:
    """Per-item non-LLM context recall and precision (ragas' string-similarity versions)."""
    with warnings.catch_warnings():  # 0.4 marks these deprecated but has no replacement yet
        warnings.simplefilter("ignore", DeprecationWarning)
        from ragas import SingleTurnSample
        from ragas.metrics import NonLLMContextPrecisionWithReference, NonLLMContextRecall

    recall_m, precision_m = NonLLMContextRecall(), NonLLMContextPrecisionWithReference()
    recall, precision = [], []
    for got, ref in zip(retrieved, reference, strict=True):
        sample = SingleTurnSample(retrieved_contexts=list(got), reference_contexts=list(ref))
        recall.append(float(recall_m.single_turn_score(sample)))
        precision.append(float(precision_m.single_turn_score(sample)))
    return recall, precision


class QAScorer:
    """Token-F1, exact match, abstention, retrieval recall@k / MRR, ragas non-LLM metrics.

    Reference sections come from `sample.meta["sections"]`; their texts from `task.corpus()`;
    the abstention string from `task.abstention`. Retrieval and context metrics read the
    strategy's per-sample extras (`{}` for none: those metrics are then "not scored").
    """

    name = "qa"

    def __init__(self, ragas: bool = True) -> None:
        self.ragas = ragas

    def __call__(self, inp: ScoreInput) -> dict[str, Metric]:
        task, samples, answers, seed = inp.task, inp.samples, inp.answers, inp.seed
        extras, judge, abstain = inp.extras, inp.judge, task.abstention
        n = len(samples)
        names = ("token_f1", "exact_match", "abstention_accuracy", "recall_at_k", "mrr",
                 "rouge_l", "string_similarity", "context_recall", "context_precision")
        if n == 0:
            return {m: Metric(None, note="no samples") for m in names}
        refs = [s.target for s in samples]
        scores = [answer_scores(a, r, abstain) for a, r in zip(answers, refs, strict=True)]
        unanswerable = [is_abstention(r, abstain) for r in refs]
        abstained = [is_abstention(a, abstain) for a in answers]
        n_un = sum(unanswerable)
        out = {
            "token_f1": mean_metric([f for f, _ in scores], seed),
            "exact_match": mean_metric([e for _, e in scores], seed),
            # With no unanswerable item it would only measure "never abstained": not scored.
            "abstention_accuracy": mean_metric(
                [float(u == a) for u, a in zip(unanswerable, abstained, strict=True)], seed,
                note=f"{n_un} of {n} items unanswerable; model abstained on {sum(abstained)}")
            if n_un else Metric(None, note=f"not scored: none of the {n} items is unanswerable "
                                           f"(the model abstained on {sum(abstained)})"),
        }
        out.update(self._retrieval(task, samples, unanswerable, extras, seed))
        out.update(self._ragas_answers(answers, refs, seed))
        if judge is None:
            return out | {m: Metric(None, note="not scored: needs --judge (an LLM judge model)")
                          for m in JUDGE_METRICS}
        contexts = [e.get("contexts") for e in extras]
        return out | judge.score([s.text for s in samples], [a or "" for a in answers], refs,
                                 contexts, seed)

    def _retrieval(self, task: Task, samples: Sequence[Sample], unanswerable: Sequence[bool],
                   extras: Sequence[Mapping[str, Any]], seed: int) -> dict[str, Metric]:
        names = ("recall_at_k", "mrr", "context_recall", "context_precision")
        if not any("retrieved" in (e or {}) for e in extras):
            return {m: Metric(None, note="not scored: this strategy retrieves nothing") for m in names}
        rows = [(s, e) for s, e, u in zip(samples, extras, unanswerable, strict=True)
                if not u and s.meta.get("sections") and "retrieved" in (e or {})]
        if not rows:
            return {m: Metric(None, note="not scored: no answerable item with reference sections")
                    for m in names}
        k = max(len(e["retrieved"]) for _, e in rows)
        docs = [[r["doc"] for r in e["retrieved"]] for _, e in rows]
        rel = [set(s.meta["sections"]) for s, _ in rows]
        note = f"k={k}, over {len(rows)} answerable items, by section id"
        out = {"recall_at_k": mean_metric([section_recall(d, r) for d, r in zip(docs, rel, strict=True)],
                                          seed, note=note),
               "mrr": mean_metric([reciprocal_rank(d, r) for d, r in zip(docs, rel, strict=True)],
                                  seed, note=note)}
        reason = _ragas_available() if self.ragas else "not scored: ragas metrics turned off"
        texts = {d.id: d.text for d in task.corpus()} if task.corpus else {}
        if reason is None and not texts:
            reason = "not scored: the task has no corpus with reference texts"
        if reason is None and not all("contexts" in e for _, e in rows):
            reason = "not scored: the strategy recorded no context texts"
        if reason:
            out |= {m: Metric(None, note=reason) for m in ("context_recall", "context_precision")}
            return out
        retrieved = [e["contexts"] for _, e in rows]
        reference = [[texts[sid] for sid in s.meta["sections"] if sid in texts] for s, _ in rows]
        recall, precision = ragas_context_scores(retrieved, reference)
        cnote = f"ragas non-LLM (Levenshtein > 0.5), {len(rows)} answerable items"
        out["context_recall"] = mean_metric(recall, seed, note=cnote)
        out["context_precision"] = mean_metric(precision, seed, note=cnote)
        return out

    def _ragas_answers(self, answers: Sequence[str | None], refs: Sequence[str], seed: int
                       ) -> dict[str, Metric]:
        reason = _ragas_available() if self.ragas else "not scored: ragas metrics turned off"
        if reason:
            return {"rouge_l": Metric(None, note=reason), "string_similarity": Metric(None, note=reason)}
        rouge, sim = ragas_answer_scores([a or "" for a in answers], list(refs))
        return {"rouge_l": mean_metric(rouge, seed, note="ragas RougeScore (rougeL, F-measure)"),
                "string_similarity": mean_metric(
                    sim, seed, note="ragas NonLLMStringSimilarity (Levenshtein)")}
