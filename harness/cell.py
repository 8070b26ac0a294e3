"""Cells: one (task, strategy, model, seed, options) combination, and its key.

The key hashes everything that changes the cell's answers (task name, version and dataset hash,
task and strategy arguments with defaults filled in, the model's identity, the scored sample ids,
the seed) and nothing else. A finished cell is a file `cells/<key>.json`, so re-running a plan
skips every cell whose record exists: that is resume.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from harness.cache import canonical_json
from harness.errors import UsageError
from harness.registry import Registry
from harness.tasklib import corpus_sha256, dataset_sha256, seeded_subset
from harness.types import Backend, Sample, Strategy, Task


@dataclass
class Cell:
    """A planned unit of work. Task, strategy and backend are built lazily and cheaply."""

    registry: Registry
    task_name: str
    strategy_name: str
    model: str
    seed: int = 0
    task_args: dict[str, str] = field(default_factory=dict)
    strategy_args: dict[str, str] = field(default_factory=dict)
    backend_args: dict[str, str] = field(default_factory=dict)
    limit: int | None = None
    split: str = "test"
    judge_model: str | None = None  # openai/<model> that scores LLM-judge metrics

    @property
    def label(self) -> str:
        args = "".join(f" {k}={v}" for k, v in sorted(self.strategy_args.items()))
        return f"{self.task_name} / {self.strategy_name}{args} / {self.model} / seed {self.seed}"

    @cached_property
    def task(self) -> Task:
        return self.registry.make("task", self.task_name, self.task_args)

    @cached_property
    def dataset_sha256(self) -> str:
        return dataset_sha256(self.task.splits)

    def strategy(self) -> Strategy:
        """A fresh strategy object (strategies keep per-cell state from `prepare`)."""
        return self.registry.make("strategy", self.strategy_name, self.strategy_args)

    @cached_property
    def backend(self) -> Backend:
        prefix, _, rest = self.model.partition("/")
        if not rest:
            raise_unknown_model(self.registry, self.model)
        return self.registry.make("backend", prefix, {"name": rest, **backend_args_for(
            prefix, self.backend_args)})

    @cached_property
    def samples(self) -> list[Sample]:
        split = self.task.splits.get(self.split)
        if split is None:
            raise UsageError(f"task {self.task_name!r} has no {self.split!r} split "
                             f"(has: {', '.join(self.task.splits)})")
        return limit_samples(list(split), self.limit)

    @cached_property
    def judge(self) -> Any:
        """The LLM judge for scorers that use one (None without --judge)."""
        if self.judge_model is None:
            return None
        from harness.scoring.judge import Judge

        prefix, _, rest = self.judge_model.partition("/")
        if prefix != "openai" or not rest:
            raise UsageError(f"--judge {self.judge_model!r}: the judge must be an openai/<model> "
                             "(ragas drives it through an async OpenAI client)")
        return Judge(self.registry.make("backend", "openai", {
            "name": rest, **backend_args_for("openai", self.backend_args)}))

    def key_payload(self) -> dict[str, Any]:
        task = self.task
        ids = [s.id for s in self.samples]
        judge = {"judge": self.judge.identity()} if self.judge is not None else {}
        return {**judge,
            "task": {"name": task.name, "version": task.version,
                     "dataset_sha256": self.dataset_sha256,
                     "corpus_sha256": self.corpus_sha256,
                     "args": self.registry.normalized_args("task", self.task_name, self.task_args),
                     "split": self.split,
                     "samples": hashlib.sha256("\n".join(ids).encode()).hexdigest()},
            "strategy": {"name": self.strategy_name,
                         "args": self.registry.normalized_args("strategy", self.strategy_name,
                                                               self.strategy_args)},
            "model": self.backend.identity(),
            "seed": self.seed,
        }

    @cached_property
    def corpus_sha256(self) -> str | None:
        """The retrieval corpus is data too: a changed handbook must not reuse old records."""
        return corpus_sha256(self.task.corpus()) if self.task.corpus is not None else None

    @cached_property
    def key(self) -> str:
        return hashlib.sha256(canonical_json(self.key_payload()).encode()).hexdigest()[:24]


def limit_samples(samples: list[Sample], limit: int | None) -> list[Sample]:
    """A fixed random subset of `limit` samples, kept in split order.

    Not a prefix: data files are often sorted by label (Banking77's test.csv is), and the first N
    rows would cover a handful of labels. The subset does not depend on the cell seed, so every
    strategy and seed is scored on the same samples.
    """
    return seeded_subset(samples, limit or None, seed=0)


def backend_args_for(prefix: str, args: dict[str, str]) -> dict[str, str]:
    """Unscoped `k=v` plus the ones scoped to this backend (`openai.base_url=...`)."""
    picked = {k: v for k, v in args.items() if "." not in k}
    picked.update({k.split(".", 1)[1]: v for k, v in args.items() if k.startswith(prefix + ".")})
    return picked


def raise_unknown_model(registry: Registry, model: str) -> None:
    prefixes = ", ".join(f"{e.name}/..." for e in registry.entries("backend"))
    raise UsageError(f"model {model!r} must look like <backend>/<name> (backends: {prefixes})")


def plan(registry: Registry, tasks: Sequence[str], strategies: Sequence[str], models: Sequence[str],
         small_models: Sequence[str], seeds: Sequence[int], task_args: dict[str, dict[str, str]],
         strategy_args: dict[str, dict[str, str]], backend_args: dict[str, str],
         limit: int | None, judge: str | None = None) -> list[Cell]:
    """tasks x strategies (x argument sweeps) x models x seeds, in a stable order.

    `*_args` map a task or strategy name to its arguments ('' = arguments for all of them).
    Strategies that fine-tune (their object has `model_role == "small_model"`) run on the small
    models instead of the (possibly hosted, frontier) `models`; a strategy with its own model
    (`model_role == "own"`, the classifier's embedding model) runs once on its `model_spec`.
    """
    cells = []
    for task in tasks:
        targs = {**task_args.get("", {}), **task_args.get(task, {})}
        for strategy in strategies:
            sargs = {**strategy_args.get("", {}), **strategy_args.get(strategy, {})}
            for one in registry.expand_sweeps("strategy", strategy, sargs):
                made = registry.make("strategy", strategy, one)
                role = getattr(made, "model_role", "model")
                specs = {"small_model": small_models, "own": (getattr(made, "model_spec", ""),)
                         }.get(role, models)
                for model in specs:
                    for seed in seeds:
                        cells.append(Cell(registry, task, strategy, model, seed, targs, one,
                                          backend_args, limit, judge_model=judge))
    return cells
