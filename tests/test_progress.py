"""Inner progress bars (embedding, training) join the runner's live display instead of vanishing."""

from __future__ import annotations

import io

from rich.console import Console
from rich.progress import Progress, TextColumn

from harness.progress import columns, progress_bar, shared_display


def test_inner_bar_is_a_line_of_the_shared_display() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    with Progress(*columns(), console=console) as outer, shared_display(outer):
        outer.add_task("cell", total=10)
        with progress_bar("lora train toy", None, TextColumn("{task.fields[loss]}"),
                          loss="-") as update:
            update(completed=3, total=30, loss="0.4210")
            inner = outer.tasks[-1]
            assert len(outer.tasks) == 2
            assert (inner.completed, inner.total) == (3, 30)
            assert "loss 0.4210" in inner.description
        assert [t.description for t in outer.tasks] == ["cell"]  # removed when the job ends

