"""Strategy `rag`: retrieve the top-k chunks of the task's corpus for each question, answer from them.

What is retrieved depends on the task:

- A task with a corpus (`Task.corpus`, e.g. hr_policy_qa's handbook): the corpus is chunked,
  embedded and indexed once (harness/index.py, persistent Chroma), each question is embedded, and
  its top-k chunks go into the user turn with their ids (`[LV-04#0] ...`), best first, before the
  question. The system turn is the task's instructions plus "use only the context".
- A closed-label task without a corpus (e.g. ticket_categorization): the corpus is the labelled
  train split, and the k nearest train samples are shown as earlier user/assistant turns with their
  labels, the most similar last: the usual "dynamic few-shot" baseline. This is a fallback chosen
  here, not something the task declares: a labelled train split is the one corpus such a task
  always has, and nearest-neighbour examples are what retrieval gives a classifier.
- A free-text task without a corpus: rejected with a UsageError (there is nothing to retrieve).

In context mode, `shots` worked examples (seeded picks from train, each with its own retrieved
passages and its reference answer) come first as earlier turns: they show a small model the
expected short answer form and are the same for every question, so the prompt prefix is shared.

All questions of a cell are embedded in one batched call. The retrieved chunk ids, their document
ids, similarity scores and texts go into each request's `extra` (hence the predictions file), where
the QA scorer finds them for recall@k, MRR and the context metrics.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.compute import HardwareRate
from harness.errors import UsageError
from harness.index import (
    DEFAULT_EMBEDDING_MODEL,
    ChromaIndex,
    Embedder,
    Hit,
    IndexSpec,
    open_or_build,
)
from harness.strategies.prompt import system_message
from harness.types import (
    Backend,
    Document,
    GenerationRequest,
    IndexInfo,
    Message,
    ModelRole,
    PrepareContext,
    Prepared,
    Sample,
    Task,
)

CONTEXT_RULE = ("Use only the numbered context passages given with the question, not outside "
                "knowledge; each passage starts with its id in square brackets.")


def corpus_for(task: Task) -> tuple[list[Document], str]:
    """(documents, mode): the task's corpus ("context"), or its labelled train split ("few_shot")."""
    if task.corpus is not None:
        return list(task.corpus()), "context"
    if task.answer_space.kind == "labels":
        train = task.splits.get("train", [])
        docs = [Document(s.id, task.format_input(s), {"label": task.format_answer(s)})
                for s in train]
        return docs, "few_shot"
    raise UsageError(
        f"rag: task {task.name!r} declares no corpus to retrieve from (Task.corpus is None), and "
        f"its answers are free text ({task.answer_space.kind!r}), so there are no labelled "
        "examples to retrieve either; give the task a corpus or use another strategy")


def hit_extra(hits: Sequence[Hit], texts: bool) -> dict[str, Any]:
    extra: dict[str, Any] = {"retrieved": [{"id": h.id, "doc": h.doc_id, "score": round(h.score, 4)}
                                           for h in hits]}
    if texts:
        extra["contexts"] = [h.text for h in hits]
    return extra


