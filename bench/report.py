"""The markdown report: one table row per measurement, then the machine, sizes and details."""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.timing import LoadWindow, Stats
from harness.records import atomic_write as write_atomic  # temp file + rename

__all__ = ["Row", "render", "table", "write_atomic"]

GOALS = {"<=": operator.le, ">=": operator.ge}
COLUMNS = ["#", "measurement", "median", "min", "max", "n", "goal", "met",
           "load (1-min avg start → end; others' cores)"]


@dataclass
class Row:
    """One line of the table: a ratio (or a time or size) with its samples and its goal."""

    key: str  # "1", "6a", ...
    title: str
    samples: list[float]
    goal: str  # "<= 1.05": an operator and a number
    unit: str = ""  # "" for a ratio, "s", "GB"
    load: LoadWindow | None = None
    details: list[str] = field(default_factory=list)  # markdown bullets for the details section
    skipped: str | None = None  # why it was not measured
    bound: str = ""  # ">" when the samples are lower bounds (a run stopped at a time cap)

    @property
    def stats(self) -> Stats | None:
        return Stats.of(self.samples) if self.samples and not self.skipped else None

    def met(self) -> bool | None:
        """Whether the median meets the goal (None when not measured)."""
        if self.stats is None:
            return None
        op, value = self.goal.split()
        met = GOALS[op](self.stats.median, float(value))
        if self.bound == ">" and op == "<=" and met:
            return None  # stopped below the goal: whether it would have met it is unknown
        return met

    def cells(self) -> list[str]:
        goal = f"{self.goal}{' ' + self.unit if self.unit else ''}"
        load = self.load.text() if self.load else "?"
        if self.stats is None:
            return [self.key, self.title, "—", "—", "—", "0", goal,
                    f"not measured: {self.skipped or 'no samples'}", load]
        s = self.stats
        b = f"{self.bound} " if self.bound else ""
        met = {True: "yes", False: "**no**", None: "unknown"}[self.met()]
        return [self.key, self.title, b + fmt(s.median, self.unit), b + fmt(s.min, self.unit),
                b + fmt(s.max, self.unit), str(s.n), goal, met, load]


def fmt(value: float, unit: str = "") -> str:
    if unit == "s":
        return f"{value:.1f} s" if value < 100 else f"{value:.0f} s"
    if unit == "GB":
        return f"{value:.2f} GB"
    return f"{value:.3f}"


def table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row.cells()) + " |" for row in rows]
    return "\n".join(lines)


MEASURED = "measured "  # a detail starting with this is the row's time: the report's "Measured:"


def stamp() -> str:
    """The detail that dates a row; `render` spans the report's "Measured:" line over them."""
    return MEASURED + dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def render(rows: Sequence[Row], machine: dict[str, Any], command: str, sizes: Sequence[str],
           notes: Sequence[str] = (), wall_seconds: float | None = None) -> str:
    stamps = sorted(d.removeprefix(MEASURED) for r in rows for d in r.details
                    if d.startswith(MEASURED))
    when = (f"{stamps[0]} to {stamps[-1][11:]}" if stamps and stamps[0] != stamps[-1]
            else stamps[0] if stamps else machine.get("date", "?"))
    out = ["# rvf benchmarks", "",
           "rvf's speed against the raw compute it orchestrates and against lm-evaluation-harness, "
           "as ratios measured on one machine (see docs/bench.md for what each row means). Ratios "
           "are paired: the two sides alternate (A B A B ...) and each pair gives one ratio; "
           "`median`, `min`, `max` are over those pairs.", "",
           f"Regenerate: `{command}`  ", f"Measured: {when} on "
           f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores"
           + (f"; the whole bench took {wall_seconds / 60:.1f} min" if wall_seconds else "") + ".",
           "", table(rows), "", "## Machine", ""]
    out += [f"- {k}: {v}" for k, v in machine.items()]
    out += ["", "## Sizes", ""] + [f"- {s}" for s in sizes]
    if notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    out += ["", "## Details", ""]
    for row in rows:
        out += [f"### {row.key}. {row.title}", ""]
        if row.load:
            out.append(f"- load average (1, 5, 15 min): start {_la(row.load.start)}, "
                       f"end {_la(row.load.end)}")
            if row.load.others is not None:
                out.append(f"- other processes: {row.load.others:.2f} CPU cores on average "
                           "during the row")
        if row.samples and not row.skipped:
            out.append(f"- samples: {', '.join(fmt(x, row.unit) for x in row.samples)}")
        out += [f"- {d}" for d in row.details]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _la(la: tuple[float, float, float] | None) -> str:
    return "?" if la is None else ", ".join(f"{x:.2f}" for x in la)
