"""Backend `gguf/<path-to-.gguf>`: a quantized model run in-process by llama.cpp.

Through `llama-cpp-python` (the `llamacpp` extra). Requests are rendered with the chat template
embedded in the GGUF file (`tokenizer.chat_template`, rendered by llama-cpp-python's Jinja2
formatter: for SmolLM2 that is byte-for-byte what transformers renders, default system turn
included), decoded greedily up to the request's max tokens or the end-of-turn token, and answered
as plain text, exactly as the hf backend answers, so an `hf/` row and a `gguf/` row of the same
model differ only in the runtime and the quantization.

One sequence at a time: llama-cpp-python's high-level API holds one sequence in its context. What
it does reuse is the KV cache of the previous prompt's longest common prefix, and the prompt
strategies share a long prefix (instructions, label set, few-shot turns): like the hf backend, that
shared prefix is computed once per `generate` and left out of the per-query latency (the record's
backend facts give its size and time). Multi-sequence batching would need llama.cpp's low-level
batch API; on the 2-core CPU this was built on, prompt evaluation was about 80% of a query's
compute and batching saves none of it, so it is not done (see docs/gguf.md).

The identity (request-cache and cell key) is content-addressed: the file's sha256 (memoised by
path, size and mtime), the llama-cpp-python version, n_ctx, the chat-template source and any
adapter's fingerprint, so a different file never answers from another's cache entries.
`n_threads` changes speed, not answers, and is left out.

The model is loaded on the first request of a `generate` call and released when the call ends,
so a run that evaluates several models in one process does not keep this one resident.

LoRA: `with_adapter(<peft folder>)` converts a peft LoRA adapter (what the `lora` strategy
trains) into llama.cpp's GGUF adapter format and serves it on top of the quantized base
(`Llama(lora_path=...)`). Llama-architecture bases only (the q/k row permutation that llama.cpp's
converters apply is known for them).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

from harness.backends.hf import (
    fingerprint_dir,
    fingerprint_file,
    fit_to_context,
    shared_prefix_length,
)
from harness.compute import Meter, machine_cores, rss_bytes
from harness.errors import UsageError
from harness.paths import cache_root
from harness.types import Generation, GenerationRequest

INSTALL_HINT = "pip install 'rvf[llamacpp]'"
DEFAULT_N_CTX = 8192
# Most choices a GBNF grammar holds (one alternative each); larger sets decode unconstrained.
MAX_GRAMMAR_CHOICES = 2000
GGUF_MAGIC = b"GGUF"
# Bump when the peft -> GGUF adapter conversion changes (cached conversions then stop matching).
ADAPTER_FORMAT = "gguf-lora-1"


def physical_cores() -> int:
    """Physical cores this process may run on: llama.cpp gains nothing from SMT siblings."""
    allowed = machine_cores()
    cores: set[tuple[str, str]] = set()
    try:
        block: dict[str, str] = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines() + [""]:
            if not line.strip():
                if "core id" in block:
                    cores.add((block.get("physical id", "0"), block["core id"]))
                block = {}
            elif ":" in line:
                key, _, value = line.partition(":")
                block[key.strip()] = value.strip()
    except OSError:
        pass
    return max(1, min(len(cores) or allowed or 1, allowed or 1))


def check_gguf_file(path: Path) -> None:
    """A UsageError naming the path unless it is a readable GGUF file."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise UsageError(f"gguf: cannot read model file {path}: {exc.strerror or exc}") from None
    if magic != GGUF_MAGIC:
        raise UsageError(f"gguf: {path} is not a GGUF file (it starts with {magic!r}, not "
                         f"{GGUF_MAGIC!r})")


