"""The published reference run (`tox -e publish`) and its REPRODUCE.md.

`PLAN` is the whole reference run: every built-in task x every strategy that applies to it, on
full test splits, with each strategy's defaults (lora: 2 epochs of the whole train split), then
the ticket lora learning curve and the ticket adapter served on the bundled Q4 file. Its
commands run one after another (each fills a 2-core machine); a cell whose record is already in
`results/reference` is reused, so an interrupted publish resumes and a finished one re-renders.

REPRODUCE.md is written from the records alone, like the leaderboard: the commands, then for
every cell the machine, the date, the load at its start and end and the compute it took, the
totals, and per task the winner on quality, the cheapest row at 100k queries a month and the
break-even volumes. Nothing in it is typed by hand, so it cannot drift from the records.

    python -m harness.reference            # run the plan, then write REPRODUCE.md
    python -m harness.reference --write    # only rewrite REPRODUCE.md from the records
"""

from __future__ import annotations

import argparse
import math
import shlex
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from harness.analysis import (
    DEFAULT_AMORTIZE_MONTHS,
    Row,
    break_even,
    group_rows,
    payback_queries,
    project,
)
from harness.formats import fmt, metric_cell, model_label, usd
from harness.records import CellRecord, atomic_write, read_records

RESULTS = Path("results/reference")
# The query volume the per-task verdict prices (a month of a mid-sized support queue).
VOLUME = 100_000

# Each entry: the arguments after `rvf run --results results/reference`, and why it is there.
PLAN: tuple[tuple[tuple[str, ...], str], ...] = (
    (("--task", "ticket_categorization", "--task", "icd10_coding",
      "--strategy", "prompt", "--strategy", "rag", "--strategy", "lora", "--strategy", "classifier"),
     "the closed-answer tasks x every strategy, full test splits, defaults"),
    (("--task", "hr_policy_qa", "--strategy", "prompt", "--strategy", "rag", "--strategy", "lora"),
     "the free-text task x every strategy that answers in text (classifier needs labels)"),
    (("--limit", "500", "--task", "ticket_categorization", "--strategy", "lora",
      "--strategy-arg", "lora.train_size=250,1000,4000,all"),
     "the lora learning curve, scored on a seeded 500 of the test queries (the 'all' point "
     "reuses the full run's adapter)"),
    (("--task", "ticket_categorization", "--strategy", "lora",
      "--small-model", "local/smollm2-135m-instruct-q4"),
     "the full run's ticket adapter served on the bundled Q4 file by llama.cpp (no training: "
     "the adapter is the fp32 twin's)"),
)


def command(args: tuple[str, ...], results: Path = RESULTS) -> list[str]:
    return ["rvf", "run", "--results", str(results), *args]


def run_plan(results: Path = RESULTS, extra: tuple[str, ...] = ()) -> int:
    """Run every command of the plan in turn; the first exit status that is not 0, else 0.
    A failed command does not stop the later ones: their cells are independent."""
    status = 0
    for args, why in PLAN:
        argv = command(args, results) + list(extra)
        print(f"== {why}\n$ {shlex.join(argv)}", flush=True)
        code = subprocess.call([sys.executable, "-m", "harness", *argv[1:]])
        status = status or code
    return status


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _load(r: CellRecord) -> str:
    start, end = r.usage.load_avg_start, r.usage.load_avg_end
    if start is None:
        return "not recorded"
    return f"{start:.2f} → {end:.2f}" if end is not None else f"{start:.2f}"


def _compute(r: CellRecord) -> tuple[float, float]:
    """(wall, CPU) seconds the cell took: scoring plus what it trained or indexed this run (a
    reused adapter or index costs nothing again)."""
    wall, cpu = r.usage.wall_seconds, r.usage.cpu_seconds or 0.0
    for built in (r.training, r.index):
        if built is not None and not built.cache_hit:
            cpu += built.cpu_seconds or 0.0
    return wall, cpu


def _dtype(r: CellRecord) -> str:
    return str(r.model.identity.get("dtype") or r.model.identity.get("quantization") or "—")


