"""Backend `hf/<path-or-id>`: in-process transformers, batched greedy generation.

Requests are rendered with the model's chat template, sorted longest first (as lm-evaluation-
harness does: padding is minimal and an out-of-memory shows up on the first batch, not the last)
and generated in batches with left padding. Per-query latency is the wall time of the batch the
query was in: that is how long its caller waited.

With `workers=W` (W > 1, one torch thread each) W batches decode side by side on threads of one
process, sharing the model's weights and the prompt prefix's cache. On a small model one thread
per batch uses the least CPU per answer, and W such workers answer W times as many queries per
second on W cores for the same CPU time, where W torch threads on one batch gain less and cost
more (docs/costs.md). The shared prefix itself runs once, on W threads, before the workers start.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from harness.backends.decoding import greedy_decode, use_shared_prefix_attention
from harness.compute import Meter
from harness.errors import UsageError
from harness.paths import cache_root
from harness.types import Generation, GenerationRequest

DTYPES = ("auto", "fp32", "bf16")


def cpu_supports_bf16() -> bool:
    """True on CPUs with native bf16 matrix units (AMX or AVX512-BF16), where bf16 pays off."""
    from harness.machine import cpu_flags

    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


def fingerprint_dir(path: Path) -> str:
    """sha256 over every file's name and bytes; memoised by (path, size, mtime) in the cache root."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    stamp = [(str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return _memoised_sha256([str(path.resolve()), stamp],
                            [(str(p.relative_to(path)), p) for p in files])


def fingerprint_file(path: Path) -> str:
    """sha256 of one file's bytes (a GGUF model), memoised the same way."""
    stat = path.stat()
    return _memoised_sha256(["file", str(path.resolve()), stat.st_size, stat.st_mtime_ns],
                            [(None, path)])


def _memoised_sha256(stamp: list, files: list[tuple[str | None, Path]]) -> str:
    """sha256 over (name, bytes) of `files`, remembered under the hash of `stamp` (path, sizes,
    mtimes) so an unchanged multi-GB model is read once, not on every run."""
    memo = cache_root() / "fingerprints" / hashlib.sha256(json.dumps(stamp).encode()).hexdigest()
    if memo.exists():
        return memo.read_text().strip()
    digest = hashlib.sha256()
    for name, p in files:
        if name is not None:
            digest.update(name.encode())
        with p.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    value = digest.hexdigest()
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(value)
    tmp.replace(memo)
    return value