def require_llama_cpp() -> None:
    """A UsageError saying how to install llama-cpp-python unless it imports (its native library
    included: a broken build fails here, before any cell runs)."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"the gguf backend needs llama-cpp-python ({exc}): {INSTALL_HINT}") from None


class GGUFBackend:
    """A GGUF model served in-process by llama.cpp, greedy, one sequence at a time."""

    def __init__(self, spec: str, path: str | Path | None, n_threads: int | None = None,
                 n_ctx: int = DEFAULT_N_CTX, adapter: Path | None = None) -> None:
        if n_threads is not None and n_threads < 1:
            raise UsageError(f"n_threads must be >= 1, got {n_threads}")
        if n_ctx < 16:
            raise UsageError(f"n_ctx must be >= 16, got {n_ctx}")
        self.spec = spec
        self.path = Path(path) if path is not None else None
        self.n_threads = n_threads or physical_cores()
        self.n_ctx = n_ctx
        self.adapter = adapter
        self._identity: dict[str, Any] | None = None
        self._llm: Any = None
        # Facts for the cell record (not part of any key); see `generate`.
        self.facts: dict[str, Any] = {}

    def model_file(self) -> Path:
        """The .gguf file (subclasses may locate it lazily)."""
        if self.path is None:
            raise UsageError(f"{self.spec}: no model file")
        return self.path

    # -- identity ---------------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        if self._identity is None:
            path = self.model_file()
            check_gguf_file(path)
            self._identity = {"backend": "gguf", "model": self.spec,
                              "weights": fingerprint_file(path),
                              "llama_cpp_python": version("llama_cpp_python"),
                              "n_ctx": self.n_ctx, "chat_template": "embedded"}
            if self.adapter is not None:
                self._identity["adapter"] = fingerprint_dir(self.adapter)
                self._identity["adapter_format"] = ADAPTER_FORMAT
            self.facts["model_file_bytes"] = path.stat().st_size
            self.facts["n_threads"] = self.n_threads
        return self._identity

    def training_twin(self) -> Any | None:
        """The transformers model with this file's weights, which peft can train (None: unknown;
        the lora strategy then asks for `lora.train_model`)."""
        return None

    def with_adapter(self, adapter: Path) -> GGUFBackend:
        """The same quantized base with a peft LoRA adapter on top (converted to GGUF on load)."""
        return GGUFBackend(self.spec, self.model_file(), self.n_threads, self.n_ctx, adapter)

    # -- loading ----------------------------------------------------------------------------------
    def load(self) -> Any:
        """The llama_cpp.Llama, loaded once until `release`."""
        if self._llm is None:
            require_llama_cpp()
            from llama_cpp import Llama

            self.identity()  # checks the file
            lora = str(gguf_adapter(self.adapter, self.model_file())) if self.adapter else None
            try:
                self._llm = Llama(str(self.model_file()), n_ctx=self.n_ctx,
                                  n_threads=self.n_threads, n_threads_batch=self.n_threads,
                                  lora_path=lora, verbose=False)
            except (ValueError, RuntimeError) as exc:  # llama-cpp-python's "failed to load"
                raise UsageError(f"{self.spec}: llama.cpp could not load {self.model_file()}"
                                 f"{' with adapter ' + lora if lora else ''}: {exc}") from None
        return self._llm

    def release(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    def render(self, request: GenerationRequest) -> str:
        """The prompt text: the GGUF's own chat template, else the hf backend's plain fallback."""
        llm = self.load()
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            turns = [f"{m['role']}: {m['content']}" for m in request.messages]
            return "\n\n".join(turns) + "\n\nassistant:"
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def token_text(token: int) -> str:
            return llm._model.token_get_text(token) if token >= 0 else ""

        formatter = Jinja2ChatFormatter(template=template, eos_token=token_text(llm.token_eos()),
                                        bos_token=token_text(llm.token_bos()),
                                        add_generation_prompt=True)
        return formatter(messages=list(request.messages)).prompt

    def tokenize(self, request: GenerationRequest) -> list[int]:
        llm = self.load()
        add_bos = llm.metadata.get("tokenizer.ggml.add_bos_token", "false") == "true"
        return llm.tokenize(self.render(request).encode(), add_bos=add_bos, special=True)

    # -- generation -------------------------------------------------------------------------------
    def constraint_modes(self, n_choices: int, pattern: str | None = None) -> tuple[str, ...]:
        """`labels` through a GBNF grammar of the choices (one alternative each): for label sets;
        a grammar of a 74,719-code set would cost llama.cpp more than it saves."""
        return ("labels",) if n_choices <= MAX_GRAMMAR_CHOICES else ()

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, Generation]]:
        if not requests:
            return
        import llama_cpp

        before = rss_bytes()
        llm = self.load()
        try:
            arch = llm.metadata.get("general.architecture", "")
            trained = int(llm.metadata.get(f"{arch}.context_length", 0) or 0)
            limit = min(llm.n_ctx(), trained) if trained else llm.n_ctx()
            ids = [self.tokenize(r) for r in requests]
            cut = fit_to_context(ids, [r.max_new_tokens for r in requests], limit)
            prefix = shared_prefix_length(ids)
            with Meter() as shared:
                llm.reset()
                if prefix:
                    llm.eval(ids[0][:prefix])
            self.facts.update(shared_prefix_tokens=prefix, shared_prefix_s=round(shared.wall, 3))
            for i, request in enumerate(requests):
                try:
                    with Meter() as used:
                        out = self._decode_one(llm, ids[i], request)
                except RuntimeError as exc:  # a failed llama_decode: this sample fails alone
                    yield i, Generation(error=f"llama.cpp: {exc}", input_tokens=len(ids[i]))
                    continue
                text_ids = [t for t in out if not llama_cpp.llama_vocab_is_eog(llm._model.vocab, t)]
                text = llm.detokenize(text_ids).decode("utf-8", errors="replace").strip()
                # Its own compute plus its share of the shared prefix's evaluation.
                yield i, Generation(text=text, input_tokens=len(ids[i]), output_tokens=len(out),
                                    latency_s=used.wall,
                                    compute_s=used.wall + shared.wall / len(requests),
                                    cpu_s=used.cpu + shared.cpu / len(requests),
                                    meta={"truncated_tokens": cut[i]} if cut[i] else {})
            after = rss_bytes()
            if before is not None and after is not None:
                # What the loaded model, its KV cache and compute buffers added to the process.
                self.facts["rss_added_mb"] = round((after - before) / 2**20, 1)
        finally:
            self.release()


    @staticmethod
    def _decode_one(llm: Any, ids: list[int], request: GenerationRequest) -> list[int]:
        """Greedy tokens for one prompt, up to end-of-generation or the budget; a constraint's
        grammar may need more tokens than max_new_tokens (a whole choice)."""
        import llama_cpp

        out: list[int] = []
        grammar, budget = None, request.max_new_tokens
        if request.constraint is not None:
            grammar = choices_grammar(request.constraint.choices)
            budget = max(budget, max(len(c) for c in request.constraint.choices) + 1)
        for token in llm.generate(ids, temp=0.0, top_k=1, top_p=1.0, min_p=0.0,
                                  repeat_penalty=1.0, grammar=grammar):
            out.append(token)
            if llama_cpp.llama_vocab_is_eog(llm._model.vocab, token) or len(out) >= budget:
                break
        return out


def gbnf_literal(text: str) -> str:
    """A GBNF string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


