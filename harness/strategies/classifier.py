"""Strategy `classifier`: the cheapest fine-tune, a linear head on sentence embeddings.

Before fine-tuning an LLM or paying for frontier prompts, a team should know whether a small
classifier already does the job: on Banking77, logistic regression on sentence embeddings is
within a point of LoRA-tuned sub-1B models. So every closed-answer-space table can start from it.

Training embeds the train split with the rag strategy's embedder (all-MiniLM-L6-v2 by default,
bundled) and fits a multinomial logistic regression (scikit-learn). With `C=auto` the inverse
regularisation strength is chosen on a dev split (the task's own, else a seeded 10% carved from
train) from `C_GRID`, then the head is refitted on all of train. The fitted head is cached under a
content hash (embedding model, training data, C, seed) as plain arrays, like a LoRA adapter.

Prediction embeds each test text and takes the argmax of the head: no LLM call. The planner runs
it once on its own model, `embed/<embedding_model>` (not on --model or --small-model), so the
leaderboard names the model that answered.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.compute import Meter
from harness.errors import UsageError
from harness.index import DEFAULT_EMBEDDING_MODEL, Embedder
from harness.records import atomic_write
from harness.strategies.lora import data_sha256, select_train
from harness.tasklib import seeded_split
from harness.types import (
    Backend,
    Generation,
    GenerationRequest,
    ModelRole,
    PrepareContext,
    Prepared,
    Sample,
    Task,
    TrainingInfo,
)

C_GRID = (0.1, 1.0, 10.0, 100.0)
PREDICT_BATCH = 64


@dataclass
class EmbeddingBackend:
    """`embed/<sentence-transformers model>`: the model a classifier row answers with. On its own
    it cannot generate text; `with_head` gives the backend that predicts."""

    spec: str
    embedder: Embedder
    head: dict[str, Any] | None = None  # {"W": (k, d), "b": (k,), "classes": [...], "key": ...}
    facts: dict[str, Any] = field(default_factory=dict)

    def identity(self) -> dict[str, Any]:
        head = {"head": self.head["key"]} if self.head else {}
        return {"backend": "embed", "embedding": self.embedder.identity, **head}

    def with_head(self, head: dict[str, Any]) -> EmbeddingBackend:
        return EmbeddingBackend(self.spec, self.embedder, head)

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, Generation]]:
        if self.head is None:
            raise UsageError(f"{self.spec} is an embedding model: it answers only through "
                             "--strategy classifier")
        texts = [r.messages[-1]["content"] for r in requests]
        for start in range(0, len(texts), PREDICT_BATCH):
            batch = texts[start:start + PREDICT_BATCH]
            with Meter() as used:
                scores = self.embedder.encode(batch, progress=False) @ self.head["W"].T \
                    + self.head["b"]
            for i, best in enumerate(scores.argmax(axis=1)):
                yield start + i, Generation(
                    text=self.head["classes"][int(best)],
                    input_tokens=len(self.embedder.count_tokens(batch[i])), output_tokens=0,
                    latency_s=used.wall, compute_s=used.wall / len(batch),
                    cpu_s=used.cpu / len(batch))


def embed_backend(name: str = DEFAULT_EMBEDDING_MODEL) -> EmbeddingBackend:
    """A sentence-transformers model (bundled alias, folder or hub id) for the classifier."""
    return EmbeddingBackend(f"embed/{name}", Embedder(name))


@dataclass
class ClassifierStrategy:
    embedding_model: str
    C: str
    train_size: int | None
    name: str = "classifier"
    model_role: ModelRole = ModelRole.OWN  # runs on its own encoder, not on --model

    @property
    def own_model(self) -> str:
        return f"embed/{self.embedding_model}"

    def prepare(self, task: Task, backend: Backend, ctx: PrepareContext) -> Prepared:
        seed = ctx.seed
        if task.answer_space.kind == "text":
            raise UsageError(f"classifier: task {task.name!r} has free-text answers; the "
                             "strategy needs a closed answer space (labels or codes)")
        if not isinstance(backend, EmbeddingBackend):
            raise UsageError(f"classifier: runs on an embed/<model>, not {backend.spec}")
        samples = select_train(task, self.train_size, seed, strategy="classifier")
        key = hashlib.sha256(json.dumps(
            [backend.identity(), data_sha256(task, samples), self.C, seed,
             [s.id for s in task.splits.get("dev", [])]], sort_keys=True).encode()).hexdigest()[:16]
        path = ctx.cache("classifiers") / f"{key}.npz"
        cache_hit = path.exists()
        if not cache_hit:
            fit_and_save(task, backend.embedder, samples, self.C, seed, path)
        head, training = load_head(path)  # the fit's own times, on a cache hit too
        usd, basis = ctx.hardware.price(training.get("cpu_seconds"), training["wall_seconds"])
        training.update(cache_hit=cache_hit, classifier_key=key,
                        hardware_usd_per_hour=ctx.hardware_usd_per_hour,
                        training_cost_usd=round(usd, 8), cost_basis=basis)
        return Prepared(backend.with_head({**head, "key": key}), training=TrainingInfo(
            artifact=f"+ logistic regression {key[:8]}", **training),
            labelled_examples=len(samples))

    def requests(self, task: Task, samples: Sequence[Sample]
                 ) -> list[tuple[GenerationRequest, dict[str, Any]]]:
        return [(GenerationRequest(({"role": "user", "content": task.format_input(s)},), 1), {})
                for s in samples]


def _dev_split(task: Task, samples: list[Sample], seed: int) -> tuple[list[Sample], list[Sample]]:
    """(fit, dev): the task's dev split when it has one, else a seeded 10% of the train subset."""
    if task.splits.get("dev"):
        return samples, list(task.splits["dev"])
    fit, dev = seeded_split(len(samples), 0.1, seed, minimum=1)
    return [samples[i] for i in fit], [samples[i] for i in dev]


