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
(same formats), which is how a user brings their own handbook.
"""

from __future__ import annotations

from pathlib import Path

from rvf_tasks.hr_policy_qa.loader import load_questions, load_sections, parse_answer

from harness.registry import Registry
from harness.scoring.text import QAScorer, answer_scores
from harness.types import AnswerSpace, Document, Task

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
    folder = Path(data).expanduser() if data else _default_dir()
    sections = load_sections(folder / "handbook.md")
    splits = load_questions(folder / "questions.jsonl", {s.id for s in sections})
    docs = [Document(s.id, f"{s.title}\n{s.text}", {"title": s.title}) for s in sections]
    return Task(
        name="hr_policy_qa", version=VERSION, splits=splits, instructions=INSTRUCTIONS,
        answer_space=AnswerSpace("text", max_answer_tokens=24), parse=parse_answer,
        scorers=[QAScorer()], primary_metric="token_f1",
        description=f"employee handbook QA ({len(sections)} sections"
                    + (f", from {data})" if data else ")"),
        corpus=lambda: docs, abstention=ABSTAIN,
        item_score=lambda sample, answer: answer_scores(answer, sample.target, ABSTAIN)[0],
    )


def register(registry: Registry) -> None:
    registry.task("hr_policy_qa", hr_policy_qa)
