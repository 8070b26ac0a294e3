"""Progress bars for long work (generation, embedding, training), drawn one way everywhere.

`columns()` is the layout every bar uses; `progress_bar()` is a transient bar for one job inside
a run (embedding a corpus, training an adapter). rich before 14 allows one live display at a time,
and the runner's display is live while a strategy prepares, so the runner registers it with
`shared_display()` and inner bars become extra lines of that display (removed when their job
ends). Without a live display an inner bar draws its own; if another live display is in the way
it is skipped rather than crashing.
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

_shared: Progress | None = None  # the runner's live display, while it runs


@contextmanager
def shared_display(progress: Progress) -> Iterator[Progress]:
    """Make `progress` the display that `progress_bar()` adds its bars to, for the block."""
    global _shared
    outer, _shared = _shared, progress
    try:
        yield progress
    finally:
        _shared = outer


def columns(*extra: ProgressColumn) -> tuple[ProgressColumn, ...]:
    """description, bar, n/total, `extra`, elapsed, eta."""
    return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), *extra,
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())


@contextmanager
def progress_bar(description: str, total: int | None, *extra: ProgressColumn,
                 **fields: Any) -> Iterator[Callable[..., None]]:
    """Yield `update(**kw)` (rich's `Progress.update` for this bar: advance=, completed=, total=,
    and any `fields` named in `extra` columns)."""
    if _shared is not None:
        # The shared display's columns are the plain ones: fold the extra fields (loss) into the
        # description line instead.
        display = _shared
        bar = display.add_task(description, total=total)

        def update(**kw: Any) -> None:
            extra_text = " ".join(f"{k} {kw.pop(k)}" for k in list(kw) if k in fields)
            if extra_text:
                kw["description"] = f"{description} [dim]{extra_text}[/]"
            display.update(bar, **kw)

        try:
            yield update
        finally:
            display.remove_task(bar)
        return
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