@functools.lru_cache(maxsize=8)
def choices_grammar(choices: tuple[str, ...]) -> Any:
    """A llama.cpp grammar whose only sentences are the choices."""
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string("root ::= " + " | ".join(gbnf_literal(c) for c in choices),
                                    verbose=False)


# -- LoRA adapters: peft safetensors -> llama.cpp GGUF adapter ---------------------------------------

def permute_rows(weights: Any, n_head: int) -> Any:
    """llama.cpp's row order for a llama q/k projection (what its HF converter applies to the
    base weights, and transformers undoes when it loads a GGUF): per head, interleave the halves."""
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def gguf_adapter(adapter: Path, base: Path) -> Path:
    """The GGUF form of a peft LoRA adapter for this base file, converted once into the cache."""
    from filelock import FileLock

    key = hashlib.sha256(f"{ADAPTER_FORMAT}:{fingerprint_dir(adapter)}:{fingerprint_file(base)}"
                         .encode()).hexdigest()[:24]
    out = cache_root() / "gguf-adapters" / f"{key}.gguf"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock"):
        if not out.exists():
            tmp = out.with_suffix(f".{os.getpid()}.tmp")
            convert_peft_lora(adapter, base, tmp)
            tmp.replace(out)
    return out


def convert_peft_lora(adapter: Path, base: Path, out: Path) -> None:
    """Write a peft LoRA adapter (adapter_config.json + adapter_model.safetensors) as a llama.cpp
    GGUF adapter for the llama-architecture GGUF `base`: tensors `blk.N.<name>.weight.lora_a/_b`,
    `adapter.lora.alpha` so that llama.cpp scales by alpha / r exactly as peft does."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    try:
        config = json.loads((adapter / "adapter_config.json").read_text())
        tensors = load_file(str(adapter / "adapter_model.safetensors"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"gguf: cannot read the peft adapter in {adapter}: {exc}") from None
    unsupported = [name for name, bad in (
        ("peft_type other than LORA", config.get("peft_type") != "LORA"),
        ("use_dora", config.get("use_dora")), ("rank_pattern", config.get("rank_pattern")),
        ("alpha_pattern", config.get("alpha_pattern")), ("modules_to_save",
                                                         config.get("modules_to_save")),
        ("bias", config.get("bias", "none") != "none")) if bad]
    if unsupported:
        raise UsageError(f"gguf: adapter {adapter} uses {', '.join(unsupported)}, which the GGUF "
                         "conversion does not support")
    fields = gguf.GGUFReader(str(base)).fields

    def field(name: str) -> Any:
        return fields[name].contents() if name in fields else None

    arch = field("general.architecture")
    if arch != "llama":
        raise UsageError(f"gguf: LoRA adapters are converted for llama-architecture GGUF bases "
                         f"only; {base} is {arch!r}. Convert the adapter with llama.cpp's "
                         "convert_lora_to_gguf.py instead")
    n_head, n_head_kv = field("llama.attention.head_count"), field("llama.attention.head_count_kv")
    blocks = field("llama.block_count")
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, blocks)
    rank = config["r"]
    alpha = config["lora_alpha"] * (rank ** 0.5 if config.get("use_rslora") else 1.0)
    writer = gguf.GGUFWriter(str(out), arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    for key in sorted(tensors):
        if not key.endswith(".lora_A.weight"):
            continue
        module = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
        target = names.get_name(module)
        if target is None:
            raise UsageError(f"gguf: no llama.cpp tensor for adapter module {module!r}")
        a = tensors[key].astype(np.float32)
        b = tensors[key.replace(".lora_A.", ".lora_B.")].astype(np.float32)
        if target.endswith(".attn_q"):
            b = permute_rows(b, n_head)
        elif target.endswith(".attn_k"):
            b = permute_rows(b, n_head_kv)
        writer.add_tensor(f"{target}.weight.lora_a", np.ascontiguousarray(a))
        writer.add_tensor(f"{target}.weight.lora_b", np.ascontiguousarray(b))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def gguf_backend(name: str, n_threads: int | None = None, n_ctx: int = DEFAULT_N_CTX
                 ) -> GGUFBackend:
    """A quantized GGUF model in-process through llama.cpp (gguf/<path-to-.gguf>)."""
    require_llama_cpp()
    path = Path(name).expanduser()
    if not path.is_file():
        raise UsageError(f"gguf/{name}: no such model file {path}"
                         + (" (a folder; name the .gguf file in it)" if path.is_dir() else ""))
    check_gguf_file(path)
    return GGUFBackend(f"gguf/{name}", path, n_threads=n_threads, n_ctx=n_ctx)
