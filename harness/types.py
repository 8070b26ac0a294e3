"""The core vocabulary of rvf: what a task, a strategy and a backend are, and what flows between them.

A *task* owns data, answer space, parsing and scoring and never names a strategy. A *strategy*
turns samples into generation requests (and may prepare first: build an index, train an adapter).
A *backend* turns requests into text. The runner glues them together per *cell* (see cell.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

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


class Scorer(Protocol):
    """Turns parsed predictions into named metrics (with confidence intervals)."""

    name: str

    def __call__(self, task: Task, samples: Sequence[Sample], answers: Sequence[str | None],
                 seed: int) -> dict[str, Metric]: ...


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


@dataclass(frozen=True)
class GenerationRequest:
    """One chat completion to run, greedy. Everything here is part of the request-cache key."""

    messages: tuple[Message, ...]
    max_new_tokens: int


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


@dataclass
class Prediction:
    """One sample's outcome in a cell; written to the cell's predictions JSONL."""

    sample_id: str
    raw: str
    answer: str | None = None
    valid: bool = False
    error: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. retrieved ids and scores
    cached_input_tokens: int = 0
    compute_s: float | None = 0.0
    retries: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prepared:
    """What a strategy's `prepare` hands back: the backend to generate with, facts for the record."""

    backend: Backend
    facts: dict[str, Any] = field(default_factory=dict)


class Strategy(Protocol):
    """How a model is made to do a task: prepare once per cell, then one request per sample."""

    name: str

    def prepare(self, task: Task, backend: Backend, seed: int) -> Prepared:
        """Build or reuse what prediction needs (few-shot pick, index, adapter)."""
        ...

    def requests(self, task: Task, samples: Sequence[Sample]
                 ) -> list[tuple[GenerationRequest, dict[str, Any]]]:
        """One request per sample, in order, each with extras for its prediction (e.g. retrieved ids)."""
        ...
