"""The core vocabulary of rvf: what a task, a strategy and a backend are, and what flows between them.

A *task* owns data, answer space, parsing and scoring and never names a strategy. A *strategy*
turns samples into generation requests (and may prepare first: build an index, train an adapter).
A *backend* turns requests into text. The runner glues them together per *cell* (see cell.py).

Every member the runner calls on a plugin object is declared here: the `Strategy`, `Backend` and
`Scorer` protocols, and the optional backend capabilities (`ServesAdapters`, `HasTrainingTwin`,
`Constrains`, `ReportsFacts`), which are checked with `isinstance`, never by probing attribute
names.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from harness.compute import HardwareRate, machine_cores
from harness.pricing import DEFAULT_HARDWARE_USD_PER_HOUR

Message = dict[str, str]  # one chat turn: {"role": "system" | "user" | "assistant", "content": ...}


@dataclass(frozen=True)
class Sample:
    """One input with its gold answer. `target` is a label, a code, or a reference text."""

    id: str
    text: str
    target: str
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Document:
    """One unit of a task's retrieval corpus (a handbook section, a wiki page) with a stable id."""

    id: str
    text: str
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AnswerSpace:
    """What a valid answer looks like.

    `labels` is the closed set for classification tasks (empty for free text); `descriptions`
    optionally explains each label to the model. `max_answer_tokens` bounds generation.
    """

    kind: Literal["labels", "codes", "text"]
    labels: tuple[str, ...] = ()
    descriptions: Mapping[str, str] = field(default_factory=dict)
    max_answer_tokens: int = 24
    # Every complete answer a constrained decoder may emit; None = `labels`. A code task gives
    # its whole code set here (the billable ICD-10-CM codes), not only the codes seen in train.
    choices: Callable[[], Sequence[str]] | None = None
    # A regular expression every choice matches (JSON-schema `pattern` syntax): what an endpoint
    # that cannot take the whole choice set as an enum is held to; the task validates the rest.
    pattern: str | None = None

    def constraint_choices(self) -> Sequence[str]:
        return self.choices() if self.choices is not None else self.labels


class Judge(Protocol):
    """An LLM that scores free-text answers (harness/scoring/judge.py); given with `--judge`."""

    def identity(self) -> dict[str, Any]: ...

    def score(self, questions: Sequence[str], answers: Sequence[str], references: Sequence[str],
              contexts: Sequence[Sequence[str] | None], seed: int) -> dict[str, Metric]: ...


@dataclass(frozen=True)
class ScoreInput:
    """Everything a scorer may use, for the samples that were answered (failed generations are
    left out: they are errors, not wrong answers)."""

    task: Task
    samples: Sequence[Sample]
    answers: Sequence[str | None]  # parsed answers; None = invalid (counts as wrong)
    extras: Sequence[Mapping[str, Any]]  # per sample, from the strategy (retrieved ids, contexts)
    seed: int = 0  # for bootstrap resampling
    judge: Judge | None = None  # the LLM judge (None without --judge)


class Scorer(Protocol):
    """Turns parsed predictions into named metrics (with confidence intervals)."""

    name: str

    def __call__(self, inp: ScoreInput) -> dict[str, Metric]: ...


