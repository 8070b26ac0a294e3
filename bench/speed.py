"""Rows 9 and 10, and the GEMM-limit part of row 5: generation speed per strategy against an
older commit, one decode step against the memory bound, LoRA training against the GEMM limit."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import Row, stamp
from bench.timing import LoadWindow, ratios

ROOT = Path(__file__).resolve().parents[1]
# The main before the decoding work of issue 22 (shared-prefix attention, forced trie tokens,
# allowed-token logits): the "before" side of row 9.
BASELINE = "3f20967"
STRATEGIES = ("prompt", "rag", "lora")
LORA_TRAIN_SIZE = "250"  # row 9's adapter: 2 epochs of 250 tickets, about a minute to train here


def checkout(rev: str, into: Path) -> Path:
    """The code of `rev` (harness/, tasks/, corpora/) extracted into a folder, from git."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev, "harness",
                              "tasks", "corpora"], capture_output=True, check=True).stdout
    into.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as fh:
        fh.write(archive)
        fh.seek(0)
        with tarfile.open(fileobj=fh) as tar:
            tar.extractall(into, filter="data")
    return into


def one_side(code: Path, strategy: str, limit: int, env: dict[str, str], out: Path) -> dict:
    """bench/strategy_speed.py with `harness` imported from `code`."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "strategy_speed.py"), strategy,
                           str(limit), str(out), "--lora-train-size", LORA_TRAIN_SIZE],
                          env={**env, "PYTHONPATH": str(code)}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"strategy_speed {strategy} under {code} failed:\n{done.stderr[-3000:]}")
    result = json.loads(out.read_text())
    if Path(result["harness"]).resolve() != (code / "harness").resolve():
        raise RuntimeError(f"imported harness from {result['harness']}, not {code}")
    return result


def strategy_speed(ctx: Any) -> list[Row]:
    """Row 9a-c: one Banking77 cell per strategy, this tree against BASELINE, alternating."""
    base = ctx.fresh("baseline-9")
    try:
        checkout(BASELINE, base)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        why = f"no git checkout with commit {BASELINE} ({e})"
        return [Row(f"9{c}", f"{s} cell: queries/s, this tree / {BASELINE}", [], ">= 3",
                    skipped=why) for c, s in zip("abc", STRATEGIES, strict=True)]
    env = ctx.env(ctx.work / "cache-9")
    limit, rows = ctx.sizes.speed_samples, []
    rate = machine_gemm_rate()
    for letter, strategy in zip("abc", STRATEGIES, strict=True):
        load = LoadWindow()
        one_side(ROOT, strategy, 2, env, ctx.work / "warm.json")  # builds the index / adapter
        runs = []
        for _ in range(ctx.sizes.speed_rounds):
            before = one_side(base, strategy, limit, env, ctx.work / "before.json")
            after = one_side(ROOT, strategy, limit, env, ctx.work / "after.json")
            runs.append((before, after))
        load.close()
        rows.append(_speed_row(letter, strategy, runs, load, rate))
    return rows


def machine_gemm_rate() -> tuple[float, str]:
    """The most FLOP/s this process's cores reach on the model's matmul shape (1024 x 576 x
    1536, fp32): one GEMM on all of them, or one single-thread GEMM per core (as rvf's one-thread
    workers run) counted as if each core ran it alone, whichever is higher; and how."""
    import os

    cores = len(os.sched_getaffinity(0))
    together, alone = gemm_limit(1024, cores, "fp32"), gemm_limit(1024, 1, "fp32")
    if together >= cores * alone:
        return together, f"one GEMM on {cores} threads"
    return cores * alone, f"{cores} x a one-thread GEMM alone"


def _speed_row(letter: str, strategy: str, runs: list[tuple[dict, dict]], load: Any,
               rate: tuple[float, str]) -> Row:
    before = statistics.median(b["seconds"] for b, _ in runs)
    after = statistics.median(a["seconds"] for _, a in runs)
    cpu_before = statistics.median(b["cpu_seconds"] for b, _ in runs)
    cpu_after = statistics.median(a["cpu_seconds"] for _, a in runs)
    n, old, first = runs[0][0]["queries"], runs[0][0], runs[0][1]
    same = [sum(x == y for x, y in zip(b["answers"], a["answers"], strict=True)) for b, a in runs]
    cell = {"prompt": "prompt k=5", "rag": "rag (k nearest train tickets as examples)",
            "lora": f"lora (adapter of train_size={LORA_TRAIN_SIZE}, 2 epochs)"}[strategy]
    return Row(f"9{letter}", f"{strategy} cell: queries/s, this tree / {BASELINE}",
               ratios([(b["seconds"], a["seconds"]) for b, a in runs]), ">= 3", load=load,
               details=[
                   stamp(),
                   f"ticket_categorization (Banking77) x {cell} on local/smollm2-135m-instruct, "
                   f"dtype {first['dtype']}, batch {first['batch_size']}, the backend's default "
                   f"threads: {_workers(old)} at {BASELINE}, {_workers(first)} here; "
                   "labels-constrained (the cell default), the same "
                   f"{n} seeded test queries on both sides; `backend.generate` timed with no "
                   "request cache, in a fresh process per run (bench/strategy_speed.py), "
                   f"{BASELINE} and this tree alternating",
                   f"queries/s: {n / before:.2f} at {BASELINE}, {n / after:.2f} here (median "
                   f"seconds {before:.1f} and {after:.1f})",
                   f"process CPU per query: {cpu_before / n:.3f} s at {BASELINE}, "
                   f"{cpu_after / n:.3f} s here (what the cell is priced by)",
                   f"identical answers: {', '.join(f'{s}/{n}' for s in same)} (each round)",
                   _floor(first["prompt_flops"], rate, before, after)])


def _floor(counted: dict, rate: tuple[float, str], before: float, after: float) -> str:
    """The ratio no implementation could beat here: the prompts' own arithmetic at the GEMM rate."""
    floor = counted["flops"] / rate[0]
    return (f"floor: the prompts' arithmetic alone ({counted['tokens']:,} tokens through "
            f"{counted['linear_weights'] / 1e6:.0f}M linear weights, the {counted['shared_prefix']}"
            f"-token shared prefix once, causal attention; decode steps and the output layer left "
            f"out) is {counted['flops'] / 1e12:.2f} TFLOP = {floor:.1f} s at {rate[0] / 1e9:.1f} "
            f"GFLOP/s ({rate[1]}, 1024 x 576 x 1536 fp32): at most {before / floor:.2f}x over "
            f"{BASELINE} on this machine; this tree runs at {floor / after:.0%} of that rate")


