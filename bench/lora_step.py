"""LoRA training speed on this machine: seconds per optimizer step under several settings.

Each setting runs `STEPS` optimizer steps of `harness.training.train` on Banking77's train
tickets with the lora strategy's defaults (the bundled SmolLM2-135M), in a fresh subprocess, so
that the OpenMP settings (read once, when torch loads libgomp) can differ between settings. The
settings alternate (A B C A B C ...) for `--rounds` rounds. Usage:

    python bench/lora_step.py [--steps 20] [--rounds 2]

Prints one line per run: the setting, s/step, tickets/s, process CPU seconds per wall second.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

# (label, environment, lora arguments): rvf's own OpenMP setting (passive waits) against
# libgomp's default spinning, a batch of 8 against 32, LoRA dropout on against off.
SETTINGS = [
    ("passive, batch 32, dropout 0", {}, {"batch_size": 32}),
    ("passive, batch 8, dropout 0", {}, {"batch_size": 8}),
    ("spin, batch 8, dropout 0", {"OMP_WAIT_POLICY": "ACTIVE"}, {"batch_size": 8}),
    ("spin, batch 8, dropout 0.05", {"OMP_WAIT_POLICY": "ACTIVE"},
     {"batch_size": 8, "dropout": 0.05}),
]

CHILD = """
import json, sys, tempfile, time
from pathlib import Path
import harness  # sets rvf's OpenMP default before torch loads
import torch
from peft import LoraConfig, get_peft_model
from harness.backends.local import local
from harness.strategies.lora import lora, tokenize_examples
from harness.training import train
from harness.types import GenerationRequest
from rvf_tasks.ticket_categorization import ticket_categorization

args, steps = json.loads(sys.argv[1]), int(sys.argv[2])
task = ticket_categorization()
backend = local("smollm2-135m-instruct")
model, tok = backend.load()
render = lambda m: backend.render(GenerationRequest(tuple(m), 0))
examples, _ = tokenize_examples(task, task.splits["train"], render, tok, None, 8192)
config = lora(max_steps=steps, **args).config(0)
torch.manual_seed(0)
model = get_peft_model(model, LoraConfig(r=config.r, lora_alpha=config.alpha,
    lora_dropout=config.dropout, target_modules=list(config.target_modules), task_type="CAUSAL_LM"))
wall, cpu = time.perf_counter(), time.process_time()
state = train(model, examples, config, tok.pad_token_id, Path(tempfile.mkdtemp()), 0,
              backend.dtype)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({"s_per_step": wall / steps, "examples_per_s": state.examples_seen / wall,
                  "cpu_per_wall": cpu / wall, "dtype": backend.dtype,
                  "tokens_per_s": state.tokens_trained / wall}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()[0]:.2f}", flush=True)
    for round_ in range(args.rounds):
        for label, env, lora_args in SETTINGS:
            done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(lora_args),
                                   str(args.steps)], env={**os.environ, **env},
                                  capture_output=True, text=True, check=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"round {round_ + 1} | {label:30} | {r['s_per_step']:.2f} s/step | "
                  f"{r['examples_per_s']:.1f} tickets/s | {r['tokens_per_s']:.0f} tokens/s | "
                  f"CPU/wall {r['cpu_per_wall']:.2f} | {r['dtype']}", flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
