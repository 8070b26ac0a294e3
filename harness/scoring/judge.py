"""LLM-judge metrics through ragas (faithfulness, answer correctness), judged by an `openai/` model.

`rvf run --judge openai/<model>` builds a `Judge` from the same backend settings as generation
(endpoint from --base-url / OPENAI_BASE_URL, key from OPENAI_API_KEY). ragas 0.4 drives the judge
through instructor with an async OpenAI client in JSON mode; we give it one, bounded by the
backend's `max_concurrency`.

Each item is judged on its own: an item the judge fails on (a refusal, malformed JSON, a timeout
after the client's retries) is left out and counted in the metric's note, and when every item
fails the metric is "not scored" with the first error, never NaN. The judge's identity is part of
the cell key, so changing the judge re-scores the cell (its answers still come from the cache).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.backends.openai_compat import OpenAIBackend
from harness.types import Metric

# ragas' JSON prompts for a whole answer's statements need room; answers here are short.
JUDGE_MAX_TOKENS = 1024


@dataclass
class Judge:
    """An `openai/` backend used as ragas' LLM judge."""

    backend: OpenAIBackend

    def identity(self) -> dict[str, Any]:
        return {"judge": self.backend.identity(), "metrics": "ragas faithfulness, "
                                                            "answer_correctness (factuality only)"}

    def score(self, questions: Sequence[str], answers: Sequence[str], references: Sequence[str],
              contexts: Sequence[Sequence[str] | None], seed: int) -> dict[str, Metric]:
        """Faithfulness (items with retrieved contexts) and answer correctness (all items)."""
        faith, correct = asyncio.run(self._score_all(questions, answers, references, contexts))
        model = self.backend.spec
        return {"faithfulness": _metric(faith, seed, f"ragas Faithfulness judged by {model}",
                                        "this strategy retrieved no contexts"),
                "answer_correctness": _metric(correct, seed, f"ragas AnswerCorrectness "
                                                             f"(factuality, weights 1/0) judged by {model}",
                                              "no items")}

    async def _score_all(self, questions, answers, references, contexts):
        from ragas.llms import llm_factory
        from ragas.metrics.collections import AnswerCorrectness, Faithfulness

        b = self.backend
        client = b.client(max_retries=b.retry.max_attempts - 1)
        llm = llm_factory(b.model, client=client, max_tokens=JUDGE_MAX_TOKENS,
                          **({"temperature": b.temperature} if b.temperature is not None else {}))
        faithfulness, correctness = Faithfulness(llm=llm), AnswerCorrectness(llm=llm,
                                                                             weights=[1.0, 0.0])
        gate = asyncio.Semaphore(b.max_concurrency)

        async def guarded(coro) -> float | str:
            async with gate:
                try:
                    return float((await coro).value)
                except Exception as exc:  # noqa: BLE001 - a failed item is counted, not fatal
                    return b.scrub(f"{type(exc).__name__}: {exc}")[:200]

        async with client:
            faith = [guarded(faithfulness.ascore(user_input=q, response=a, retrieved_contexts=list(c)))
                     if c else None for q, a, c in zip(questions, answers, contexts, strict=True)]
            correct = [guarded(correctness.ascore(user_input=q, response=a, reference=r))
                       for q, a, r in zip(questions, answers, references, strict=True)]
            done = await asyncio.gather(*[f for f in faith if f is not None], *correct)
        n_faith = sum(f is not None for f in faith)
        return done[:n_faith], done[n_faith:]


def _metric(results: Sequence[float | str], seed: int, what: str, why_none: str) -> Metric:
    if not results:
        return Metric(None, note=f"not scored: {why_none}")
    values = [r for r in results if isinstance(r, float)]
    failures = [r for r in results if isinstance(r, str)]
    if not values:
        return Metric(None, note=f"not scored: the judge failed on all {len(results)} items "
                                 f"(first: {failures[0]})")
    from harness.scoring.text import mean_metric

    note = what + (f"; judge failed on {len(failures)} of {len(results)} items (left out; "
                   f"first: {failures[0]})" if failures else f"; {len(values)} items")
    return mean_metric(values, seed, note=note)