@dataclass(frozen=True)
class Metric:
    """A metric value with its 95% CI. `value is None` means "not scored" (never NaN)."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    higher_is_better: bool = True
    note: str = ""


@dataclass
class Task:
    """A narrow job defined once: splits, answer space, how to read an answer, how to score it."""

    name: str
    version: str
    splits: Mapping[str, Sequence[Sample]]
    instructions: str
    answer_space: AnswerSpace
    parse: Callable[[str], str | None]  # raw model text -> answer, or None when invalid
    scorers: Sequence[Scorer]
    primary_metric: str
    description: str = ""
    source: str = ""  # where the data comes from and its licence (named in every cell record)
    # Extra facts a scorer may report beside its metrics (e.g. confused pairs).
    details: Callable[[Sequence[Sample], Sequence[str | None]], dict[str, Any]] | None = None
    # The documents a retrieval strategy (`rag`) searches; None = the task declares no corpus.
    corpus: Callable[[], Sequence[Document]] | None = None
    # One sample's score in [0, 1] for paired significance tests between strategies (McNemar on
    # 0/1 scores, paired bootstrap otherwise). None = exact match of answer and target.
    item_score: Callable[[Sample, str | None], float] | None = None
    # The reference answer of unanswerable items ("The handbook does not say."); free-text tasks
    # that have such items set it, so the QA scorer knows what an abstention is.
    abstention: str | None = None
    # What a run should tell the user about this data before any compute (printed once per
    # dataset by `rvf run`), e.g. gold codes no constrained decoder can answer.
    warnings: Sequence[str] = ()

    def score_item(self, sample: Sample, answer: str | None) -> float:
        if self.item_score is not None:
            return float(self.item_score(sample, answer))
        return float(answer is not None and answer == sample.target)

    def format_input(self, sample: Sample) -> str:
        """The user message for a sample. Every strategy sends the same text."""
        return sample.text

    def format_answer(self, sample: Sample) -> str:
        """The ideal assistant reply: used for few-shot examples and as the fine-tuning target."""
        return sample.target


CONSTRAIN_MODES = ("none", "labels", "score", "auto")


@dataclass(frozen=True)
class Constraint:
    """What a constrained decoder may answer: exactly one of `choices` (a label, a code).

    `mode` "labels" decodes greedily through a token trie of the choices; "score" ranks every
    choice by its log-likelihood after the prompt and answers the best (lm-eval's multiple
    choice). `choices_sha256` stands for the choices in cache keys (a code set has 74,719).
    """

    mode: Literal["labels", "score"]
    choices: tuple[str, ...] = field(repr=False)
    choices_sha256: str = ""
    pattern: str | None = None  # the answer space's pattern (AnswerSpace.pattern)

    @classmethod
    def of(cls, mode: Literal["labels", "score"], choices: Sequence[str],
           pattern: str | None = None) -> Constraint:
        import hashlib

        values = tuple(dict.fromkeys(choices))
        digest = hashlib.sha256("\n".join(values).encode()).hexdigest()
        return cls(mode, values, digest, pattern)

    def key(self) -> dict[str, str | None]:
        return {"mode": self.mode, "choices_sha256": self.choices_sha256,
                **({"pattern": self.pattern} if self.pattern else {})}


@dataclass(frozen=True)
class GenerationRequest:
    """One chat completion to run, greedy. Everything here is part of the request-cache key
    (a constraint by its mode and the hash of its choices)."""

    messages: tuple[Message, ...]
    max_new_tokens: int
    constraint: Constraint | None = None


@dataclass
class Generation:
    """What a backend returned for one request. `error` set means no usable text."""

    text: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0  # how long the caller waited (retries included)
    error: str | None = None
    cached: bool = False
    cached_input_tokens: int = 0  # prompt tokens the endpoint served from its prompt cache
    # This request's share of compute time (prices self-hosted models); None = not measured.
    compute_s: float | None = 0.0
    # Its share of process CPU seconds (prices local models); None = not measured (remote).
    cpu_s: float | None = None
    retries: int = 0  # attempts beyond the first (this run)
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. system_fingerprint


class Backend(Protocol):
    """Generates text. Construction is cheap; weights load on the first `generate`."""

    spec: str  # what the user wrote, e.g. "local/smollm2-135m-instruct"

    def identity(self) -> dict[str, Any]:
        """Everything that changes this backend's answers (name, weights fingerprint, dtype)."""
        ...

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, Generation]]:
        """Yield (request index, generation) as each finishes, in any order."""
        ...


@runtime_checkable
class ServesAdapters(Protocol):
    """A backend that can serve its base model with a trained LoRA adapter (hf/, local/, gguf/)."""

    def with_adapter(self, adapter: Path) -> Backend: ...


