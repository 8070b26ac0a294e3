"""An rvf free-text QA task plugin: questions about a library's volunteer handbook.

The corpus is `data/handbook.md` (sections headed `## <ID> <Title>`); the questions are
`data/questions.jsonl` (`split`, `question`, `answer`, `sections`: the ids of the sections that
answer it, empty when the handbook does not). `qa_task` wires the rest: token-F1 and exact match,
abstention, retrieval recall@k and MRR against the gold sections, and the corpus for `rag`.
With `--task-arg data=<folder>` the same task runs on your own handbook in the same two files.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

from harness.registry import Registry
from harness.tasklib import load_qa_folder, qa_task
from harness.types import Task

VERSION = "1"  # bump when the data or the instructions change: old records are never reused
ABSTAIN = "The handbook does not say."


def volunteer_faq(data: str | None = None) -> Task:
    """Questions about the Riverside Library volunteer handbook (or yours, via data=)."""
    with as_file(files(__name__) / "data") as bundled:
        docs, splits = load_qa_folder(Path(data) if data else bundled)
    return qa_task("volunteer_faq", VERSION, splits, docs,
                   about="the Riverside Library volunteer handbook", abstention=ABSTAIN,
                   source="written for rvf's examples (Apache-2.0)")


def register(registry: Registry) -> None:
    registry.task("volunteer_faq", volunteer_faq)
