"""Inner progress bars (embedding, training) join the runner's live display instead of vanishing."""

from __future__ import annotations

import io

from rich.console import Console
from rich.progress import Progress, TextColumn

from harness.progress import LineProgress, columns, live_display, progress_bar, shared_display


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



def test_logs_get_plain_lines_at_start_every_tenth_and_on_status_changes() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    display = live_display(console)
    assert isinstance(display, LineProgress)
    display.interval_s = 0.0  # no time throttle: only the every-tenth rule
    with display, shared_display(display):
        cell = display.add_task("toy x prompt", total=100)
        for _ in range(100):
            display.advance(cell, 1)
        display.update(cell, description="done toy x prompt")
        with progress_bar("lora train toy", None, loss="-") as update:
            update(completed=1, total=2, loss="0.5000")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("toy x prompt: started 0/100")
    progress = [ln for ln in lines if ln.startswith("toy x prompt: ") and "started" not in ln]
    assert [ln.split()[3] for ln in progress] == [f"{n}/100" for n in range(10, 101, 10)]
    assert any(ln.startswith("done toy x prompt: 100/100") for ln in lines)
    assert any(ln.startswith("lora train toy loss 0.5000: 1/2") for ln in lines)
    assert lines[-1].startswith("lora train toy loss 0.5000: finished 1/2")
