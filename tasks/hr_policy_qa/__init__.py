"""Task `hr_policy_qa`: answer employees' questions about a fictional company's handbook.

The corpus is the Tarnwell Systems employee handbook (package `rvf_corpora.hr_handbook`, written
by its build.py): 50 policy sections with stable ids, full of invented amounts, day counts,
approval chains and exceptions that no pretrained model can know. The questions (382) each carry
a short reference answer and the ids of the sections that support it; some need two sections,
some are not answered by the handbook (reference: "The handbook does not say."). Every fact is
asked once in train and once, in other words, in test.

Samples: `text` = the question, `target` = the reference answer (so `prompt` and `lora` run on
this task as on any other), `meta` = {"sections": [...], "kind": single|combined|unanswerable}.
With `data=<folder>` the task reads `handbook.md` and `questions.jsonl` from that folder instead
(the formats of `harness.tasklib.load_qa_folder`, documented in docs/data.md), which is how a
user brings their own handbook.
"""

from __future__ import annotations

from pathlib import Path

from harness.registry import Registry
from harness.tasklib import load_qa_folder, qa_task
from harness.types import Task

VERSION = "1"
# The reference answer of the questions the handbook does not answer (corpora/hr_handbook/build.py).
ABSTAIN = "The handbook does not say."

INSTRUCTIONS = (
    "You answer employees' questions about the Tarnwell Systems employee handbook. "
    "Reply with the short answer only: a number with its unit, a name, a date or a short phrase, "
    "not a full sentence. If the handbook does not answer the question, reply exactly: "
    f"{ABSTAIN}"
)


def _default_dir() -> Path:
    from rvf_corpora.hr_handbook import data_dir

    return data_dir()


def hr_policy_qa(data: str | None = None) -> Task:
    """Questions about a fictional employee handbook (RAG corpus: the handbook's 50 sections)."""
    docs, splits = load_qa_folder(Path(data).expanduser() if data else _default_dir())
    return qa_task("hr_policy_qa", VERSION, splits, docs, about="the employee handbook",
                   abstention=ABSTAIN, instructions=INSTRUCTIONS,
                   description=f"employee handbook QA ({len(docs)} sections"
                               + (f", from {data})" if data else ")"))


def register(registry: Registry) -> None:
    registry.task("hr_policy_qa", hr_policy_qa)
