"""Building blocks for task authors: label parsing, a classification-task builder, data loading.

The built-in tasks use exactly these, and so can a plugin in another package.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

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


def load_labelled_file(path: Path, split: str, text_field: str | None = None,
                       label_field: str | None = None) -> list[Sample]:
    rows, cols = read_table(path, {"text": (text_field, TEXT_COLUMNS),
                                   "label": (label_field, LABEL_COLUMNS)})
    tcol, lcol = cols["text"], cols["label"]
    samples = []
    for lineno, row in rows:
        text, label = row.get(tcol), row.get(lcol)
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{path}:{lineno}: empty or missing {tcol!r}")
        if not isinstance(label, str | int) or not str(label).strip():
            raise DataError(f"{path}:{lineno}: empty or missing {lcol!r}")
        samples.append(Sample(f"{split}-{len(samples):05d}", text.strip(), str(label).strip()))
    return samples


def load_splits(data: str, read_file: Callable[[Path, str], list[Sample]], seed: int = 0,
                test_fraction: float = 0.2) -> dict[str, list[Sample]]:
    """Splits from a folder holding train/test(/dev) .csv or .jsonl files, or from one file.

    `read_file(path, split)` reads one file into samples (labelled, coded, ...). One file
    without a split is divided into train and test at random (seeded), `test_fraction` going to
    test; the samples are renumbered per split.
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
    pick = lambda idx, split: [  # noqa: E731
        Sample(f"{split}-{j:05d}", samples[i].text, samples[i].target, samples[i].meta)
        for j, i in enumerate(idx)]
    return {"train": pick(train, "train"), "test": pick(test, "test")}


def load_labelled_data(data: str, text_field: str | None = None, label_field: str | None = None,
                       seed: int = 0, test_fraction: float = 0.2) -> dict[str, list[Sample]]:
    """Labelled splits (`load_splits` of `load_labelled_file`)."""
    return load_splits(data, lambda path, split: load_labelled_file(path, split, text_field,
                                                                    label_field),
                       seed, test_fraction)
