"""Progress bars for long work (generation, embedding, training), drawn one way everywhere.

`columns()` is the layout every bar uses; `progress_bar()` is a transient bar for one job inside
a run (embedding a corpus, training an adapter). rich before 14 allows one live display at a time,
and the runner's display is live while a strategy prepares, so the runner registers it with
`shared_display()` and inner bars become extra lines of that display (removed when their job
ends). Without a live display an inner bar draws its own; if another live display is in the way
it is skipped rather than crashing.
"""

from __future__ import annotations

import time
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

_shared: Progress | LineProgress | None = None  # the runner's live display, while it runs


class LineProgress:
    """The runner's display when stderr is not a terminal (CI logs, `nohup`, a pipe).

    rich draws nothing live there, so an hour of training would leave an empty log. This prints
    plain lines instead: when a job starts, when it has moved on by a tenth or more (at most every
    `interval_s`), and when it ends, with elapsed time. It implements the part of rich's
    `Progress` API that the runner and `progress_bar()` use.
    """

    def __init__(self, console: Console, interval_s: float = 30.0) -> None:
        self.console, self.interval_s = console, interval_s
        self.jobs: dict[int, dict[str, Any]] = {}
        self._next = 0

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, total: float | None = None, **_: Any) -> int:
        self._next += 1
        self.jobs[self._next] = {"description": description, "total": total, "completed": 0.0,
                                 "start": time.monotonic(), "shown_at": time.monotonic(),
                                 "shown": 0.0}
        self._line(self._next, "started")
        return self._next

    def advance(self, job: int, advance: float = 1) -> None:
        self.update(job, advance=advance)

    def update(self, job: int, *, description: str | None = None, completed: float | None = None,
               total: float | None = None, advance: float | None = None, **_: Any) -> None:
        j = self.jobs[job]
        old = j["description"]
        if total is not None:
            j["total"] = total
        if completed is not None:
            j["completed"] = completed
        if advance:
            j["completed"] += advance
        if description is not None:
            j["description"] = description
            if description != old and completed is None and not advance:
                self._line(job, "")  # a status change (preparing, done, failed): show it now
                return
        step = (j["total"] or 0) / 10
        due = time.monotonic() - j["shown_at"] >= self.interval_s
        if due and j["completed"] - j["shown"] >= max(step, 1):
            self._line(job, "")

    def remove_task(self, job: int) -> None:
        self._line(job, "finished")
        del self.jobs[job]

    def _line(self, job: int, what: str) -> None:
        j = self.jobs[job]
        j["shown_at"], j["shown"] = time.monotonic(), j["completed"]
        done = f"{j['completed']:.0f}/{j['total']:.0f}" if j["total"] else f"{j['completed']:.0f}"
        elapsed = time.monotonic() - j["start"]
        self.console.print(f"{j['description']}: {what + ' ' if what else ''}{done} "
                           f"({elapsed:.0f} s)", highlight=False, soft_wrap=True)


def live_display(console: Console) -> Progress | LineProgress:
    """The runner's display: rich bars on a terminal, plain lines elsewhere."""
    if console.is_terminal:
        return Progress(*columns(), console=console, transient=False)
    return LineProgress(console)


@contextmanager
def shared_display(progress: Progress | LineProgress) -> Iterator[Progress | LineProgress]:
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
