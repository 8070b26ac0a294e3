"""Strategy `prompt`: instructions, the answer space, and k few-shot examples from `train`.

The few-shot examples are drawn once per cell (seeded) and are the same for every test sample, so
the prompt prefix is identical across requests. They are sent as earlier user/assistant turns,
which is how chat models are trained to read examples.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import UsageError
from harness.types import (
    Backend,
    GenerationRequest,
    Message,
    ModelRole,
    PrepareContext,
    Prepared,
    Sample,
    Task,
)


def system_message(task: Task) -> str:
    """Instructions plus the answer space; shared with the other strategies."""
    space = task.answer_space
    parts = [task.instructions]
    if space.kind == "labels" and space.labels:
        lines = [f"- {label}: {space.descriptions[label]}" if space.descriptions.get(label)
                 else f"- {label}" for label in space.labels]
        parts.append("Categories:\n" + "\n".join(lines))
    return "\n\n".join(parts)


def few_shot_turns(task: Task, examples: Sequence[Sample]) -> list[Message]:
    turns: list[Message] = []
    for ex in examples:
        turns.append({"role": "user", "content": task.format_input(ex)})
        turns.append({"role": "assistant", "content": task.format_answer(ex)})
    return turns


@dataclass
class PromptStrategy:
    k: int = 5
    name: str = "prompt"
    model_role: ModelRole = ModelRole.MODEL
    own_model: str | None = None
    examples: list[Sample] = field(default_factory=list)

    def prepare(self, task: Task, backend: Backend, ctx: PrepareContext) -> Prepared:
        train = task.splits.get("train", [])
        if self.k > len(train):
            raise UsageError(f"prompt: k={self.k} few-shot examples but task {task.name!r} has "
                             f"{len(train)} train samples")
        self.examples = random.Random(ctx.seed).sample(list(train), self.k)
        return Prepared(backend, {"few_shot_ids": [ex.id for ex in self.examples]},
                        labelled_examples=self.k)

    def requests(self, task: Task, samples: Sequence[Sample]
                 ) -> list[tuple[GenerationRequest, dict[str, Any]]]:
        prefix: list[Message] = [{"role": "system", "content": system_message(task)}]
        prefix += few_shot_turns(task, self.examples)
        max_tokens = task.answer_space.max_answer_tokens
        return [(GenerationRequest(tuple(prefix + [{"role": "user",
                                                     "content": task.format_input(s)}]),
                                   max_tokens), {})
                for s in samples]


def prompt(k: int = 5) -> PromptStrategy:
    """Instructions + answer space + k few-shot examples from train."""
    if k < 0:
        raise UsageError(f"prompt: k must be >= 0, got {k}")
    return PromptStrategy(k=k)
