"""Write a results dir's LEADERBOARD.md and its plots from the cell records (`rvf leaderboard`,
the end of `rvf run` and of a pytest session that ran cells)."""

from __future__ import annotations

from pathlib import Path

from harness.analysis import CostAssumptions, group_rows
from harness.leaderboard import render
from harness.records import atomic_write, cells_dir, read_records


def leaderboard_is_current(results: Path) -> bool:
    """Is LEADERBOARD.md newer than every cell record? Then a re-render would change nothing
    (it is built from the records alone) and a fully cached run skips it: drawing the plots is
    most of a warm run's time."""
    board = results / "LEADERBOARD.md"
    if not board.exists():
        return False
    built = board.stat().st_mtime
    records = list(cells_dir(results).glob("*.json"))
    return all(p.stat().st_mtime < built for p in records)


def write_leaderboard(results: Path, plots: bool = True,
                      assumptions: CostAssumptions | None = None) -> tuple[Path, int, list[str]]:
    """Render `<results>/LEADERBOARD.md` and its plots; returns path, rows rendered, skipped."""
    records, skipped = read_records(results)
    drawn: dict[tuple, dict[str, str]] = {}
    if plots and records:
        from harness.plots import draw_plots  # matplotlib: only when plots are drawn

        drawn, notes = draw_plots(results, group_rows(records, results, assumptions))
        skipped = skipped + notes
    path = results / "LEADERBOARD.md"
    atomic_write(path, render(records, skipped, results, drawn, assumptions))
    return path, len(records), skipped
