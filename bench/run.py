"""`python -m bench`: run the measurements, write results/BENCHMARKS.md, print the table.

    python -m bench                      # every row, published sizes -> results/BENCHMARKS.md
    python -m bench --quick              # smoke run, tiny sizes -> a temporary file
    python -m bench --only lora --only 4 # selected rows; the other rows of --out are kept
    python -m bench --profile prof/      # also write pyinstrument profiles of rvf's side
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.workload import go_offline

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "results" / "BENCHMARKS.md"
DATA_MARK = "<!-- bench-data"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from bench.measure import ALIASES, MEASUREMENTS

    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes, one or two repetitions")
    p.add_argument("--only", action="append", default=[], metavar="ROW",
                   help=f"run only this row (repeatable): {', '.join(MEASUREMENTS)} or 1-10, 7b; "
                        "1b adds rvf without prefix reuse to row 1 (not in a full run)")
    p.add_argument("--out", type=Path, default=None,
                   help=f"markdown report (default {DEFAULT_OUT.relative_to(ROOT)}; with --quick "
                        "a file in the temp dir)")
    p.add_argument("--profile", type=Path, default=None, metavar="DIR",
                   help="write pyinstrument text profiles of rvf's side of each row here")
    p.add_argument("--render", action="store_true",
                   help="measure nothing: re-render --out from the rows stored in it")
    p.add_argument("--note", action="append", default=[], metavar="TEXT",
                   help="a line for the report's Notes section (repeatable; kept by later --only runs, "
                        "replaced by a full run's)")
    p.add_argument("--allow-load", action="store_true",
                   help="measure even when other processes keep using >= 0.5 CPU cores; such "
                        "rows say 'busy: other processes' in their load column")
    p.add_argument("--wait-min", type=float, default=10.0, metavar="M",
                   help="before each row, wait up to M minutes for other processes to use less "
                        "than 0.5 CPU cores (default 10); then stop, unless --allow-load")
    p.add_argument("--work", type=Path, default=None,
                   help="scratch folder (default: a temp dir, removed at the end)")
    p.add_argument("--rounds", type=int, default=None, metavar="N",
                   help="pairs (A B) per paired row of rows 1, 2, 5, 7 and 9 (default 2; 1 "
                        "halves those rows' time, and their min and max then say nothing)")
    args = p.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        p.error(f"--rounds must be at least 1, got {args.rounds}")
    names = []
    args.with_1b = False  # row 1b: an extra side of row 1, run only when asked for
    for item in args.only:
        for name in item.split(","):
            args.with_1b |= name.strip() == "1b"
            name = ALIASES.get(name.strip(), name.strip())
            if name not in MEASUREMENTS:
                p.error(f"unknown row {name!r}; choose from {', '.join(MEASUREMENTS)} or 1-10")
            names.append(name)
    args.names = [n for n in MEASUREMENTS if n in names] if names else list(MEASUREMENTS)
    if args.out is None:
        args.out = (Path(tempfile.gettempdir()) / "rvf-bench" / "BENCHMARKS.quick.md"
                    if args.quick else DEFAULT_OUT)
    return args


def previous_rows(path: Path) -> list:
    """The rows stored in an earlier report (its embedded data), to keep the ones not re-run."""
    from bench.report import Row
    from bench.timing import LoadWindow

    if not path.exists():
        return []
    m = re.search(re.escape(DATA_MARK) + r"\n(.*?)\n-->", path.read_text(encoding="utf-8"), re.S)
    if not m:
        return []
    rows = []
    known = set(Row.__dataclass_fields__)
    for d in json.loads(m.group(1))["rows"]:
        load = d.pop("load", None)
        row = Row(**{k: v for k, v in d.items() if k in known})
        if load:
            row.load = LoadWindow(tuple(load[0]) if load[0] else None,
                                  tuple(load[1]) if load[1] else None,
                                  load[2] if len(load) > 2 else None)
        rows.append(row)
    return rows


def previous_notes(path: Path) -> list[str]:
    """The extra notes (--note) stored in an earlier report."""
    if not path.exists():
        return []
    m = re.search(re.escape(DATA_MARK) + r"\n(.*?)\n-->", path.read_text(encoding="utf-8"), re.S)
    return list(json.loads(m.group(1)).get("notes", [])) if m else []


def row_data(rows: list, notes: list[str] = ()) -> str:
    def one(r) -> dict:
        return {"key": r.key, "title": r.title, "samples": r.samples, "goal": r.goal,
                "unit": r.unit, "details": r.details, "skipped": r.skipped, "bound": r.bound,
                "load": [r.load.start, r.load.end, r.load.others] if r.load else None}
    data = {"rows": [one(r) for r in rows], "notes": list(notes)}
    return f"{DATA_MARK}\n{json.dumps(data)}\n-->\n"


COMMAND = "tox -e bench"


NOTES = [
    "Rows run one after another in one process. Each starts once other processes (everything "
    "but the bench and the children it runs) use less than 0.5 CPU cores over 5 s (`--wait-min`; "
    "`--allow-load` measures anyway). The load column gives the 1-minute load average at the "
    "start and end of the row (2 cores: 2.0 is a full machine; it is mostly the bench's own "
    "work) and `others`: the mean cores other processes used during the row, from /proc/stat. A "
    "row where they used 0.5 or more says 'busy: other processes'. Paired rows alternate their "
    "two sides (A B A B ...).",
    "Nothing here is a timed test: goals are reported, not asserted.",
]


def write_report(out: Path, rows: list, machine: dict, sizes: list[str], extra: list[str],
                 wall_seconds: float | None) -> None:
    from bench.report import render, write_atomic

    text = render(rows, machine, COMMAND, sizes, NOTES + list(extra), wall_seconds)
    write_atomic(out, text + "\n" + row_data(rows, extra))


def order(key: str) -> tuple[int, str]:
    m = re.match(r"(\d+)(.*)", key)
    return (int(m.group(1)), m.group(2)) if m else (99, key)


def quiet_enough(wait_min: float, allow_load: bool) -> bool:
    """Whether to measure the next row: the machine went quiet, or the user allows load."""
    from bench.timing import QUIET_LOAD, wait_for_quiet

    quiet, others = wait_for_quiet(wait_min * 60)
    if quiet or allow_load:
        return True
    print(f"other processes kept using {others:.2f} CPU cores (>= {QUIET_LOAD}) for {wait_min:g} "
          "min: another job shares the machine, and its times would be in this row. Stop it, or "
          "pass --allow-load to measure anyway (the row then says 'busy: other processes').",
          file=sys.stderr)
    return False


def main(argv: list[str] | None = None) -> int:
    go_offline()
    args = parse_args(argv)
    from bench.measure import FULL, MEASUREMENTS, QUICK, Context
    from bench.report import table
    from bench.timing import machine_facts
    from harness.backends.local import resolve

    sizes = replace(QUICK if args.quick else FULL, gen_no_prefix=args.with_1b)
    if args.rounds is not None:
        sizes = sizes.with_rounds(args.rounds)
    began = time.perf_counter()
    machine = machine_facts()
    print("machine:", ", ".join(f"{k} {v}" for k, v in machine.items()), flush=True)
    if args.render:
        rows = sorted(previous_rows(args.out), key=lambda r: order(r.key))
        write_report(args.out, rows, machine, sizes.describe(),
                     list(dict.fromkeys(previous_notes(args.out) + args.note)), None)
        print(table(rows) + f"\n\nwrote {args.out}")
        return 0
    model_dir = resolve("smollm2-135m-instruct")  # converted once, outside every measurement
    work = args.work or Path(tempfile.mkdtemp(prefix="rvf-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    ctx = Context(sizes, work, model_dir.parent, args.profile)
    # the whole bench's time and nothing older, once this run measures every row
    whole = len(args.names) == len(MEASUREMENTS)
    kept = [] if args.quick or whole else previous_rows(args.out)
    given = " ".join(argv if argv is not None else sys.argv[1:])
    written_by = f"written by `python -m bench{' ' + given if given else ''}`"
    rows: dict[str, object] = {r.key: r for r in kept}
    mine: dict[str, object] = {}  # the rows measured by this run
    notes = ([] if args.quick or whole else previous_notes(args.out)) + args.note
    try:
        for name in args.names:
            print(f"\n== {name} ==", flush=True)
            if not args.quick and not quiet_enough(args.wait_min, args.allow_load):
                return 3
            t = time.perf_counter()
            measured = MEASUREMENTS[name](ctx)
            took = time.perf_counter() - t
            keys = ", ".join(r.key for r in measured)
            for row in measured:
                row.details += [f"measuring row{'s' if len(measured) > 1 else ''} {keys} took "
                                f"{took:.0f} s", written_by]
                rows[row.key] = mine[row.key] = row
                print(table([row]).splitlines()[-1], flush=True)
            print(f"({took:.0f} s)", flush=True)
            if not (args.quick or whole):  # another `--only` run may have written rows: keep them
                rows = {**{r.key: r for r in previous_rows(args.out)}, **mine}
                notes = list(dict.fromkeys(previous_notes(args.out) + notes))
            ordered = sorted(rows.values(), key=lambda r: order(r.key))
            write_report(args.out, ordered, machine, sizes.describe(), notes,
                         time.perf_counter() - began if whole else None)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print("\n" + table(sorted(rows.values(), key=lambda r: order(r.key))))
    print(f"\nwrote {args.out} ({time.perf_counter() - began:.0f} s)")
    return 0