def fit_and_save(task: Task, embedder: Embedder, samples: list[Sample], C: str, seed: int,
                 path: Any) -> None:
    """Embed, choose C on dev (C=auto), refit on all `samples`, save the head as arrays."""
    from sklearn.linear_model import LogisticRegression

    meter = Meter()
    rare = sorted(label for label, n in Counter(s.target for s in samples).items() if n == 1)
    if rare:
        print(f"warning: classifier: {len(rare)} label(s) have a single train example "
              f"({', '.join(rare[:5])}{' ...' if len(rare) > 5 else ''}); fitting anyway",
              file=sys.stderr)
    X = embedder.encode([task.format_input(s) for s in samples], what="train texts")
    y = np.array([s.target for s in samples])
    fit = lambda c, idx: LogisticRegression(C=c, max_iter=2000).fit(X[idx], y[idx])  # noqa: E731
    dev_accuracy: dict[str, float] = {}
    if C == "auto":
        fit_part, dev = _dev_split(task, samples, seed)
        index = {s.id: i for i, s in enumerate(samples)}
        fit_idx = [index[s.id] for s in fit_part]
        if task.splits.get("dev"):
            X_dev = embedder.encode([task.format_input(s) for s in dev], what="dev texts")
        else:
            X_dev = X[[index[s.id] for s in dev]]
        y_dev = np.array([s.target for s in dev])
        for c in C_GRID:
            dev_accuracy[str(c)] = float((fit(c, fit_idx).predict(X_dev) == y_dev).mean())
        chosen = max(C_GRID, key=lambda c: (dev_accuracy[str(c)], -c))
    else:
        chosen = float(C)
    model = fit(chosen, np.arange(len(samples)))
    W, b = model.coef_, model.intercept_
    if len(model.classes_) == 2:  # binary: sklearn keeps one row; make it a two-class head
        W, b = np.vstack([-W[0], W[0]]), np.array([-b[0], b[0]])
    training = {"kind": "logistic regression on sentence embeddings", "C": chosen,
                "C_searched": list(C_GRID) if C == "auto" else None, "dev_accuracy": dev_accuracy,
                "train_examples": len(samples), "classes": len(model.classes_),
                "single_example_labels": len(rare), "embedded_texts": len(samples)}
    meter.stop()
    training.update(wall_seconds=round(meter.wall, 2), cpu_seconds=round(meter.cpu, 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, W=W.astype(np.float32), b=b.astype(np.float32),
             classes=np.array(model.classes_, dtype=str))
    atomic_write(path.with_suffix(".json"), json.dumps(training, indent=2))
    tmp.replace(path)  # the arrays last: a head on disk always has its training record


def load_head(path: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    with np.load(path) as arrays:
        head = {"W": arrays["W"], "b": arrays["b"], "classes": [str(c) for c in arrays["classes"]]}
    return head, json.loads(path.with_suffix(".json").read_text())


def classifier(embedding_model: str = DEFAULT_EMBEDDING_MODEL, C: str = "auto",
               train_size: int | None = None) -> ClassifierStrategy:
    """Logistic regression on sentence embeddings (no LLM): closed answer spaces only.

    C: inverse regularisation strength, or `auto` to choose it on a dev split from 0.1, 1, 10,
    100. train_size: a seeded random subset of train (None = all). The training time is priced
    at the run's `--hardware-usd-per-hour` (as for lora).
    """
    if C != "auto":
        try:
            if float(C) <= 0:
                raise ValueError
        except ValueError:
            raise UsageError(f"classifier: C must be a positive number or 'auto', got {C!r}") from None
    return ClassifierStrategy(embedding_model, C, train_size)