def render(records: list[CellRecord], results: Path) -> str:
    out = ["# How results/reference was made", "",
           "Written by `python -m harness.reference --write` from the cell records in `cells/`; "
           "regenerate everything with `tox -e publish` on an idle machine, nothing else "
           "running. A cell whose record is here is reused, so on another machine only the cells "
           "whose key differs are recomputed (the key holds the model's dtype, which is bf16 "
           "where the CPU has AMX and fp32 elsewhere).", "",
           "## Commands, in order", ""]
    for args, why in PLAN:
        out += [f"- {why}:", "", "  ```text", f"  {shlex.join(command(args))}", "  ```", ""]

    machines: dict[str, list[CellRecord]] = defaultdict(list)
    for r in records:
        machines[r.environment.machine or "not recorded"].append(r)
    out += ["## Machines", "",
            "| machine | cells | dates (UTC) | wall time | CPU time |", "|---|---|---|---|---|"]
    for name, rs in sorted(machines.items()):
        dates = sorted(r.created_at[:10] for r in rs)
        wall = sum(_compute(r)[0] for r in rs)
        cpu = sum(_compute(r)[1] for r in rs)
        out.append(f"| {name} | {len(rs)} | {dates[0]} to {dates[-1]} | {wall / 3600:.2f} h | "
                   f"{cpu / 3600:.2f} h |")
    total_wall = sum(_compute(r)[0] for r in records)
    total_cpu = sum(_compute(r)[1] for r in records)
    out += ["", f"Total compute: {total_wall / 3600:.2f} h of cell wall time, "
                f"{total_cpu / 3600:.2f} h of process CPU time ({len(records)} cells).", ""]

    out += ["## Cells", "",
            "Wall and CPU seconds are the cell's own, training and index build included when "
            "they ran in it; load is the 1-minute load average at the cell's start and end (2 cores: one "
            "cell fills the machine, so a load near 1-2 at a cell's start is mostly the "
            "previous cell of the same run, which decays over a minute or so).", "",
            "| task | strategy | model | dtype | n | primary metric | written (UTC) | machine | "
            "load | wall s | training wall s | CPU s | rvf commit |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(records, key=lambda r: (r.task.name, -r.task.n, r.strategy.name, r.created_at)):
        wall, cpu = _compute(r)
        trained = r.training.wall_seconds if r.training and not r.training.cache_hit else None
        out.append(
            f"| {r.task.name} | {r.strategy.name} | {model_label(r)} | {_dtype(r)} | {r.task.n} | "
            f"{r.primary_metric} {metric_cell(r, r.primary_metric)} | "
            f"{r.created_at[:16].replace('T', ' ')} | {r.environment.machine or '—'} | "
            f"{_load(r)} | {_seconds(wall)} | {_seconds(trained)} | {_seconds(cpu)} | "
            f"{(r.environment.git_sha or '—')[:10]} |")

    out += ["", f"## Per task: the winner, and the cost at {VOLUME:,} queries a month", "",
            f"From each task's largest table (its full test split). Monthly cost: the measured "
            f"$/1k queries x {VOLUME:,} plus start-up costs (training, index build) spread over "
            f"{DEFAULT_AMORTIZE_MONTHS} months, as `rvf cost --volume {VOLUME}` prints it. "
            "Break-even: the queries after which a row's start-up + query cost falls below every "
            "cheaper-to-start row of equal or better quality (the leaderboard's column).", ""]
    tables = group_rows(records, results)
    largest = {}
    for key in tables:
        if key.task not in largest or key.n > largest[key.task].n:
            largest[key.task] = key
    for task, key in sorted(largest.items()):
        rows = tables[key]
        out += verdict(task, key.n, rows)
    return "\n".join(out) + "\n"


def row_name(row: Row, rows: list[Row]) -> str:
    """The strategy's name; with its model and adapter too when another row of the table has
    that strategy (the fp32 and Q4 lora rows share one adapter and differ in what serves it)."""
    r = row.record
    if sum(other.record.strategy.name == r.strategy.name for other in rows) == 1:
        return r.strategy.name
    return f"{r.strategy.name} on {r.model.spec}" + (f" {r.training.artifact}" if r.training else "")


def verdict(task: str, n: int, rows: list[Row]) -> list[str]:
    best = rows[0]
    priced = [(project(r, VOLUME, DEFAULT_AMORTIZE_MONTHS), r) for r in rows]
    known = [(p, r) for p, r in priced if p.monthly_usd is not None]
    lines = [f"### {task} (n = {n})", "",
             f"- best {best.record.primary_metric}: {best.record.strategy.name} "
             f"({model_label(best.record)}), {metric_cell(best.record, best.record.primary_metric)}"]
    if known:
        p, r = min(known, key=lambda pr: pr[0].monthly_usd)
        lines.append(f"- cheapest at {VOLUME:,} queries a month: {row_name(r, rows)} "
                     f"(${usd(p.monthly_usd)} a month, {r.record.primary_metric} {fmt(r.quality)})")
    for row in rows:  # what each start-up cost (training, an index) buys back, in rank order
        for other in rows:
            if other.start_cost < row.start_cost:
                lines.append(f"- {row_name(row, rows)} ({fmt(row.quality)}) against "
                             f"{row_name(other, rows)} ({fmt(other.quality)}), which costs "
                             f"less to start: " + crossover(row, other))
    lines += ["", "| # | strategy | model | quality | $/1k queries | start-up $ | $/month | "
                  "break-even |", "|---|---|---|---|---|---|---|---|"]
    for p, r in priced:
        lines.append(f"| {r.rank} | {r.record.strategy.name} | {model_label(r.record)} | "
                     f"{fmt(r.quality)} | {usd(r.record.cost_per_1k_queries_usd)} | "
                     f"{usd(r.start_cost)} | {usd(p.monthly_usd)} | {break_even(r, rows)} |")
    return lines + [""]


def crossover(row: Row, cheaper_start: Row) -> str:
    """When `row`'s extra start-up cost (training, an index) is paid back by its lower $/query
    against a row that costs less to start: the volume where their total costs meet."""
    if row.per_query is None or cheaper_start.per_query is None:
        return "unknown (no price)"
    volume = payback_queries(row, cheaper_start)
    if volume is None:
        better = row.quality is not None and cheaper_start.quality is not None and (
            row.quality > cheaper_start.quality if row.higher_is_better
            else row.quality < cheaper_start.quality)
        return ("never paid back on cost (its $/query is not lower)"
                + ("; only its quality can justify it" if better else ", and its quality is lower"))
    return f"its start-up cost is paid back after {math.ceil(volume):,} queries"


def write(results: Path = RESULTS) -> Path:
    records, skipped = read_records(results)
    for msg in skipped:
        print(f"left out: {msg}", file=sys.stderr)
    if not records:
        raise SystemExit(f"no cell records under {results}: run `python -m harness.reference`")
    path = results / "REPRODUCE.md"
    atomic_write(path, render(records, results))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.reference", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--write", action="store_true",
                        help="only rewrite REPRODUCE.md from the records; run nothing")
    parser.add_argument("--plan", action="store_true", help="print the commands; run nothing")
    args, extra = parser.parse_known_args(argv)
    if args.plan:
        for cmd, why in PLAN:
            print(f"# {why}\n{shlex.join(command(cmd, args.results) + extra)}")
        return 0
    status = 0 if args.write else run_plan(args.results, tuple(extra))
    print(f"wrote {write(args.results)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
