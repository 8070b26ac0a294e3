"""One side of bench row 9: how fast one built-in cell generates, in a process of its own.

    python bench/strategy_speed.py STRATEGY LIMIT OUT.json [--lora-train-size N]

Plans the Banking77 cell (ticket_categorization x STRATEGY on the bundled SmolLM2, fp32, the
backend's default threads and batch), prepares it (the rag index and the lora adapter come from
RVF_CACHE_DIR, built there on first use and outside the timing), renders its requests with the
cell's constraint, and times `backend.generate` on them, with no request cache. Writes the
seconds (wall and process CPU), the answers, the threads and workers, and which `harness` it ran
to OUT.json, with `prompt_flops`: the arithmetic of the prompts alone (the floor of row 9).

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


def prompt_flops(backend: Any, requests: list[Any]) -> dict[str, int]:
    """What generating for `requests` cannot do with less: the decoder's linear layers on every
    prompt token, with the prompts' shared prefix counted once (as rvf runs it), and causal
    attention of each token over the tokens before it. The output layer and every decode step are
    left out, so time at a FLOP rate from this is a lower bound on any implementation's."""
    import torch

    from harness.backends.hf import shared_prefix_length

    model, tok = backend.load()
    ids = tok([backend.render(r) for r in requests], add_special_tokens=False)["input_ids"]
    prefix = shared_prefix_length(ids, minimum=4)
    head = model.get_output_embeddings()
    linear = sum(m.weight.numel() for m in model.modules()
                 if isinstance(m, torch.nn.Linear) and m is not head)
    c = model.config
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    # QK^T and PV: 2 FLOPs per multiply-add each, per head dimension, head and layer
    per_key = 4 * c.num_attention_heads * head_dim * c.num_hidden_layers

    def keys(a: int, b: int) -> int:  # attention keys seen by positions a..b-1: sum of t + 1
        return (b * (b + 1) - a * (a + 1)) // 2

    tokens = prefix + sum(len(x) - prefix for x in ids)
    attended = keys(0, prefix) + sum(keys(prefix, len(x)) for x in ids)
    return {"flops": 2 * linear * tokens + per_key * attended, "linear_flops": 2 * linear * tokens,
            "tokens": tokens, "shared_prefix": prefix, "linear_weights": linear}


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
        "dtype": backend.dtype, "batch_size": backend.batch_size,
        "prompt_flops": prompt_flops(backend, requests)}))


if __name__ == "__main__":
    argv = sys.argv[1:]
    size = argv[argv.index("--lora-train-size") + 1] if "--lora-train-size" in argv else None
    main(argv[0], int(argv[1]), Path(argv[2]), size)
