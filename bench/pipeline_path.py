"""How much code a reader follows from `rvf run` to one leaderboard row.

Runs `rvf run --task ticket_categorization --strategy prompt --limit 4` (then the leaderboard
render it ends with) in this process with a line tracer on rvf's own files (harness/ and tasks/),
in a fresh results dir and request cache, and prints the files touched, the distinct lines
executed inside functions (module and class bodies, run at import, are not counted), and the total lines of
the touched files. Usage (the model is the bundled default):

    python bench/pipeline_path.py [--model local/smollm2-135m-instruct]
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import tempfile
import threading
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWN = (str(ROOT / "harness") + os.sep, str(ROOT / "tasks") + os.sep)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="local/smollm2-135m-instruct")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rvf-path-"))
    os.environ["RVF_REQUEST_CACHE"] = str(work / "requests.sqlite")
    executed: dict[str, set[int]] = defaultdict(set)

    def tracer(frame, event, arg):  # noqa: ARG001 - sys.settrace's signature
        name = frame.f_code.co_filename
        if not name.startswith(OWN) or "generator.py" in name or \
                not frame.f_code.co_flags & inspect.CO_OPTIMIZED:
            return None  # rvf's own functions: not torch's, a data generator's, module or class
            # bodies (import-time code), which have no CO_OPTIMIZED flag
        if event != "call":
            executed[name].add(frame.f_lineno)
        return tracer

    from harness.cli import cli

    sys.settrace(tracer)
    threading.settrace(tracer)
    try:
        cli.main(["run", "--task", "ticket_categorization", "--strategy", "prompt", "--limit",
                  "4", "--model", args.model, "--results", str(work / "results")],
                 standalone_mode=False)
    finally:
        sys.settrace(None)
        threading.settrace(None)
    total = 0
    for name in sorted(executed):
        lines = len(Path(name).read_text(encoding="utf-8").splitlines())
        total += lines
        print(f"{len(executed[name]):5d} of {lines:5d}  {Path(name).relative_to(ROOT)}")
    print(f"files touched: {len(executed)}; lines executed: "
          f"{sum(len(v) for v in executed.values())}; lines in the touched files: {total}")


if __name__ == "__main__":
    main()
