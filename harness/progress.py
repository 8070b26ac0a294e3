"""Progress bars for long work (generation, embedding, training), drawn one way everywhere.

`columns()` is the layout every bar uses; `progress_bar()` is a transient bar for one job inside
a run. rich before 14 allows one live display at a time, and the runner's bar is live while a
strategy prepares: there the inner bar is skipped (the runner's line says "preparing") instead of
crashing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.errors import LiveError
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def columns(*extra: ProgressColumn) -> tuple[ProgressColumn, ...]:
    """description, bar, n/total, `extra`, elapsed, eta."""
    return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), *extra,
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())


@contextmanager
def progress_bar(description: str, total: int | None, *extra: ProgressColumn,
                 **fields: Any) -> Iterator[Callable[..., None]]:
    """Yield `update(**kw)` (rich's `Progress.update` for this bar: advance=, completed=, total=,
    and any `fields` named in `extra` columns)."""
    progress = Progress(*columns(*extra), console=Console(stderr=True), transient=True)
    try:
        progress.start()
    except LiveError:
        progress.disable = True
    bar = progress.add_task(description, total=total, **fields)
    try:
        yield lambda **kw: progress.update(bar, **kw)
    finally:
        progress.stop()