def _workers(side: dict) -> str:
    """'1 worker of 1 torch thread', as a strategy_speed.py result says."""
    workers = side.get("workers", 1)
    return (f"{workers} worker{'s' if workers > 1 else ''} of {side['threads']} torch "
            f"thread{'s' if side['threads'] > 1 else ''}")


def decode_step(ctx: Any) -> list[Row]:
    """Row 10: one greedy decode step of 8 rows over the default cell's prefix, against the
    time it takes to stream the weights the step reads at this process's copy bandwidth."""
    import torch
    from transformers import DynamicCache

    from harness.backends.decoding import PREFIX_ATTENTION, SharedPrefix

    w = ctx.workload(8)
    model, tok = w.backend.load()
    threads = w.backend.n_threads or torch.get_num_threads()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    load = LoadWindow()
    try:
        ids = tok(w.prompts, add_special_tokens=False)["input_ids"]
        from harness.backends.hf import shared_prefix_length

        p = shared_prefix_length(ids, minimum=4)
        width = max(len(x) - p for x in ids)
        steps = ctx.sizes.decode_steps
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([ids[0][:p]]), use_cache=True, logits_to_keep=1)
            prefix = [(layer.keys, layer.values) for layer in out.cache.layers]
            times = {}
            for how in ("copies", "shared"):
                model.set_attn_implementation("sdpa" if how == "copies" else PREFIX_ATTENTION)
                times[how] = _step_times(model, prefix, p, width, steps, how == "shared",
                                         SharedPrefix, DynamicCache)
            model.set_attn_implementation(PREFIX_ATTENTION)
        weights = sum(m.weight.numel() * m.weight.element_size() for m in model.modules()
                      if isinstance(m, torch.nn.Linear))
        bandwidth = _copy_bandwidth(torch)
    finally:
        torch.set_num_threads(before)
    load.close()
    bound = weights / bandwidth
    shared = [t / bound for t in times["shared"]]
    return [Row("10", "decode step, batch 8: time / weight-streaming bound", shared, "<= 2",
                load=load, details=[
                    stamp(),
                    f"one greedy step of 8 rows after the default cell's {p}-token shared prefix "
                    f"and {width} own tokens per row (full logits, fp32 weights, {threads} torch "
                    f"thread(s)), {steps} steps per way",
                    f"bound: the {weights / 1e6:.0f} MB of linear-layer weights (the output layer "
                    f"included) at this process's copy bandwidth, {bandwidth / 1e9:.1f} GB/s "
                    f"(torch copy of 512 MB, {threads} thread(s)) = {bound * 1e3:.0f} ms",
                    f"median step: {statistics.median(times['shared']) * 1e3:.0f} ms with the "
                    f"prefix held once (PREFIX_ATTENTION), "
                    f"{statistics.median(times['copies']) * 1e3:.0f} ms with a copy of the "
                    "prefix per row (sdpa, what rvf did before)",
                    "constrained decoding also skips the output layer's rows no answer can take "
                    "and the tokens a trie forces: fewer and lighter steps than this one"])]


