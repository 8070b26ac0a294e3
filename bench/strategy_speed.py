"""One side of bench row 9: how fast one built-in cell generates, in a process of its own.

    python bench/strategy_speed.py STRATEGY LIMIT OUT.json [--lora-train-size N]

Plans the Banking77 cell (ticket_categorization x STRATEGY on the bundled SmolLM2, fp32, the
backend's default threads and batch), prepares it (the rag index and the lora adapter come from
RVF_CACHE_DIR, built there on first use and outside the timing), renders its requests with the
cell's constraint, and times `backend.generate` on them, with no request cache. Writes the
seconds (wall and process CPU), the answers, the threads and workers, and which `harness` it ran
to OUT.json.

It uses only what every rvf version since the contracts refactor has (plan, PrepareContext,
constrain.resolve, Backend.generate), so row 9 can run it under PYTHONPATH set to a checkout of
an older commit (the "before" side) and to this tree (the "after" side).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any


def cell_requests(strategy: str, limit: int, lora_train_size: str | None = None
                  ) -> tuple[Any, list[Any]]:
    """The Banking77 cell's prepared backend and its first `limit` requests, constrained as the
    cell runs them (the rag index and the lora adapter built in RVF_CACHE_DIR on first use)."""
    from harness import constrain
    from harness.cell import plan
    from harness.registry import default_registry
    from harness.types import PrepareContext

    model = "local/smollm2-135m-instruct"
    args = {"lora": {"train_size": lora_train_size}} if strategy == "lora" and lora_train_size \
        else {}
    cell = plan(default_registry(), ["ticket_categorization"], [strategy], [model], [model], [0],
                {}, args, {"dtype": "fp32"}, limit)[0]
    prepared = cell.strategy.prepare(cell.task, cell.backend, PrepareContext(seed=0))
    backend = prepared.backend
    constraint, _ = constrain.resolve(cell.task, backend, cell.spec.constrain)
    return backend, [replace(r, constraint=constraint) for r, _ in
                     cell.strategy.requests(cell.task, cell.samples)]


def main(strategy: str, limit: int, out: Path, lora_train_size: str | None) -> None:
    import harness

    backend, requests = cell_requests(strategy, limit, lora_train_size)
    backend.load()
    list(backend.generate(requests[:1]))  # warm-up: first forward passes, lazy imports
    began, cpu = time.perf_counter(), time.process_time()
    answers = dict(backend.generate(requests))
    seconds, cpu_s = time.perf_counter() - began, time.process_time() - cpu
    out.write_text(json.dumps({
        "seconds": seconds, "cpu_seconds": cpu_s, "queries": len(requests),
        "answers": [answers[i].text for i in range(len(requests))],
        "output_tokens": sum(g.output_tokens for g in answers.values()),
        "harness": str(Path(harness.__file__).parent), "threads": backend.facts["torch_threads"],
        # one worker before workers existed
        "workers": backend.facts.get("workers", 1),
        "dtype": backend.dtype, "batch_size": backend.batch_size}))


if __name__ == "__main__":
    argv = sys.argv[1:]
    size = argv[argv.index("--lora-train-size") + 1] if "--lora-train-size" in argv else None
    main(argv[0], int(argv[1]), Path(argv[2]), size)
