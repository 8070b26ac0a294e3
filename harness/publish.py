"""Write a results dir's LEADERBOARD.md and its plots from the cell records (`rvf leaderboard`,
the end of `rvf run` and of a pytest session that ran cells)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from filelock import FileLock

from harness.analysis import CostAssumptions, group_rows
from harness.leaderboard import render
from harness.records import atomic_write, cells_dir, read_records

# The last line of LEADERBOARD.md: which records it was rendered from.
STAMP = "<!-- rvf: rendered from the cell records with fingerprint {} -->"


def records_fingerprint(results: Path) -> str:
    """A hash of every cell record's name and bytes: changes exactly when a re-render could."""
    digest = hashlib.sha256()
    for path in sorted(cells_dir(results).glob("*.json")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def leaderboard_is_current(results: Path) -> bool:
    """Was LEADERBOARD.md rendered from exactly the records there now? Then a re-render would
    change nothing (it is built from the records alone) and a fully cached run skips it: drawing
    the plots is most of a warm run's time. Content, not modification times: a record written
    by a concurrent run can be older than a board rendered without it."""
    board = results / "LEADERBOARD.md"
    try:
        last = board.read_text(encoding="utf-8").rstrip("\n").rpartition("\n")[2]
    except OSError:
        return False
    return last == STAMP.format(records_fingerprint(results))


def write_leaderboard(results: Path, plots: bool = True,
                      assumptions: CostAssumptions | None = None, report: bool = False
                      ) -> tuple[Path, int, list[str]]:
    """Render `<results>/LEADERBOARD.md` and its plots (and, with `report`, the HTML report);
    returns path, rows rendered, skipped.

    One renderer at a time per results dir (a lock file beside the board): every run writes its
    records before it renders, so the last renderer sees every record and no row is lost when
    two runs finish together.
    """
    results.mkdir(parents=True, exist_ok=True)
    with FileLock(results / ".leaderboard.lock", timeout=600):
        fingerprint = records_fingerprint(results)
        records, skipped = read_records(results)
        drawn: dict[tuple, dict[str, str]] = {}
        if plots and records:
            from harness.plots import draw_plots  # matplotlib: only when plots are drawn

            drawn, notes = draw_plots(results, group_rows(records, results, assumptions))
            skipped = skipped + notes
        path = results / "LEADERBOARD.md"
        text = render(records, skipped, results, drawn, assumptions)
        atomic_write(path, text.rstrip("\n") + "\n\n" + STAMP.format(fingerprint) + "\n")
        if report:
            from harness.report import write_report

            write_report(results)
    return path, len(records), skipped