class HFBackend:
    """A transformers causal LM, loaded on first use."""

    def __init__(self, spec: str, path: str | Path, dtype: str = "auto", batch_size: int = 8,
                 adapter: Path | None = None, n_threads: int | None = None,
                 workers: int = 1) -> None:
        if dtype not in DTYPES:
            raise UsageError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        if batch_size < 1:
            raise UsageError(f"batch_size must be >= 1, got {batch_size}")
        if n_threads is not None and n_threads < 1:
            raise UsageError(f"n_threads must be >= 1, got {n_threads}")
        if workers < 1:
            raise UsageError(f"workers must be >= 1, got {workers}")
        if workers > 1 and n_threads not in (None, 1):
            raise UsageError(f"workers={workers} run one torch thread each, so n_threads must be "
                             f"1 with them (got n_threads={n_threads}); use workers=1 for "
                             "several threads on one batch")
        # torch threads while generating (None: torch's default, every core). On a small model
        # one thread uses the least CPU per answer and its CPU time does not move with machine
        # load (docs/costs.md); more threads answer sooner on an idle machine.
        self.n_threads = 1 if workers > 1 else n_threads
        self.workers = workers
        self.spec = spec
        self.path = str(path)
        self.batch_size = batch_size
        self.adapter = adapter
        self.dtype = ("bf16" if cpu_supports_bf16() else "fp32") if dtype == "auto" else dtype
        self._model: Any = None
        self._tokenizer: Any = None
        self._identity: dict[str, Any] | None = None

    # -- identity ---------------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        if self._identity is None:
            local = Path(self.path)
            weights = fingerprint_dir(local) if local.is_dir() else f"hub:{self.path}"
            self._identity = {"backend": "hf", "model": self.spec, "weights": weights,
                              "dtype": self.dtype}
            if self.adapter is not None:
                self._identity["adapter"] = fingerprint_dir(self.adapter)
        return self._identity

    @property
    def facts(self) -> dict[str, Any]:
        """For the cell record (outside every key): threads, workers and the size of a local
        model folder's files."""
        folder = Path(self.path) if self.path else None
        threads = {"torch_threads": self.n_threads or torch_default_threads(),
                   "workers": self.workers}
        if folder is None or not folder.is_dir():
            return threads
        return {**threads, "model_file_bytes": sum(p.stat().st_size for p in folder.rglob("*")
                                                   if p.is_file())}

    def with_adapter(self, adapter: Path) -> HFBackend:
        """The same base model with a peft adapter on top (used by the lora strategy)."""
        return HFBackend(self.spec, self.path, self.dtype, self.batch_size, adapter, self.n_threads,
                         self.workers)

    # -- loading ----------------------------------------------------------------------------------
    def load(self) -> tuple[Any, Any]:
        if self._model is None:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # rvf draws its own progress bars
            tok = AutoTokenizer.from_pretrained(self.path)
            tok.padding_side = "left"
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
            model = AutoModelForCausalLM.from_pretrained(self.path, dtype=torch.float32)
            if self.adapter is not None:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, str(self.adapter))
                model = model.merge_and_unload()
            if torch.cuda.is_available():  # a GPU when there is one (dtype=bf16 to use its bf16)
                model.to("cuda")
            model.eval()
            use_shared_prefix_attention(model)
            self._model, self._tokenizer = model, tok
        return self._model, self._tokenizer

    def render(self, request: GenerationRequest) -> str:
        _, tok = self.load()
        if tok.chat_template:
            return tok.apply_chat_template(list(request.messages), tokenize=False,
                                           add_generation_prompt=True)
        turns = [f"{m['role']}: {m['content']}" for m in request.messages]
        return "\n\n".join(turns) + "\n\nassistant:"

    # -- generation -------------------------------------------------------------------------------
    def constraint_modes(self, n_choices: int, pattern: str | None = None) -> tuple[str, ...]:
        from harness.backends.constrained import MAX_SCORED_CHOICES

        return ("labels", "score") if n_choices <= MAX_SCORED_CHOICES else ("labels",)

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, Generation]]:
        if not requests:
            return
        model, tok = self.load()
        # process-wide, so set for this call only (training must keep every core)
        with torch_threads(self.n_threads):
            yield from self._generate(requests, model, tok)

    def _generate(self, requests: Sequence[GenerationRequest], model: Any, tok: Any
                  ) -> Iterator[tuple[int, Generation]]:
        import torch

        ids = tok([self.render(r) for r in requests], add_special_tokens=False)["input_ids"]
        limit = getattr(model.config, "max_position_embeddings", None) or 10**9
        cut = fit_to_context(ids, [r.max_new_tokens for r in requests], limit)
        tries = [self._trie(r.constraint) if r.constraint else None for r in requests]
        prefix = shared_prefix_length(ids, minimum=4)
        with torch.inference_mode(), self._autocast(model):
            cache, shared = None, Meter()
            if prefix:
                # on every worker's core: nothing else runs yet
                with torch_threads(max(torch.get_num_threads(), self._pool_size(model))), shared:
                    out = model(input_ids=torch.tensor([ids[0][:prefix]], device=model.device),
                                use_cache=True, logits_to_keep=1)
                cache = [(layer.keys, layer.values) for layer in out.cache.layers]
            by_score = [r.constraint is not None and r.constraint.mode == "score" for r in requests]
            scored = (
                (i, self._score(requests[i], ids[i], cache, prefix, tries[i]))
                for i, by in enumerate(by_score) if by)
            decoded = self._decode(requests, ids, tries, cache, prefix,
                                   [i for i, by in enumerate(by_score) if not by])
            for i, gen in itertools.chain(scored, decoded):
                # Every request's share of the shared prefix's forward pass, and what was cut.
                gen.compute_s += shared.wall / len(requests)
                gen.cpu_s += shared.cpu / len(requests)
                if cut[i]:
                    gen.meta["truncated_tokens"] = cut[i]
                yield i, gen

    def _autocast(self, model: Any) -> Any:
        """bf16 autocast when dtype is bf16 (a no-op otherwise); per thread, as inference mode."""
        import torch

        return torch.autocast(model.device.type, dtype=torch.bfloat16,
                              enabled=self.dtype == "bf16")

    def _pool_size(self, model: Any) -> int:
        """Workers decoding side by side: `workers` on a CPU, one on an accelerator."""
        return self.workers if model.device.type == "cpu" else 1

    def _trie(self, constraint: Any) -> Any:
        from harness.backends.constrained import token_trie

        _, tok = self.load()
        return token_trie(tok, constraint.choices, constraint.choices_sha256, tok.eos_token_id)

    def _decode(self, requests: Sequence[GenerationRequest], ids: list[list[int]], tries: list,
                cache: Any, prefix: int, todo: list[int]) -> Iterator[tuple[int, Generation]]:
        """Greedy decoding in batches, longest prompt first; a trie keeps a row's answer inside
        its constraint (and may need more tokens than max_new_tokens: a whole label)."""
        import torch

        model, tok = self.load()
        budget = [max(r.max_new_tokens, t.longest if t else 0) for r, t in zip(requests, tries,
                                                                               strict=True)]
        order = sorted(todo, key=lambda i: -len(ids[i]))
        batches = [order[s:s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        workers = self._pool_size(model)

        def run(batch: list[int]) -> tuple[list[int], list[list[int]], Meter]:
            # Inference mode and autocast are per thread; a worker's torch ops run on its own
            # thread (one torch thread each), so its thread's CPU clock is what it used.
            with torch.inference_mode(), self._autocast(model), \
                    torch_threads(1 if workers > 1 else None), Meter(thread=workers > 1) as used:
                outputs = greedy_decode(model, cache, prefix, [ids[i][prefix:] for i in batch],
                                        max(budget[i] for i in batch), tok.eos_token_id,
                                        tok.pad_token_id, [tries[i] for i in batch])
            return batch, outputs, used

        for batch, outputs, used in in_workers(run, batches, workers):
            for row, i in enumerate(batch):
                out_ids = outputs[row][:budget[i]]
                yield i, Generation(
                    text=tok.decode(out_ids, skip_special_tokens=True).strip(),
                    input_tokens=len(ids[i]), output_tokens=len(out_ids), latency_s=used.wall,
                    compute_s=used.wall / len(batch), cpu_s=used.cpu / len(batch))

    def _score(self, request: GenerationRequest, ids: list[int], cache: Any, prefix: int,
               trie: Any) -> Generation:
        """Score mode: the choice with the highest log-likelihood after this prompt."""
        import torch
        from transformers import DynamicCache

        from harness.backends.constrained import score_choices

        model, _ = self.load()
        with Meter() as used:
            past = DynamicCache(ddp_cache_data=[(k.clone(), v.clone()) for k, v in cache]) \
                if cache else DynamicCache()
            rest = ids[prefix:] if cache else ids
            out = model(input_ids=torch.tensor([rest], device=model.device),
                        position_ids=torch.arange(len(ids) - len(rest), len(ids),
                                                  device=model.device)[None],
                        cache=past, use_cache=True, logits_to_keep=1)
            layers = [(layer.keys, layer.values) for layer in out.cache.layers]
            scores = score_choices(model, layers, out.logits[0, -1], len(ids), trie.sequences)
        best = max(range(len(scores)), key=scores.__getitem__)
        return Generation(text=request.constraint.choices[best], input_tokens=len(ids),
                          output_tokens=len(trie.sequences[best]), latency_s=used.wall,
                          compute_s=used.wall, cpu_s=used.cpu,
                          meta={"logprob": round(scores[best], 4)})


def in_workers(run: Callable[[Any], Any], items: Sequence[Any], workers: int) -> Iterable[Any]:
    """`run(item)` for every item, yielded as each finishes: in this thread, one after another,
    when `workers` is 1; else on that many threads. Leaving the loop early cancels what has not
    started."""
    if workers == 1 or len(items) < 2:
        yield from map(run, items)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rvf-decode")
    try:
        for done in as_completed([pool.submit(run, item) for item in items]):
            yield done.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class torch_threads:
    """`with torch_threads(n)`: torch on n intra-op threads inside the block (None: unchanged)."""

    def __init__(self, n: int | None) -> None:
        self.n, self.before = n, None

    def __enter__(self) -> None:
        if self.n is not None:
            import torch

            self.before = torch.get_num_threads()
            torch.set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        if self.before is not None:
            import torch

            torch.set_num_threads(self.before)


def fit_to_context(ids: list[list[int]], max_new_tokens: Sequence[int], limit: int) -> list[int]:
    """Cut over-long prompts in place to fit `limit` with room for the answer, keeping their end
    (the question); how many tokens each lost (0: untouched), which the record counts."""
    cut = []
    for i, new in enumerate(max_new_tokens):
        over = max(len(ids[i]) + new - limit, 0)
        if over:
            ids[i] = ids[i][over:]
        cut.append(over)
    return cut


def shared_prefix_length(ids: Sequence[Sequence[int]], minimum: int = 16) -> int:
    """Tokens every prompt starts with (at least one token of each prompt left over), or 0.

    Few-shot prompts share a long prefix (instructions, label set, examples): computing its
    key/value cache once and reusing it for every batch is what makes CPU evaluation affordable.
    """
    if len(ids) < 2:
        return 0
    first = ids[0]
    n = min(len(x) for x in ids) - 1
    for seq in ids[1:]:
        n = min(n, next((j for j in range(n) if seq[j] != first[j]), n))
    return n if n >= minimum else 0


def torch_default_threads() -> int:
    """The intra-op threads torch uses when not told otherwise (OMP_NUM_THREADS, else every
    core), read without importing torch."""
    from harness.compute import machine_cores

    text = os.environ.get("OMP_NUM_THREADS", "")
    return int(text) if text.isdigit() and int(text) > 0 else machine_cores()


def hf(name: str, dtype: str = "auto", batch_size: int = 8,
       n_threads: int | None = None, workers: int = 1) -> HFBackend:
    """In-process transformers model from a local folder or a hub id (hf/<path-or-id>)."""
    looks_local = name.startswith(("/", ".", "~")) or name.count("/") > 1
    if looks_local and not Path(name).expanduser().is_dir():
        raise UsageError(f"hf/{name}: no such model folder (a hub id looks like org/name)")
    if looks_local:
        name = str(Path(name).expanduser())
    return HFBackend(f"hf/{name}", name, dtype=dtype, batch_size=batch_size, n_threads=n_threads,
                     workers=workers)