@runtime_checkable
class HasTrainingTwin(Protocol):
    """A backend whose weights peft cannot train (a GGUF file) but that may name the same model in
    a trainable form; None = it does not know one."""

    def training_twin(self) -> Backend | None: ...


@runtime_checkable
class Constrains(Protocol):
    """A backend that can keep an answer inside a closed answer space (`Constraint`)."""

    def constraint_modes(self, n_choices: int, pattern: str | None = None) -> tuple[str, ...]:
        """The modes it can decode for a set of `n_choices` answers ("labels", "score"), where
        every answer matches `pattern` (when the task gives one)."""
        ...


@runtime_checkable
class NotesBeforeRun(Protocol):
    """A strategy with something to tell the user about its arguments on this task before any
    compute (a train_size above the train split, which then trains on all of it)."""

    def plan_notes(self, task: Task) -> Sequence[str]: ...


@runtime_checkable
class ReportsFacts(Protocol):
    """A backend with facts for the cell record that are outside every key (model file size,
    threads, lowest concurrency reached), read once after generation."""

    facts: dict[str, Any]


@dataclass
class Prediction:
    """One sample's outcome in a cell: a line of the cell's predictions JSONL."""

    sample_id: str
    target: str
    raw: str
    input: str = ""  # the sample's text (the question, ticket or note), to read results by
    answer: str | None = None  # the parsed answer; None = invalid or not generated
    valid: bool = False
    error: str | None = None  # set when generation failed: the sample is not scored
    score: float | None = None  # per-sample score for paired tests; None = not scored
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    latency_s: float = 0.0
    compute_s: float | None = 0.0
    cpu_s: float | None = None
    retries: int = 0
    cached: bool = False
    meta: dict[str, Any] = field(default_factory=dict)  # from the backend (system_fingerprint)
    extra: dict[str, Any] = field(default_factory=dict)  # from the strategy (retrieved ids)
    # The user's own columns of this sample (`Sample.meta["fields"]`), to join results back.
    fields: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, task: Task, sample: Sample, gen: Generation, extra: dict[str, Any]) -> Prediction:
        """Parse and score one generation: the only place a Generation becomes a Prediction."""
        answer = None if gen.error else task.parse(gen.text)
        return cls(sample_id=sample.id, target=sample.target, raw=gen.text, input=sample.text,
                   answer=answer,
                   valid=answer is not None, error=gen.error,
                   score=None if gen.error else task.score_item(sample, answer),
                   input_tokens=gen.input_tokens, output_tokens=gen.output_tokens,
                   cached_input_tokens=gen.cached_input_tokens, latency_s=gen.latency_s,
                   compute_s=gen.compute_s, cpu_s=gen.cpu_s, retries=gen.retries, cached=gen.cached,
                   meta=gen.meta, extra=extra, fields=dict(sample.meta.get("fields") or {}))

    def row(self) -> dict[str, Any]:
        """The JSONL line (times rounded to 0.1 ms, empty input, meta, extra and fields left
        out)."""
        row = dict(vars(self))
        row["latency_s"] = round(self.latency_s, 4)
        for name in ("compute_s", "cpu_s"):
            row[name] = None if row[name] is None else round(row[name], 4)
        for name in ("input", "meta", "extra", "fields"):
            if not row[name]:
                del row[name]
        return row


class ModelRole(enum.Enum):
    """Which models the planner runs a strategy on."""

    MODEL = "model"  # --model: the (possibly hosted, frontier) models being compared
    SMALL_MODEL = "small_model"  # --small-model: the models a fine-tuning strategy trains
    OWN = "own"  # the strategy's own model (`Strategy.own_model`), e.g. the classifier's encoder


