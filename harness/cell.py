"""Cells: one (task, strategy, model, seed, options) combination, and its key.

A `CellSpec` is a cell as names and arguments (defaults filled in): frozen, JSON-serialisable,
what `rvf run --plan` prints and what the Ray executor ships to a worker. `Cell` is a spec
resolved into live objects, once each: the task (its data read), the strategy, the backend, the
scored samples and the key.

The key hashes everything that changes the cell's answers (task name, version and dataset hash,
task and strategy arguments with defaults filled in, the model's identity, the scored sample ids,
the seed) and nothing else. A finished cell is a file `cells/<key>.json`, so re-running a plan
skips every cell whose record exists: that is resume.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from harness.cache import canonical_json
from harness.errors import UsageError
from harness.registry import Registry
from harness.tasklib import corpus_sha256, dataset_sha256, seeded_subset
from harness.types import Backend, Judge, ModelRole, Sample, Strategy, Task


@dataclass(frozen=True)
class CellSpec:
    """One cell as names and arguments; `Cell` resolves it. Every field is JSON-serialisable."""

    task: str  # registered task name
    strategy: str  # registered strategy name
    model: str  # <backend prefix>/<name>, e.g. local/smollm2-135m-instruct
    seed: int = 0  # few-shot picks, training, bootstrap
    task_args: dict[str, Any] = field(default_factory=dict)  # factory arguments, defaults filled in
    strategy_args: dict[str, Any] = field(default_factory=dict)  # the same, for the strategy
    backend_args: dict[str, str] = field(default_factory=dict)  # k=v, or prefix.k=v for one backend
    limit: int | None = None  # score a fixed random subset of this many samples (None = all)
    split: str = "test"  # the split that is scored
    judge: str | None = None  # openai/<model> that scores LLM-judge metrics
    constrain: str = "auto"  # none | labels | score | auto: see harness/constrain.py

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellSpec:
        return cls(**data)


class Cell:
    """A spec resolved into live objects. Each is built on first use and then kept, so the task
    reads its data and the strategy factory runs once per cell."""

    def __init__(self, registry: Registry, spec: CellSpec, strategy: Strategy | None = None):
        self.registry, self.spec = registry, spec
        if strategy is not None:  # the planner built it already, to learn its model role
            self.__dict__["strategy"] = strategy

    @property
    def label(self) -> str:
        """`task / strategy [args that differ from the defaults] / model / seed N`."""
        defaults = self.registry.normalized_args("strategy", self.spec.strategy, {})
        args = "".join(f" {k}={v}" for k, v in sorted(self.spec.strategy_args.items())
                       if defaults.get(k) != v)
        s = self.spec
        return f"{s.task} / {s.strategy}{args} / {s.model} / seed {s.seed}"

    @cached_property
    def task(self) -> Task:
        return self.registry.make("task", self.spec.task, self.spec.task_args)

    @cached_property
    def strategy(self) -> Strategy:
        return self.registry.make("strategy", self.spec.strategy, self.spec.strategy_args)

    @cached_property
    def dataset_sha256(self) -> str:
        return dataset_sha256(self.task.splits)

    @cached_property
    def backend(self) -> Backend:
        return make_backend(self.registry, self.spec.model, self.spec.backend_args)

    def release(self) -> None:
        """Drop this cell's backend and the model it loaded, so that the next cell's peak-memory
        window (harness/compute.py) starts without it; a later use builds it again."""
        self.__dict__.pop("backend", None)

    @cached_property
    def samples(self) -> list[Sample]:
        split = self.task.splits.get(self.spec.split)
        if split is None:
            raise UsageError(f"task {self.spec.task!r} has no {self.spec.split!r} split "
                             f"(has: {', '.join(self.task.splits)})")
        return limit_samples(list(split), self.spec.limit)

    @cached_property
    def judge(self) -> Judge | None:
        """The LLM judge for scorers that use one (None without --judge)."""
        if self.spec.judge is None:
            return None
        from harness.scoring.judge import Judge as RagasJudge

        prefix, _, rest = self.spec.judge.partition("/")
        if prefix != "openai" or not rest:
            raise UsageError(f"--judge {self.spec.judge!r}: the judge must be an openai/<model> "
                             "(ragas drives it through an async OpenAI client)")
        return RagasJudge(make_backend(self.registry, self.spec.judge, self.spec.backend_args))

    @cached_property
    def corpus_sha256(self) -> str | None:
        """The retrieval corpus is data too: a changed handbook must not reuse old records."""
        return corpus_sha256(self.task.corpus()) if self.task.corpus is not None else None

    def key_payload(self) -> dict[str, Any]:
        s, task = self.spec, self.task
        ids = [x.id for x in self.samples]
        judge = {"judge": self.judge.identity()} if self.judge is not None else {}
        return {**judge,
            "task": {"name": task.name, "version": task.version,
                     "dataset_sha256": self.dataset_sha256, "corpus_sha256": self.corpus_sha256,
                     "args": self.registry.normalized_args("task", s.task, s.task_args),
                     "split": s.split,
                     "samples": hashlib.sha256("\n".join(ids).encode()).hexdigest()},
            "strategy": {"name": s.strategy, "args": self.registry.normalized_args(
                "strategy", s.strategy, s.strategy_args)},
            "model": self.backend.identity(),
            "seed": s.seed,
            "constrain": s.constrain,
        }

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


def make_backend(registry: Registry, model: str, args: dict[str, str]) -> Backend:
    """The backend of `<prefix>/<name>`, with the unscoped `k=v` plus those scoped to its prefix
    (`openai.base_url=...`)."""
    prefix, _, rest = model.partition("/")
    if not rest:
        prefixes = ", ".join(f"{e.name}/..." for e in registry.entries("backend"))
        raise UsageError(f"model {model!r} must look like <backend>/<name> (backends: {prefixes})")
    picked = {k: v for k, v in args.items() if "." not in k}
    picked.update({k.split(".", 1)[1]: v for k, v in args.items() if k.startswith(prefix + ".")})
    return registry.make("backend", prefix, {"name": rest, **picked})


def check_scopes(registry: Registry, kind: str, scoped: dict[str, dict[str, str]],
                 planned: Sequence[str], option: str) -> None:
    """Every `NAME.k=v` must name a task (or strategy) of this run.

    A scope that matches nothing would otherwise be dropped, and the run would score the wrong
    data or use a default the user meant to change, and still exit 0.
    """
    for scope, pairs in scoped.items():
        if not scope or scope in planned:
            continue
        given = f"{option} {scope}.{next(iter(pairs))}=..."  # the value may be a secret
        known = [e.name for e in registry.entries(kind)]
        if scope in known:
            raise UsageError(f"{given}: {kind} {scope!r} is not in this run (this run's "
                             f"{kind}s: {', '.join(planned)}); add --{kind} {scope} or drop it")
        close = difflib.get_close_matches(scope, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; {kind}s: {', '.join(known)}"
        raise UsageError(f"{given}: no {kind} named {scope!r}{hint}")


def check_backend_scopes(registry: Registry, backend_args: dict[str, str]) -> None:
    """Every `PREFIX.k=v` backend argument must name a backend prefix (`openai.base_url`).

    Unlike tasks, a known prefix that no planned model uses is allowed: `--base-url` and a
    judge's backend are set for models outside the plan's `--model` list.
    """
    known = [e.name for e in registry.entries("backend")]
    for key in backend_args:
        prefix, dot, _ = key.partition(".")
        if dot and prefix not in known:
            close = difflib.get_close_matches(prefix, known, n=3, cutoff=0.5)
            hint = (f"; did you mean {', '.join(close)}?" if close
                    else f"; backends: {', '.join(known)}")
            raise UsageError(f"--backend-arg {key}=...: no backend named {prefix!r}{hint}")


def models_for(strategy: Strategy, models: Sequence[str], small_models: Sequence[str]
               ) -> Sequence[str]:
    """The models a strategy runs on, by its declared role."""
    if strategy.model_role is ModelRole.SMALL_MODEL:
        return small_models
    if strategy.model_role is ModelRole.OWN:
        if not strategy.own_model:
            raise UsageError(f"strategy {strategy.name!r} declares ModelRole.OWN but no own_model")
        return (strategy.own_model,)
    return models


def plan(registry: Registry, tasks: Sequence[str], strategies: Sequence[str], models: Sequence[str],
         small_models: Sequence[str], seeds: Sequence[int], task_args: dict[str, dict[str, str]],
         strategy_args: dict[str, dict[str, str]], backend_args: dict[str, str],
         limit: int | None, judge: str | None = None, constrain: str = "auto") -> list[Cell]:
    """tasks x strategies (x argument sweeps) x models x seeds, in a stable order.

    `*_args` map a task or strategy name to its arguments ('' = arguments for all of them).
    Each strategy's `model_role` says which models it runs on (`models_for`).
    """
    check_scopes(registry, "task", task_args, tasks, "--task-arg")
    check_scopes(registry, "strategy", strategy_args, strategies, "--strategy-arg")
    check_backend_scopes(registry, backend_args)
    cells = []
    for task in tasks:
        targs = registry.normalized_args("task", task, {**task_args.get("", {}),
                                                        **task_args.get(task, {})})
        for strategy in strategies:
            sargs = {**strategy_args.get("", {}), **strategy_args.get(strategy, {})}
            for one in registry.expand_sweeps("strategy", strategy, sargs):
                made = registry.make("strategy", strategy, one)
                resolved = registry.normalized_args("strategy", strategy, one)
                pairs = itertools.product(models_for(made, models, small_models), seeds)
                for i, (model, seed) in enumerate(pairs):
                    spec = CellSpec(task, strategy, model, seed, targs, resolved, backend_args,
                                    limit, judge=judge, constrain=constrain)
                    cells.append(Cell(registry, spec, made if i == 0 else None))
    return cells
