"""An rvf strategy plugin: `prompt`'s instructions, answer space and k few-shot examples, with
the instructions in the first user turn, for chat templates without a system role (Gemma's)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import UsageError
from harness.registry import Registry
from harness.strategies.prompt import few_shot_turns, system_message
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


@dataclass
class UserTurnPrompt:
    k: int
    name: str = "user_turn_prompt"
    model_role: ModelRole = ModelRole.MODEL  # runs on --model, like prompt
    own_model: str | None = None
    turns: list[Message] = field(default_factory=list)

    def prepare(self, task: Task, backend: Backend, ctx: PrepareContext) -> Prepared:
        train = list(task.splits.get("train", []))
        if self.k > len(train):
            raise UsageError(f"user_turn_prompt: k={self.k} but {task.name!r} has {len(train)} "
                             "train samples")
        examples = random.Random(ctx.seed).sample(train, self.k)
        self.turns = few_shot_turns(task, examples)
        return Prepared(backend, {"few_shot_ids": [ex.id for ex in examples]})

    def requests(self, task: Task, samples: Sequence[Sample]
                 ) -> list[tuple[GenerationRequest, dict[str, Any]]]:
        def messages(sample: Sample) -> tuple[Message, ...]:
            turns = [*self.turns, {"role": "user", "content": task.format_input(sample)}]
            first = f"{system_message(task)}\n\n{turns[0]['content']}"
            return ({"role": "user", "content": first}, *turns[1:])

        tokens = task.answer_space.max_answer_tokens
        return [(GenerationRequest(messages(s), tokens), {}) for s in samples]


def user_turn_prompt(k: int = 5) -> UserTurnPrompt:
    """prompt's instructions and k few-shot examples, in the user turn (no system turn)."""
    return UserTurnPrompt(k=k)


def register(registry: Registry) -> None:
    registry.strategy("user_turn_prompt", user_turn_prompt)