@dataclass
class RagStrategy:
    k: int = 5
    shots: int = 2
    spec: IndexSpec = field(default_factory=IndexSpec)
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    name: str = "rag"
    model_role: ModelRole = ModelRole.MODEL
    own_model: str | None = None
    mode: str = ""
    embedder: Embedder | None = None
    index: ChromaIndex | None = None
    train_by_id: dict[str, Sample] = field(default_factory=dict)
    demos: list[Message] = field(default_factory=list)

    def prepare(self, task: Task, backend: Backend, ctx: PrepareContext) -> Prepared:
        docs, self.mode = corpus_for(task)
        where = f"task {task.name!r} " + ("corpus" if self.mode == "context" else "train split")
        self.embedder = Embedder(self.embedding_model)
        self.index, facts = open_or_build(docs, self.embedder, self.spec, where=where,
                                          root=ctx.cache("indexes"))
        extra: dict[str, Any] = {}
        labelled = self.shots
        if self.mode == "few_shot":  # the index holds the labelled train items
            self.train_by_id = {s.id: s for s in task.splits.get("train", [])}
            labelled = len(self.train_by_id)
        elif self.shots:
            train = list(task.splits.get("train", []))
            if self.shots > len(train):
                raise UsageError(f"rag: shots={self.shots} worked examples but task {task.name!r} "
                                 f"has {len(train)} train samples")
            picks = random.Random(ctx.seed).sample(train, self.shots)
            self.demos = []
            for ex, hits in zip(picks, self.retrieve(task, picks), strict=True):
                self.demos += context_messages(task, ex, hits)[1:]
                self.demos.append({"role": "assistant", "content": task.format_answer(ex)})
            extra["few_shot_ids"] = [ex.id for ex in picks]
        return Prepared(backend, {"mode": self.mode, "k": self.k, "shots": self.shots, **extra,
                                  **facts}, index=index_info(facts, ctx.hardware),
                        labelled_examples=labelled)

    def retrieve(self, task: Task, samples: Sequence[Sample]) -> list[list[Hit]]:
        if self.embedder is None or self.index is None:
            raise UsageError("rag: retrieve() before prepare(): prepare the strategy first")
        queries = self.embedder.encode([task.format_input(s) for s in samples], what="questions")
        if self.mode == "context":
            return self.index.query(queries, self.k)
        # Few-shot: a long train sample may span several chunks; keep its best chunk only.
        hits = self.index.query(queries, self.k * 3)
        out = []
        for row in hits:
            seen: set[str] = set()
            best = [h for h in row if not (h.doc_id in seen or seen.add(h.doc_id))]
            out.append(best[:self.k])
        return out

    def requests(self, task: Task, samples: Sequence[Sample]
                 ) -> list[tuple[GenerationRequest, dict[str, Any]]]:
        if not samples:
            return []
        max_tokens = task.answer_space.max_answer_tokens
        out = []
        for sample, hits in zip(samples, self.retrieve(task, samples), strict=True):
            if self.mode == "context":
                messages = context_messages(task, sample, hits)
                messages[1:1] = self.demos
            else:
                messages = few_shot_messages(task, sample, hits, self.train_by_id)
            out.append((GenerationRequest(tuple(messages), max_tokens),
                        hit_extra(hits, texts=self.mode == "context")))
        return out


def context_messages(task: Task, sample: Sample, hits: Sequence[Hit]) -> list[Message]:
    context = "\n\n".join(f"[{h.id}] {h.text}" for h in hits)
    return [{"role": "system", "content": f"{system_message(task)}\n\n{CONTEXT_RULE}"},
            {"role": "user", "content": f"Context:\n{context}\n\nQuestion: {task.format_input(sample)}"}]


def few_shot_messages(task: Task, sample: Sample, hits: Sequence[Hit],
                      train_by_id: dict[str, Sample]) -> list[Message]:
    turns: list[Message] = [{"role": "system", "content": system_message(task)}]
    for h in reversed(hits):  # the most similar example right before the question
        ex = train_by_id[h.doc_id]
        turns.append({"role": "user", "content": task.format_input(ex)})
        turns.append({"role": "assistant", "content": task.format_answer(ex)})
    turns.append({"role": "user", "content": task.format_input(sample)})
    return turns


def rag(k: int = 5, shots: int = 2, chunk_size: int = 200, chunk_overlap: int = 20,
        embedding_model: str = DEFAULT_EMBEDDING_MODEL, ef_search: int = 128,
        construction_ef: int = 200, M: int = 32) -> RagStrategy:
    """Top-k retrieval over the task's corpus (persistent Chroma index), chunks in the prompt."""
    if k < 1:
        raise UsageError(f"rag: k must be >= 1, got {k}")
    if shots < 0:
        raise UsageError(f"rag: shots must be >= 0, got {shots}")
    spec = IndexSpec(chunk_size=chunk_size, chunk_overlap=chunk_overlap,
                     construction_ef=construction_ef, M=M, ef_search=ef_search)
    return RagStrategy(k=k, shots=shots, spec=spec, embedding_model=embedding_model)


def index_info(facts: dict[str, Any], hardware: HardwareRate) -> IndexInfo:
    """The index build as a start-up cost, priced at the one hardware rate (an index built by an
    older rvf has no CPU time: it is priced by its wall time, and says so)."""
    usd, basis = hardware.price(facts.get("cpu_seconds"), facts.get("build_seconds"))
    return IndexInfo(build_seconds=facts.get("build_seconds"), cpu_seconds=facts.get("cpu_seconds"),
                     cost_usd=usd, cost_basis=basis, cache_hit=bool(facts.get("index_cache_hit")))