def _step_times(model: Any, prefix: list, p: int, width: int, steps: int, shared: bool,
                shared_prefix: Any, dynamic_cache: Any) -> list[float]:
    import torch

    rows = 8
    ids = torch.randint(1000, 2000, (rows, width))
    valid = torch.ones((rows, width), dtype=torch.bool)
    positions = torch.arange(p, p + width)[None].expand(rows, -1)
    if shared:
        state = shared_prefix(prefix, valid)
        kw: dict = {"shared_prefix": state}
        cache = dynamic_cache()
    else:
        mask = torch.ones((rows, p + width), dtype=torch.long)
        kw = {"attention_mask": mask}
        cache = dynamic_cache(ddp_cache_data=[(k.expand(rows, -1, -1, -1).contiguous(),
                                               v.expand(rows, -1, -1, -1).contiguous())
                                              for k, v in prefix])
    out = model(input_ids=ids, position_ids=positions, cache=cache, use_cache=True,
                logits_to_keep=1, **kw)
    times = []
    for n in range(steps + 2):  # the first two are warm-up
        token = out.logits[:, -1].argmax(-1)[:, None]
        if shared:
            state.own_valid = torch.cat([state.own_valid, valid[:, :1]], -1)
        else:
            kw["attention_mask"] = torch.cat([kw["attention_mask"], mask[:, :1]], -1)
        began = time.perf_counter()
        out = model(input_ids=token, position_ids=torch.full((rows, 1), p + width + n),
                    cache=out.cache, use_cache=True, logits_to_keep=1, **kw)
        times.append(time.perf_counter() - began)
    return times[2:]


def _copy_bandwidth(torch: Any) -> float:
    """Bytes per second of read plus write in a 512 MB tensor copy (best of 5)."""
    src = torch.ones(128 * 1024 * 1024)
    dst = torch.empty_like(src)
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - began)
    return 2 * src.numel() * src.element_size() / best


def gemm_limit(rows: int, threads: int, dtype: str) -> float:
    """FLOP/s of matmuls at SmolLM2's MLP shape (rows x 576 x 1536), best of 5, on `threads`
    torch threads, fp32 or under bf16 autocast as training runs: what its GEMMs could reach."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16")
    try:
        a, b = torch.randn(rows, 576), torch.randn(576, 1536)
        autocast.__enter__()
        a @ b
        best = float("inf")
        for _ in range(5):
            began = time.perf_counter()
            for _ in range(20):
                a @ b
            best = min(best, (time.perf_counter() - began) / 20)
    finally:
        autocast.__exit__(None, None, None)
        torch.set_num_threads(before)
    return 2 * rows * 576 * 1536 / best


def lora_flop_row(model_path: str, tokens_per_step: list[int], step_seconds: list[float],
                  threads: int, dtype: str, load: Any) -> Row:
    """Row 5b: the training step's rate in FLOP/s against `gemm_limit` at its batch's rows."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    head = model.get_output_embeddings()
    body = sum(m.weight.numel() for m in model.modules()
               if isinstance(m, torch.nn.Linear) and m is not head)
    per_token = 4 * body  # forward (2 per weight) + the input gradients of backward (2 per weight)
    limit = gemm_limit(int(statistics.median(tokens_per_step)), threads, dtype)
    speeds = [t / s for t, s in zip(tokens_per_step, step_seconds, strict=True)]  # tokens/s
    rates = [v * per_token for v in speeds]
    return Row("5b", "LoRA step: FLOP/s / GEMM limit (same dtype)", [r / limit for r in rates], ">= 0.5",
               load=load, details=[
                   f"FLOP per trained token: 4 x {body / 1e6:.0f}M linear weights (forward and "
                   "the backward pass's input gradients; LoRA's own and attention's FLOPs left "
                   "out), tokens = the padded batch (rows x width)",
                   f"median {statistics.median(speeds):.0f} tokens/s = "
                   f"{statistics.median(rates) / 1e9:.1f} GFLOP/s; GEMM limit "
                   f"{limit / 1e9:.1f} GFLOP/s (rows x 576 x 1536, {dtype}, {threads} threads)"])
