"""A/B of the decoding loop: `greedy_decode` at an older commit against this tree's, interleaved
in one process on the same built-in cells, with the answers compared.

    PYTHONPATH=. python bench/decoding_ab.py REV STRATEGY [STRATEGY ...] [--rounds N]

Only harness/backends/decoding.py comes from REV (`git show`); everything else (rendering,
batching, workers, the model) is this tree's, so the difference is the loop's alone. Each round
runs both sides on the cell's first 100 Banking77 test queries, alternating which goes first, and
prints the wall and process-CPU seconds of `backend.generate` and how many answers are the same.
The cells come from bench/strategy_speed.py (the lora adapter as row 9 trains it, cached in
RVF_CACHE_DIR). Row 9 compares whole trees against a fixed baseline; this isolates one change.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def decoding_at(rev: str) -> object:
    """harness/backends/decoding.py as it was at `rev`, imported as a module of its own."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:harness/backends/decoding.py"],
                            capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "decoding_at_rev.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("decoding_at_rev", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["decoding_at_rev"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def main(rev: str, strategies: list[str], rounds: int) -> None:
    import harness.backends.hf as hf
    from bench.speed import LORA_TRAIN_SIZE
    from bench.strategy_speed import cell_requests
    from harness.backends import decoding

    ways = {rev: decoding_at(rev).greedy_decode, "tree": decoding.greedy_decode}
    for strategy in strategies:
        backend, requests = cell_requests(strategy, 100, LORA_TRAIN_SIZE)
        backend.load()
        list(backend.generate(requests[:1]))  # warm-up
        seconds: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
        answers: dict[str, list[str]] = {}
        for n in range(rounds):
            for name in (list(ways) if n % 2 == 0 else list(ways)[::-1]):
                hf.greedy_decode = ways[name]
                began, cpu = time.perf_counter(), time.process_time()
                out = dict(backend.generate(requests))
                seconds[name].append((time.perf_counter() - began, time.process_time() - cpu))
                answers[name] = [out[i].text for i in range(len(requests))]
        hf.greedy_decode = decoding.greedy_decode
        same = sum(a == b for a, b in zip(answers[rev], answers["tree"], strict=True))
        for name, runs in seconds.items():
            print(f"{strategy} {name}: wall {' '.join(f'{w:.1f}' for w, _ in runs)} s (median "
                  f"{statistics.median(w for w, _ in runs):.1f}), CPU median "
                  f"{statistics.median(c for _, c in runs):.1f} s")
        print(f"{strategy}: same answers {same}/{len(requests)}", flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("rev", help="the commit whose harness/backends/decoding.py is side A")
    p.add_argument("strategies", nargs="+", choices=("prompt", "rag", "lora"))
    p.add_argument("--rounds", type=int, default=4, help="runs a side (default 4)")
    args = p.parse_args()
    main(args.rev, args.strategies, args.rounds)
