"""Building blocks for task authors: label parsing, a classification-task builder, data loading.

The built-in tasks use exactly these, and so can a plugin in another package.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from harness.cache import canonical_json as _canonical_json
from harness.errors import DataError
from harness.scoring.classification import LabelScorer, confused_pairs
from harness.types import AnswerSpace, Document, Sample, Task

T = TypeVar("T")


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def label_parser(labels: Sequence[str]) -> Callable[[str], str | None]:
    """Read a label out of free model text; `None` when no single label can be found.

    Tolerates case, spaces for underscores, quotes, a `Label:` prefix and trailing prose. When
    the first line is not a label, a label named exactly once in the text is accepted; an answer
    naming two different labels is invalid (the model hedged).
    """
    by_norm = {_norm(label): label for label in labels}
    patterns = sorted(by_norm, key=len, reverse=True)

    def parse(raw: str) -> str | None:
        lines = [line for line in raw.strip().splitlines() if line.strip()]
        if not lines:
            return None
        first = re.sub(r"^(label|category|answer|intent)\s*[:=-]\s*", "", lines[0].strip(),
                       flags=re.I)
        if _norm(first) in by_norm:
            return by_norm[_norm(first)]
        text = "_" + _norm(raw) + "_"
        found = set()
        for p in patterns:
            if f"_{p}_" in text:
                found.add(p)
                text = text.replace(f"_{p}_", "_")
        return by_norm[found.pop()] if len(found) == 1 else None

    return parse


def seeded_subset(items: Sequence[T], n: int | None, seed: int) -> list[T]:
    """A seeded random `n` of `items`, kept in their order (all of them when n is None or larger).

    Not a prefix: data files are often sorted by label, and the first n rows would cover few."""
    items = list(items)
    if n is None or n >= len(items):
        return items
    return [items[i] for i in sorted(random.Random(seed).sample(range(len(items)), n))]


def seeded_split(n: int, fraction: float, seed: int, minimum: int = 0
                 ) -> tuple[list[int], list[int]]:
    """Indices (kept, held out) of a seeded random split of n items that holds out `fraction` of
    them (at least `minimum`), each list in the items' order."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    cut = max(minimum, int(n * fraction))
    return sorted(order[cut:]), sorted(order[:cut])


def dataset_sha256(splits: Mapping[str, Sequence[Sample]]) -> str:
    """Content hash of every split (ids, texts, targets), stable across runs and machines."""
    digest = hashlib.sha256()
    for name in sorted(splits):
        for s in splits[name]:
            digest.update(json.dumps([name, s.id, s.text, s.target], ensure_ascii=False).encode())
            digest.update(b"\n")
    return digest.hexdigest()


