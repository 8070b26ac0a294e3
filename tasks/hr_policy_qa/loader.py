"""Reading and checking a handbook (`handbook.md`) and its questions (`questions.jsonl`).

handbook.md: a section starts at a level-2 heading `## <ID> <Title>`, where ID is letters, digits
and dashes containing a digit (e.g. `LV-04`); its text runs to the next `## ` heading. Text before
the first section (the title, a preface) is not a section.

questions.jsonl: one JSON object per line with `split` (train/test/dev), `question`, `answer`,
`sections` (list of section ids; empty for unanswerable questions) and optionally `id`, `kind`.

Every problem is a DataError naming the file, the line and the item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import DataError
from harness.tasklib import read_jsonl, read_text
from harness.types import Sample

SECTION_ID = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$")
SPLITS = ("train", "test", "dev")


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    text: str
    line: int


def _read(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    return read_text(path)


def load_sections(path: Path) -> list[Section]:
    sections: list[Section] = []
    current: tuple[str, str, int] | None = None
    body: list[str] = []

    def close() -> None:
        if current is None:
            return
        sid, title, line = current
        text = " ".join(" ".join(body).split())
        if not text:
            raise DataError(f"{path}:{line}: section {sid!r} ({title}) has no text")
        sections.append(Section(sid, title, text, line))

    for lineno, line in enumerate(_read(path).splitlines(), 1):
        if line.startswith("## "):
            close()
            body = []
            head = line[3:].strip()
            sid, _, title = head.partition(" ")
            if not SECTION_ID.match(sid) or not any(c.isdigit() for c in sid) or not title.strip():
                raise DataError(f"{path}:{lineno}: section {head!r} has no id; headings must read "
                                "'## <ID> <Title>', e.g. '## LV-04 Sick leave'")
            if any(s.id == sid for s in sections):
                raise DataError(f"{path}:{lineno}: duplicate section id {sid!r}")
            current = (sid, title.strip(), lineno)
        elif current is not None:
            body.append(line)
    close()
    if not sections:
        raise DataError(f"{path}: the handbook is empty (no '## <ID> <Title>' sections)")
    return sections


def load_questions(path: Path, section_ids: set[str]) -> dict[str, list[Sample]]:
    splits: dict[str, list[Sample]] = {}
    seen: set[str] = set()
    _read(path)  # a clear error for a missing or non-UTF-8 file
    for lineno, row in read_jsonl(path):
        qid = str(row.get("id") or f"q{lineno:05d}")
        where = f"{path}:{lineno}: question {qid!r}"
        split = row.get("split")
        if split not in SPLITS:
            raise DataError(f"{where}: split must be one of {', '.join(SPLITS)}, got {split!r}")
        for key in ("question", "answer"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise DataError(f"{where}: empty or missing {key!r}")
        refs = row.get("sections", [])
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise DataError(f"{where}: 'sections' must be a list of section ids")
        missing = [r for r in refs if r not in section_ids]
        if missing:
            raise DataError(f"{where}: supporting section id(s) {', '.join(map(repr, missing))} "
                            "do not exist in the handbook")
        if qid in seen:
            raise DataError(f"{where}: duplicate question id")
        seen.add(qid)
        kind = row.get("kind") or ("unanswerable" if not refs else
                                   "combined" if len(refs) > 1 else "single")
        splits.setdefault(split, []).append(Sample(
            qid, row["question"].strip(), row["answer"].strip(),
            {"sections": list(refs), "kind": kind}))
    for split in ("train", "test"):
        if not splits.get(split):
            raise DataError(f"{path}: no {split!r} questions")
    return splits


_PREFIX = re.compile(r"^\s*(?:(?:the\s+)?(?:final\s+)?answer(?:\s+to\s+the\s+question)?(?:\s+is)?)"
                     r"\s*[:,]?\s+|^\s*(?:answer|a)\s*:\s*", re.I)


def parse_answer(raw: str) -> str | None:
    """The first non-empty line, without an `Answer:` / `The answer is:` prefix or wrapping
    quotes; None if empty."""
    for line in raw.strip().splitlines():
        text = _PREFIX.sub("", line.strip()).strip().strip("\"'`*").strip()
        if text:
            return text
    return None
