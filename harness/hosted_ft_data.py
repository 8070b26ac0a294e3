"""The training file of the `hosted_ft` strategy: export, validation, token and cost estimates.

Format: OpenAI's chat fine-tuning JSONL, one line per train sample,
`{"messages": [system, user, assistant]}`. The system and user turns are `lora_messages` (what the
`lora` strategy trains on, and what both fine-tuning strategies send at test time); the assistant
turn is `task.format_answer(sample)`. So lora and hosted_ft learn from identical conversations.

Validation reads the written file back, line by line, so what is checked is byte for byte what
gets uploaded (or what a user uploads by hand). Errors name the file, the line and the field.

Token counts follow OpenAI's cookbook (chat_finetuning_data_prep): per example, 3 tokens per
message plus its role and content tokens, plus 3. They are exact only with the model's own
tokenizer: tiktoken, when it is installed, knows the model and has its BPE file on disk (rvf never
downloads it). Otherwise they are a rough estimate, characters / 4, and every report says which.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.errors import DataError
from harness.records import atomic_write
from harness.strategies.lora import lora_messages
from harness.types import Sample, Task

ROLES = ("system", "user", "assistant")
MESSAGE_KEYS = {"role", "content", "name", "weight"}  # what the fine-tuning API accepts per turn
MIN_EXAMPLES = 10  # the fine-tuning API refuses a smaller training file
# Longest training example of gpt-4o-mini and gpt-4.1* (OpenAI fine-tuning guide); the API
# truncates longer ones, so they are reported, not refused.
MAX_EXAMPLE_TOKENS = 65_536
SHOWN_ERRORS = 5  # errors listed in one message; the rest are counted
# OpenAI's rule for n_epochs "auto" (cookbook chat_finetuning_data_prep): 3 epochs, more for small
# files (so training sees at least 100 examples), fewer for large ones (at most 25,000), 1 to 25.
TARGET_EPOCHS, MIN_TARGET_EXAMPLES, MAX_TARGET_EXAMPLES = 3, 100, 25_000
MIN_AUTO_EPOCHS, MAX_AUTO_EPOCHS = 1, 25


def example_messages(task: Task, sample: Sample) -> list[dict[str, str]]:
    """One training conversation: the lora strategy's turns plus the target answer."""
    return [*lora_messages(task, sample),
            {"role": "assistant", "content": task.format_answer(sample)}]


def export_text(task: Task, samples: Sequence[Sample]) -> str:
    """The JSONL file's text: deterministic, so equal data gives an equal file and hash."""
    return "".join(json.dumps({"messages": example_messages(task, s)}, ensure_ascii=False) + "\n"
                   for s in samples)


def write_export(folder: Path, task: Task, samples: Sequence[Sample]) -> tuple[Path, str]:
    """Write `<folder>/<task>-<sha12>.jsonl` (atomically); (path, sha256 of the file)."""
    text = export_text(task, samples)
    sha = hashlib.sha256(text.encode()).hexdigest()
    path = folder / f"{task.name}-{sha[:12]}.jsonl"
    if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != sha:
        atomic_write(path, text)
    return path, sha


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens of a text; `tokenizer` says how (and whether the count is exact)."""

    tokenizer: str
    exact: bool
    count: Callable[[str], int]


def rough_counter(why: str) -> TokenCounter:
    return TokenCounter(f"rough estimate: characters / 4 ({why})", False,
                        lambda text: -(-len(text) // 4))


def token_counter(model: str) -> TokenCounter:
    """The model's tokenizer through tiktoken where known and available offline, else rough.

    tiktoken is optional (it comes with the `rag` extra, through llama-index): counts for an API
    bill are a convenience, not worth a dependency of their own.
    """
    try:
        import tiktoken
    except ImportError:
        return rough_counter("tiktoken is not installed")
    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        return rough_counter(f"tiktoken does not know the tokenizer of {model!r}")
    if not _bpe_on_disk(name):
        return rough_counter(f"the {name} BPE file is not on disk and rvf does not download it")
    encoding = tiktoken.get_encoding(name)
    return TokenCounter(f"tiktoken {name}", True,
                        lambda text: len(encoding.encode(text, disallowed_special=())))


def _bpe_on_disk(name: str) -> bool:
    """Whether tiktoken can load `name` without the network: its cache holds the BPE file
    (named by the SHA-1 of its URL), after pointing the cache at llama-index's copies."""
    from harness.index import tiktoken_offline

    tiktoken_offline()
    folder = (os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
              or os.path.join(tempfile.gettempdir(), "data-gym-cache"))
    url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
    return (Path(folder) / hashlib.sha1(url.encode()).hexdigest()).is_file()