def corpus_sha256(docs: Sequence[Document]) -> str:
    """Content hash of a corpus: ids, texts and meta, in order."""
    digest = hashlib.sha256()
    for d in docs:
        digest.update(_canonical_json([d.id, d.text, dict(d.meta)]).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def classification_task(name: str, version: str, train: Sequence[Sample], test: Sequence[Sample],
                        descriptions: Mapping[str, str] | None = None, what: str = "text",
                        description: str = "", dev: Sequence[Sample] | None = None,
                        source: str = "", allow_unseen_labels: bool = False) -> Task:
    """A closed-label-set task: the label set is every label seen in train.

    A test label that never occurs in train can never be predicted, yet would count against every
    strategy: it is a DataError naming the labels and their counts, unless `allow_unseen_labels`
    (then the samples are scored, and the task description says how many).
    """
    if not train:
        raise DataError(f"task {name!r}: the train split is empty")
    if not test:
        raise DataError(f"task {name!r}: the test split is empty")
    labels = tuple(sorted({s.target for s in train}))
    unseen = Counter(s.target for s in test if s.target not in labels)
    if unseen and not allow_unseen_labels:
        listed = ", ".join(f"{label!r} ({n})" for label, n in unseen.most_common(10))
        raise DataError(f"task {name!r}: {sum(unseen.values())} test samples have a label that "
                        f"never occurs in train, so no strategy can answer them: {listed}"
                        f"{' ...' if len(unseen) > 10 else ''}. Add train examples, drop them, "
                        "or pass the task argument allow_unseen_labels=true to score them anyway")
    if unseen:
        description += (f" ({sum(unseen.values())} test samples with {len(unseen)} labels unseen "
                        "in train are scored: allow_unseen_labels)")
    descriptions = dict(descriptions or {})
    instructions = (
        f"Classify the {what} into exactly one of the categories below. "
        "Reply with the category name only, exactly as written, and nothing else."
    )
    splits = {"train": list(train), "test": list(test)}
    if dev:
        splits["dev"] = list(dev)
    longest = max(len(label) for label in labels)
    return Task(
        name=name, version=version, splits=splits, instructions=instructions,
        answer_space=AnswerSpace("labels", labels, descriptions,
                                 max_answer_tokens=max(8, longest // 2 + 6)),
        parse=label_parser(labels), scorers=[LabelScorer()], primary_metric="macro_f1",
        description=description, source=source,
        details=lambda samples, answers: {
            "confused_pairs": confused_pairs([s.target for s in samples], answers)},
    )


# -- user data: CSV or JSONL with a text column and a label column --------------------------------

TEXT_COLUMNS = ("text", "query", "input", "ticket", "note")
LABEL_COLUMNS = ("label", "category", "intent", "target")


def read_jsonl(path: Path) -> list[tuple[int, dict]]:
    """(line number, object) per non-blank line; a bad line is a DataError naming file and line."""
    rows = []
    for lineno, line in enumerate(read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise DataError(f"{path}:{lineno}: JSON nested too deeply") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object per line")
        rows.append((lineno, row))
    return rows


def read_text(path: Path) -> str:
    """The file as UTF-8 text; a bad byte is a DataError naming its line and byte offset."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}:{line}: not UTF-8 text ({exc.reason} at byte {exc.start} of "
                        "the file)") from None


def read_rows(path: Path) -> list[tuple[int, dict]]:
    """(line number, row) pairs; a malformed line is a DataError naming file and line."""
    if path.suffix.lower() == ".jsonl":
        return read_jsonl(path)
    if path.suffix.lower() != ".csv":
        raise DataError(f"{path}: unsupported file type (expected .csv or .jsonl)")
    try:
        reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
        rows = []
        for row in reader:
            if None in row:
                raise DataError(f"{path}:{reader.line_num}: more fields than the header "
                                f"has columns ({', '.join(reader.fieldnames or [])})")
            rows.append((reader.line_num, row))
        return rows
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV ({exc})") from None


def pick_column(columns: Sequence[str], wanted: str | None, candidates: Sequence[str],
                path: Path, what: str) -> str:
    """The column named `wanted`, else the first of `candidates` the file has; a DataError
    naming the file and its columns otherwise."""
    if wanted:
        if wanted not in columns:
            raise DataError(f"{path}: no {what} column {wanted!r} (columns: {', '.join(columns)})")
        return wanted
    for c in candidates:
        if c in columns:
            return c
    raise DataError(f"{path}: cannot find a {what} column (looked for {', '.join(candidates)}; "
                    f"columns: {', '.join(columns)}); name it with the {what}_field task argument")


def read_table(path: Path, fields: Mapping[str, tuple[str | None, Sequence[str]]]
               ) -> tuple[list[tuple[int, dict]], dict[str, str]]:
    """A CSV/JSONL file's (line, row) pairs and the column chosen for each field: `fields` maps
    what a column holds ("text") to (the column the user named or None, the usual names)."""
    rows = read_rows(path)
    if not rows:
        raise DataError(f"{path}: no rows")
    columns = list(rows[0][1].keys())
    return rows, {what: pick_column(columns, named, usual, path, what)
                  for what, (named, usual) in fields.items()}


# A user's own sample ids: the first of these columns a file has (or the one `id_field` names).
ID_COLUMNS = ("id", "sample_id", "note_id", "ticket_id")


def default_id(split: str, index: int) -> str:
    """The id of a sample whose file gives none: its split and position."""
    return f"{split}-{index:05d}"


class UserRows:
    """Ids and extra columns of a user's file, so results can be joined back to its records.

    `id(lineno, row, index)` is the row's own id when the file has an id column (non-empty and
    unique, else a DataError naming the line), else `default_id`. `fields(row)` is every column
    the task does not read (`Sample.meta["fields"]`, copied into each prediction row).
    """

    def __init__(self, path: Path, rows: Sequence[tuple[int, dict]], split: str,
                 used: Sequence[str], id_field: str | None = None) -> None:
        columns = list(rows[0][1].keys()) if rows else []
        self.path, self.split = path, split
        self.column = (pick_column(columns, id_field, ID_COLUMNS, path, "id") if id_field
                       else next((c for c in ID_COLUMNS if c in columns), None))
        self.used = {*used, *([self.column] if self.column else [])}
        self.seen: dict[str, int] = {}

    def id(self, lineno: int, row: dict, index: int) -> str:
        if self.column is None:
            return default_id(self.split, index)
        value = row.get(self.column)
        sid = str(value).strip() if isinstance(value, str | int) else ""
        if not sid:
            raise DataError(f"{self.path}:{lineno}: empty or missing id {self.column!r}")
        if sid in self.seen:
            raise DataError(f"{self.path}:{lineno}: id {sid!r} repeats line {self.seen[sid]}")
        self.seen[sid] = lineno
        return sid

    def fields(self, row: dict) -> dict[str, Any]:
        return {k: v for k, v in row.items() if k not in self.used}


def load_labelled_file(path: Path, split: str, text_field: str | None = None,
                       label_field: str | None = None, id_field: str | None = None
                       ) -> list[Sample]:
    rows, cols = read_table(path, {"text": (text_field, TEXT_COLUMNS),
                                   "label": (label_field, LABEL_COLUMNS)})
    tcol, lcol = cols["text"], cols["label"]
    user = UserRows(path, rows, split, (tcol, lcol), id_field)
    samples = []
    for lineno, row in rows:
        text, label = row.get(tcol), row.get(lcol)
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{path}:{lineno}: empty or missing {tcol!r}")
        if not isinstance(label, str | int) or not str(label).strip():
            raise DataError(f"{path}:{lineno}: empty or missing {lcol!r}")
        fields = user.fields(row)
        samples.append(Sample(user.id(lineno, row, len(samples)), text.strip(), str(label).strip(),
                              {"fields": fields} if fields else {}))
    return samples


def load_splits(data: str, read_file: Callable[[Path, str], list[Sample]], seed: int = 0,
                test_fraction: float = 0.2) -> dict[str, list[Sample]]:
    """Splits from a folder holding train/test(/dev) .csv or .jsonl files, or from one file.

    `read_file(path, split)` reads one file into samples (labelled, coded, ...). One file
    without a split is divided into train and test at random (seeded), `test_fraction` going to
    test; samples without their own ids are renumbered per split, a user's ids are kept.
    """
    root = Path(data).expanduser()
    if not root.exists():
        raise DataError(f"data path {root} does not exist")
    if root.is_dir():
        splits = {}
        for split in ("train", "test", "dev"):
            found = [p for p in (root / f"{split}.csv", root / f"{split}.jsonl") if p.exists()]
            if found:
                splits[split] = read_file(found[0], split)
        if "train" not in splits or "test" not in splits:
            raise DataError(f"{root}: expected train.csv and test.csv (or .jsonl) in the folder")
        return splits
    samples = read_file(root, "all")
    train, test = seeded_split(len(samples), test_fraction, seed, minimum=1)
    if not train or not test:
        raise DataError(f"{root}: {len(samples)} row(s); the {1 - test_fraction:.0%}/"
                        f"{test_fraction:.0%} train/test split left the "
                        f"{'test' if not test else 'train'} split empty (give more rows, or a "
                        "folder with train and test files)")

    def pick(idx: Sequence[int], split: str) -> list[Sample]:
        return [dataclasses.replace(samples[i], id=default_id(split, j))
                if samples[i].id == default_id("all", i) else samples[i]
                for j, i in enumerate(idx)]

    return {"train": pick(train, "train"), "test": pick(test, "test")}


def load_labelled_data(data: str, text_field: str | None = None, label_field: str | None = None,
                       seed: int = 0, test_fraction: float = 0.2, id_field: str | None = None
                       ) -> dict[str, list[Sample]]:
    """Labelled splits (`load_splits` of `load_labelled_file`)."""
    return load_splits(data, lambda path, split: load_labelled_file(path, split, text_field,
                                                                    label_field, id_field),
                       seed, test_fraction)


# -- free-text questions over a corpus (`qa_task`) ---------------------------------------------------

SECTION_ID = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$")
QA_SPLITS = ("train", "test", "dev")


def qa_task(name: str, version: str, splits: Mapping[str, Sequence[Sample]],
            corpus: Sequence[Document], about: str, abstention: str | None = None,
            instructions: str | None = None, description: str = "", source: str = "",
            max_answer_tokens: int = 24) -> Task:
    """A free-text QA task over a corpus: the twin of `classification_task`.

    Samples: `text` = the question, `target` = the short reference answer, `meta["sections"]` =
    the ids of the corpus documents that support it (empty for an unanswerable question, whose
    reference is `abstention`). Wires the QA scorer (token-F1 primary, exact match, abstention
    accuracy, retrieval recall@k and MRR against the gold ids, ragas' non-LLM metrics), token-F1
    as the per-sample score of paired tests, and the corpus for `rag`. A gold id missing from the
    corpus is a DataError naming the sample.
    """
    from harness.scoring.text import QAScorer, answer_scores

    if not splits.get("train") or not splits.get("test"):
        raise DataError(f"task {name!r}: needs non-empty train and test splits")
    docs = list(corpus)
    ids = [d.id for d in docs]
    if not docs or len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        raise DataError(f"task {name!r}: the corpus is empty" if not docs else
                        f"task {name!r}: corpus document ids repeat: {', '.join(repeated[:5])}")
    known = set(ids)
    for split, samples in splits.items():
        for s in samples:
            missing = [d for d in s.meta.get("sections", ()) if d not in known]
            if missing:
                raise DataError(f"task {name!r}: {split} sample {s.id!r} cites document(s) "
                                f"{', '.join(map(repr, missing))} that are not in the corpus")
    if instructions is None:
        instructions = (f"You answer questions about {about}. Reply with the short answer only: "
                        "a number with its unit, a name, a date or a short phrase, not a full "
                        "sentence."
                        + (f" If {about} does not answer the question, reply exactly: "
                           f"{abstention}" if abstention else ""))
    return Task(
        name=name, version=version, splits=dict(splits), instructions=instructions,
        answer_space=AnswerSpace("text", max_answer_tokens=max_answer_tokens),
        parse=parse_short_answer, scorers=[QAScorer()], primary_metric="token_f1",
        description=description or f"questions about {about} ({len(docs)} documents)",
        source=source, corpus=lambda: docs, abstention=abstention,
        item_score=lambda sample, answer: answer_scores(answer, sample.target, abstention)[0],
    )


def load_qa_folder(folder: Path, corpus: str = "handbook.md",
                   questions: str = "questions.jsonl") -> tuple[list[Document], dict[str, list[Sample]]]:
    """A corpus file and a questions file from one folder: the format of `hr_policy_qa data=`.

    The corpus is markdown (`load_markdown_corpus`) or JSONL (`load_jsonl_corpus`), by its suffix.
    """
    path = Path(folder).expanduser() / corpus
    docs = load_jsonl_corpus(path) if path.suffix == ".jsonl" else load_markdown_corpus(path)
    return docs, load_questions(Path(folder).expanduser() / questions, {d.id for d in docs})


def _existing_text(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    return read_text(path)


def load_markdown_corpus(path: Path) -> list[Document]:
    """Sections of a markdown file: each starts at a level-2 heading `## <ID> <Title>` (ID:
    capitals, digits and dashes with a digit, e.g. `LV-04`) and runs to the next one. Text
    before the first section (a title, a preface) belongs to none. Document text: the title, a
    newline, the section's text with its whitespace collapsed; meta: {"title": ...}."""
    docs: list[Document] = []
    current: tuple[str, str, int] | None = None
    body: list[str] = []

    def close() -> None:
        if current is None:
            return
        sid, title, line = current
        text = " ".join(" ".join(body).split())
        if not text:
            raise DataError(f"{path}:{line}: section {sid!r} ({title}) has no text")
        docs.append(Document(sid, f"{title}\n{text}", {"title": title}))

    for lineno, line in enumerate(_existing_text(path).splitlines(), 1):
        if line.startswith("## "):
            close()
            body = []
            head = line[3:].strip()
            sid, _, title = head.partition(" ")
            if not SECTION_ID.match(sid) or not any(c.isdigit() for c in sid) or not title.strip():
                raise DataError(f"{path}:{lineno}: section {head!r} has no id; headings must read "
                                "'## <ID> <Title>', e.g. '## LV-04 Sick leave'")
            if any(d.id == sid for d in docs):
                raise DataError(f"{path}:{lineno}: duplicate section id {sid!r}")
            current = (sid, title.strip(), lineno)
        elif current is not None:
            body.append(line)
    close()
    if not docs:
        raise DataError(f"{path}: no sections (no '## <ID> <Title>' headings)")
    return docs


def load_jsonl_corpus(path: Path) -> list[Document]:
    """One document per line: `id`, `text`, and any other keys as its meta (a `title` is put
    before the text, as in markdown sections)."""
    docs, seen = [], set()
    _existing_text(path)
    for lineno, row in read_jsonl(path):
        did, text = row.get("id"), row.get("text")
        if not isinstance(did, str | int) or not str(did).strip():
            raise DataError(f"{path}:{lineno}: empty or missing 'id'")
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{path}:{lineno}: empty or missing 'text'")
        if str(did) in seen:
            raise DataError(f"{path}:{lineno}: duplicate document id {str(did)!r}")
        seen.add(str(did))
        meta = {k: v for k, v in row.items() if k not in ("id", "text")}
        title = meta.get("title")
        docs.append(Document(str(did), f"{title}\n{text.strip()}" if title else text.strip(), meta))
    if not docs:
        raise DataError(f"{path}: no documents")
    return docs


def load_questions(path: Path, doc_ids: set[str]) -> dict[str, list[Sample]]:
    """questions.jsonl: per line `split` (train/test/dev), `question`, `answer`, `sections` (ids
    of the supporting documents; empty for an unanswerable question) and optionally `id` and
    `kind`; other keys are kept as the sample's `fields` (copied into the predictions)."""
    splits: dict[str, list[Sample]] = {}
    seen: set[str] = set()
    _existing_text(path)  # a clear error for a missing or non-UTF-8 file
    for lineno, row in read_jsonl(path):
        qid = str(row.get("id") or f"q{lineno:05d}")
        where = f"{path}:{lineno}: question {qid!r}"
        split = row.get("split")
        if split not in QA_SPLITS:
            raise DataError(f"{where}: split must be one of {', '.join(QA_SPLITS)}, got {split!r}")
        for key in ("question", "answer"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise DataError(f"{where}: empty or missing {key!r}")
        refs = row.get("sections", [])
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise DataError(f"{where}: 'sections' must be a list of section ids")
        missing = [r for r in refs if r not in doc_ids]
        if missing:
            raise DataError(f"{where}: supporting section id(s) {', '.join(map(repr, missing))} "
                            "do not exist in the corpus")
        if qid in seen:
            raise DataError(f"{where}: duplicate question id")
        seen.add(qid)
        kind = row.get("kind") or ("unanswerable" if not refs else
                                   "combined" if len(refs) > 1 else "single")
        fields = {k: v for k, v in row.items()
                  if k not in ("id", "split", "question", "answer", "sections", "kind")}
        splits.setdefault(split, []).append(Sample(
            qid, row["question"].strip(), row["answer"].strip(),
            {"sections": list(refs), "kind": kind, **({"fields": fields} if fields else {})}))
    for split in ("train", "test"):
        if not splits.get(split):
            raise DataError(f"{path}: no {split!r} questions")
    return splits


_ANSWER_PREFIX = re.compile(r"^\s*(?:(?:the\s+)?(?:final\s+)?answer(?:\s+to\s+the\s+question)?"
                            r"(?:\s+is)?)\s*[:,]?\s+|^\s*(?:answer|a)\s*:\s*", re.I)


def parse_short_answer(raw: str) -> str | None:
    """The first non-empty line, without an `Answer:` / `The answer is:` prefix or wrapping
    quotes; None if empty."""
    for line in raw.strip().splitlines():
        text = _ANSWER_PREFIX.sub("", line.strip()).strip().strip("\"'`*").strip()
        if text:
            return text
    return None
