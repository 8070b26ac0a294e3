"""Time per query of free, trie-constrained (`labels`) and `score` decoding, interleaved.

The same Banking77 test queries as the `prompt` strategy sends them (k=5 few-shot examples and
the 77-label list), on the bundled model through the hf backend, without the request cache. The
queries go in chunks of one batch; each chunk runs under all three modes, in a rotating order, so
load drift hits every mode alike. Prints seconds per query (wall and process CPU) per mode.

    python bench/constrain_speed.py [--queries 64] [--batch 8]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()

    from harness.backends.local import local
    from harness.registry import default_registry
    from harness.strategies.prompt import prompt
    from harness.tasklib import seeded_subset
    from harness.types import Constraint, PrepareContext

    task = default_registry().make("task", "ticket_categorization")
    backend = local("smollm2-135m-instruct", dtype="fp32", batch_size=args.batch)
    strategy = prompt(k=5)
    strategy.prepare(task, backend, PrepareContext(seed=0))
    samples = seeded_subset(task.splits["test"], args.queries, seed=0)
    free = [r for r, _ in strategy.requests(task, samples)]
    modes = {"free": None, "labels": Constraint.of("labels", task.answer_space.labels),
             "score": Constraint.of("score", task.answer_space.labels)}
    list(backend.generate(free[:1]))  # load the weights outside the timings
    wall = dict.fromkeys(modes, 0.0)
    cpu = dict.fromkeys(modes, 0.0)
    valid = dict.fromkeys(modes, 0)
    names = list(modes)
    for n, start in enumerate(range(0, len(free), args.batch)):
        chunk = free[start:start + args.batch]
        for name in names[n % 3:] + names[:n % 3]:
            requests = [replace(r, constraint=modes[name]) for r in chunk]
            w, c = time.perf_counter(), time.process_time()
            answers = [g.text for _, g in backend.generate(requests)]
            wall[name] += time.perf_counter() - w
            cpu[name] += time.process_time() - c
            valid[name] += sum(task.parse(a) is not None for a in answers)
    print(f"{len(free)} queries, batch {args.batch}, modes interleaved per batch")
    print("| mode | s/query (wall) | CPU s/query | valid labels |")
    print("|---|---|---|---|")
    for name in names:
        print(f"| {name} | {wall[name] / len(free):.3f} | {cpu[name] / len(free):.3f} | "
              f"{valid[name]}/{len(free)} |")


if __name__ == "__main__":
    main()