@dataclass(frozen=True)
class PrepareContext:
    """What a strategy's `prepare` may use besides the task and the backend."""

    seed: int = 0  # the cell's seed: few-shot picks, LoRA init, data order
    results_dir: Path | None = None  # where files meant for the user go (hosted_ft's JSONL)
    cache_root: Path | None = None  # adapters, indexes, heads; None = harness.paths.cache_root()
    # The one hardware rate: prices local training and index builds (as it prices inference).
    hardware_usd_per_hour: float = DEFAULT_HARDWARE_USD_PER_HOUR

    @property
    def hardware(self) -> HardwareRate:
        return HardwareRate(self.hardware_usd_per_hour, machine_cores())

    def cache(self, *parts: str) -> Path:
        """A folder under the cache root."""
        from harness.paths import cache_root

        return (self.cache_root or cache_root()).joinpath(*parts)


class TrainingInfo(BaseModel):
    """What a training strategy did (lora, classifier, hosted_ft), in the cell record.

    The common figures are typed fields, read by the leaderboard and `rvf cost`; each strategy
    adds its own (loss curve, job id, ...) as extra fields.
    """

    model_config = ConfigDict(extra="allow")

    kind: str = Field(description="What was trained, e.g. 'lora adapter'.")
    artifact: str = Field(description="Short label of the result, shown beside the model "
                                      "(e.g. 'LoRA 1a2b3c4d').")
    train_examples: int | None = Field(None, description="Training examples used.")
    examples_seen: int | None = Field(None, description="Examples passed through training, "
                                                        "epochs included; None = not counted.")
    steps: int | None = Field(None, description="Optimizer steps; None = not counted.")
    wall_seconds: float | None = Field(None, description="Training wall time (the cached run's, "
                                                         "on a cache hit).")
    cpu_seconds: float | None = Field(None, description="Process CPU seconds of the training "
                                                        "(what local training is priced by); "
                                                        "None = not measured.")
    training_cost_usd: float | None = Field(None, description="Training cost; None = unknown.")
    cost_basis: str = Field("", description="How training_cost_usd was computed.")
    peak_rss_bytes: int | None = Field(None, description="Peak resident memory while training.")
    cache_hit: bool = Field(False, description="Reused from the cache: nothing trained this run.")


class IndexInfo(BaseModel):
    """What building a retrieval index cost: a start-up cost like training."""

    build_seconds: float | None = Field(None, description="Wall time of the build (the cached "
                                                          "build's, on a cache hit).")
    cpu_seconds: float | None = Field(None, description="Process CPU seconds of the build; None "
                                                        "for an index built by an older rvf.")
    cost_usd: float | None = Field(None, description="Build cost at the hardware rate; None = "
                                                     "unknown.")
    cost_basis: str = Field("", description="How cost_usd was computed.")
    cache_hit: bool = Field(False, description="Reused from the cache: nothing built this run.")


@dataclass
class Prepared:
    """What a strategy's `prepare` hands back: the backend to generate with, facts for the record."""

    backend: Backend
    facts: dict[str, Any] = field(default_factory=dict)  # few-shot ids, index facts
    training: TrainingInfo | None = None  # set by strategies that train
    index: IndexInfo | None = None  # set by strategies that build a retrieval index
    # Labelled examples used (few-shot, an index of labelled items, training): priced by
    # --label-usd-per-example as a start-up cost; None = the strategy does not say.
    labelled_examples: int | None = None


class Strategy(Protocol):
    """How a model is made to do a task: prepare once per cell, then one request per sample."""

    name: str
    model_role: ModelRole
    own_model: str | None  # the model spec for ModelRole.OWN; None otherwise

    def prepare(self, task: Task, backend: Backend, ctx: PrepareContext) -> Prepared:
        """Build or reuse what prediction needs (few-shot pick, index, adapter)."""
        ...

    def requests(self, task: Task, samples: Sequence[Sample]
                 ) -> list[tuple[GenerationRequest, dict[str, Any]]]:
        """One request per sample, in order, each with extras for its prediction (e.g. retrieved ids)."""
        ...
