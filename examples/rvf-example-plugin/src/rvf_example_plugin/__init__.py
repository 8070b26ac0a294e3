"""An rvf task plugin in one module: the task `language_id` and the `register` hook rvf calls.

The task: say which language (english, french, german, spanish) a short sentence is written in.
Its data ships inside this package (`data/train.jsonl`, `data/test.jsonl`, one
`{"text": ..., "label": ...}` object per line), so the plugin works offline and from a wheel.
With `--task-arg data=<folder or file>` the same task runs on your own labelled CSV or JSONL.

Nothing here runs on import except the definitions: rvf calls `register` when it loads plugins,
and calls the factory `language_id` only when a cell of this task is planned.
"""

from __future__ import annotations

from importlib.resources import as_file, files

from harness.errors import DataError
from harness.registry import Registry
from harness.tasklib import classification_task, load_labelled_data, load_labelled_file
from harness.types import Sample, Task

# Bump whenever the data, the instructions or the parsing change: rvf never compares cells of
# different task versions, and a new version never reuses an old cell record.
VERSION = "1"

LANGUAGES = {"english": "written in English", "french": "written in French",
             "german": "written in German", "spanish": "written in Spanish"}


def _bundled(split: str) -> list[Sample]:
    """One split of the data shipped with this package; a clear error if the file is missing."""
    resource = files(__name__) / "data" / f"{split}.jsonl"
    with as_file(resource) as path:
        if not path.is_file():
            raise DataError(f"bundled data file {path} is missing; reinstall rvf-example-plugin "
                            "or pass --task-arg data=<folder with train/test files>")
        return load_labelled_file(path, split)


def language_id(data: str | None = None) -> Task:
    """Short sentences -> english, french, german or spanish (bundled data, or yours via data=)."""
    if data:
        splits = load_labelled_data(data)
        train, test, source = splits["train"], splits["test"], f"user data from {data}"
    else:
        train, test, source = _bundled("train"), _bundled("test"), "bundled sentences"
    return classification_task("language_id", VERSION, train, test, descriptions=LANGUAGES,
                               what="sentence", description=f"language of a sentence ({source})")


def register(registry: Registry) -> None:
    """Called by rvf with its registry; add every task (strategy, scorer...) of this plugin."""
    registry.task("language_id", language_id)
