"""Which constraint a cell decodes with, and what it changed.

`--constrain` (a cell's `constrain`) takes `none`, `labels`, `score` or `auto` (the default):

- `labels`: the backend may only emit one of the task's choices (its labels, or a code task's
  whole code set), decoded greedily through a token trie (hf/, local/);
- `score`: every choice is scored by its log-likelihood and the best one is the answer (hf/,
  local/; small label sets);
- `auto`: `labels` where the task has a closed answer space and the backend can constrain, else
  unconstrained, with the reason in the record;
- `none`: free generation; the invalid rate then says whether the model learned the format.

After a constrained cell, the unconstrained answers to the same requests are looked up in the
request cache (they exist when a `constrain=none` run was made): the record then keeps their
invalid rate and how many answers the constraint changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.errors import UsageError
from harness.types import CONSTRAIN_MODES, Backend, Constrains, Constraint, Task


def resolve(task: Task, backend: Backend, requested: str) -> tuple[Constraint | None, dict[str, Any]]:
    """(the constraint to decode with or None, the record's `decoding` facts)."""
    if requested not in CONSTRAIN_MODES:
        raise UsageError(f"constrain must be one of {', '.join(CONSTRAIN_MODES)}, got {requested!r}")
    facts: dict[str, Any] = {"constrain": requested, "mode": "none"}
    if requested == "none":
        return None, facts
    space = task.answer_space
    why = None
    if space.kind == "text":
        why = f"task {task.name!r} has free-text answers"
    elif space.kind == "codes" and space.choices is None:
        why = f"task {task.name!r} gives no set of whole answers (several codes per answer)"
    elif not isinstance(backend, Constrains):
        why = f"{backend.spec} cannot constrain decoding"
    if why is not None:
        if requested != "auto":
            raise UsageError(f"constrain={requested}: {why}; use constrain=none or auto")
        return None, {**facts, "reason": why}
    choices = space.constraint_choices()
    if len(choices) < 2:
        raise UsageError(f"task {task.name!r}: its answer space has {len(choices)} choice(s); "
                         "there is nothing to predict")
    mode = "labels" if requested == "auto" else requested
    modes = backend.constraint_modes(len(choices), space.pattern)
    if mode not in modes:
        why = (f"{backend.spec} cannot decode {mode!r} for {len(choices):,} choices (it can: "
               f"{', '.join(modes) or 'none'})")
        if requested != "auto":
            raise UsageError(f"constrain={mode}: {why}")
        return None, {**facts, "reason": why}
    return Constraint.of(mode, choices, space.pattern), {**facts, "mode": mode,
                                                         "choices": len(choices)}


def compare_unconstrained(task: Task, constraint: Constraint, constrained: Sequence[str | None],
                          unconstrained: Sequence[str | None]) -> dict[str, Any]:
    """Facts for the record from the unconstrained answers (raw texts) of the same requests,
    None where the cache has none: the share outside the choices (unparseable, or not one of
    them: for codes, not a billable code) and how many answers the constraint changed."""
    pairs = [(c, task.parse(u)) for c, u in zip(constrained, unconstrained, strict=True)
             if u is not None]
    if not pairs:
        return {"unconstrained": "no unconstrained run of these requests in the request cache"}
    choices = set(constraint.choices)
    outside = sum(u is None or u not in choices for _, u in pairs)
    return {"unconstrained_n": len(pairs),
            "unconstrained_outside_choices_rate": round(outside / len(pairs), 4),
            "answers_changed": sum(c != u for c, u in pairs)}