def example_tokens(messages: Sequence[dict[str, Any]], counter: TokenCounter) -> int:
    """Tokens of one example as the fine-tuning API counts them (OpenAI cookbook formula)."""
    return 3 + sum(3 + counter.count(m["role"]) + counter.count(m["content"]) for m in messages)


def auto_epochs(n_examples: int) -> int:
    """The n_epochs the API picks for "auto" (OpenAI's published rule, see the constants)."""
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_AUTO_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_AUTO_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS


@dataclass(frozen=True)
class Validation:
    """What validating a training file found (it raised on any error, so the file is valid)."""

    file: str
    sha256: str
    examples: int
    tokenizer: str
    model_tokenizer: bool
    tokens: int  # billable tokens in one pass over the file (examples capped at the limit)
    tokens_min: int
    tokens_mean: float
    tokens_max: int
    over_limit: int  # examples longer than MAX_EXAMPLE_TOKENS (the API truncates them)

    def facts(self) -> dict[str, Any]:
        return asdict(self)


def line_problems(line: str) -> tuple[list[str], list[dict[str, Any]]]:
    """(problems, messages) of one JSONL line; problems name the field."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return [f"not valid JSON ({exc.msg} at column {exc.colno})"], []
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        return ["expected an object with a 'messages' list"], []
    problems = [f"unexpected key {k!r} (only 'messages')" for k in data if k != "messages"]
    messages = data["messages"]
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            problems.append(f"messages[{i}]: expected an object")
            continue
        role = m.get("role")
        if role not in ROLES:
            problems.append(f"messages[{i}].role: {role!r} is not one of {', '.join(ROLES)}")
        problems += [f"messages[{i}]: unexpected key {k!r}" for k in sorted(set(m) - MESSAGE_KEYS)]
        if not isinstance(m.get("content"), str):
            problems.append(f"messages[{i}].content ({role} turn): expected a string")
        elif not m["content"].strip():
            problems.append(f"messages[{i}].content ({role} turn): empty")
    roles = [m.get("role") for m in messages if isinstance(m, dict)]
    if "user" not in roles:
        problems.append("messages: no user turn")
    if not roles or roles[-1] != "assistant":
        problems.append("messages: the last turn must be the assistant's answer")
    return problems, messages if not problems else []


def validate_file(path: Path, counter: TokenCounter) -> Validation:
    """Check every line of a chat fine-tuning JSONL file and count its tokens.

    Raises DataError naming `file:line: field: problem` (the first few, and how many in all).
    """
    raw = path.read_bytes()
    errors: list[str] = []
    lengths: list[int] = []
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 ({exc})") from None
    for number, line in enumerate(lines, 1):
        problems, messages = line_problems(line)
        errors += [f"{path}:{number}: {p}" for p in problems]
        if messages:
            lengths.append(example_tokens(messages, counter))
    if errors:
        more = f"\n(and {len(errors) - SHOWN_ERRORS} more)" if len(errors) > SHOWN_ERRORS else ""
        raise DataError(f"invalid fine-tuning file, {len(errors)} problem(s):\n"
                        + "\n".join(errors[:SHOWN_ERRORS]) + more)
    if len(lengths) < MIN_EXAMPLES:
        raise DataError(f"{path}: {len(lengths)} examples; the fine-tuning API needs at least "
                        f"{MIN_EXAMPLES} (use a larger train split or train_size)")
    return Validation(
        file=str(path), sha256=hashlib.sha256(raw).hexdigest(), examples=len(lengths),
        tokenizer=counter.tokenizer, model_tokenizer=counter.exact,
        tokens=sum(min(n, MAX_EXAMPLE_TOKENS) for n in lengths), tokens_min=min(lengths),
        tokens_mean=round(sum(lengths) / len(lengths), 1), tokens_max=max(lengths),
        over_limit=sum(n > MAX_EXAMPLE_TOKENS for n in lengths))
