"""Strategy `lora`: fine-tune a LoRA adapter on the task's train split, then answer zero-shot.

Training examples are chat conversations: the system turn names the task and nothing more (no
instructions and no label list: the answer format and the labels are meant to end up in the
weights, and every prompt token is paid for in every training step and every answer), the user
turn is `task.format_input(sample)`, and the assistant turn `task.format_answer(sample)`. A
system turn is still sent because many chat templates insert a long default one without it. At
test time `requests()` sends exactly the same system and user turns, and the hf backend serves
the base model with the adapter merged (a GGUF model is trained through its transformers twin
and serves the converted adapter: `training_model`).

Adapters are cached by content under `<cache root>/adapters/<key>`, where the key hashes the base
model's identity, the rendered training data, every hyper-parameter, the seed and the training
format version. Training happens in `<key>.partial/` (checkpoints included) under a file lock and
is renamed into place only when complete, so a second run with the same key trains nothing and a
killed run resumes from its last checkpoint. The training record (see `training_facts`) is stored
beside the adapter as `training.json` and goes into the cell record's `prepare` field.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.cache import canonical_json
from harness.errors import UsageError
from harness.records import atomic_write
from harness.tasklib import seeded_subset
from harness.training import Example, TrainConfig, TrainingDiverged, TrainState, encode_example
from harness.types import (
    Backend,
    GenerationRequest,
    HasTrainingTwin,
    Message,
    ModelRole,
    PrepareContext,
    Prepared,
    Sample,
    ServesAdapters,
    Task,
    TrainingInfo,
)

# Bump when the rendering of training examples changes (messages, masking, truncation): old
# adapters then stop matching, because they were trained on a different format.
# 2: the system turn names the task instead of its instructions (64 -> 42 tokens a ticket, answer
# included).
FORMAT_VERSION = 2
MIN_TRAIN = 2
# LoRA on the MLP as well as the attention (the Llama-family names, as SmolLM2 and Qwen use):
# about 30% more CPU time per step than attention alone.
ALL_LINEAR = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"


def lora_messages(task: Task, sample: Sample) -> list[Message]:
    """System (the task's name) + user turn: the same at training and at test time."""
    return [{"role": "system", "content": f"Task: {task.name}"},
            {"role": "user", "content": task.format_input(sample)}]


def finetuned_requests(task: Task, samples: Sequence[Sample]
                       ) -> list[tuple[GenerationRequest, dict[str, Any]]]:
    """Zero-shot requests to a fine-tuned model: the training turns without the answer. Shared by
    `lora` and `hosted_ft`, so both train on and are asked exactly the same conversations."""
    max_tokens = task.answer_space.max_answer_tokens
    return [(GenerationRequest(tuple(lora_messages(task, s)), max_tokens), {}) for s in samples]


def select_train(task: Task, train_size: int | None, seed: int,
                 strategy: str = "lora") -> list[Sample]:
    """The train subset to fit: all of it, or a seeded random `train_size` kept in split order."""
    train = list(task.splits.get("train", []))
    if len(train) < MIN_TRAIN:
        raise UsageError(f"{strategy}: task {task.name!r} has {len(train)} sample(s) in its 'train' "
                         f"split; fine-tuning needs at least {MIN_TRAIN}")
    return seeded_subset(train, train_size, seed)


def train_size_notes(task: Task, train_size: int | None) -> list[str]:
    """A train_size above what the train split holds trains on all of it: say so before the run."""
    n = len(task.splits.get("train", []))
    if train_size is not None and train_size > n:
        return [f"train_size={train_size} is above the {n} train samples of {task.name}; "
                f"training on all {n}"]
    return []


def data_sha256(task: Task, samples: Sequence[Sample]) -> str:
    """Hash of what training actually sees: ids, rendered messages and answers, in order."""
    digest = hashlib.sha256()
    for s in samples:
        digest.update(canonical_json([s.id, lora_messages(task, s), task.format_answer(s)])
                      .encode())
        digest.update(b"\n")
    return digest.hexdigest()


def adapter_key(identity: dict[str, Any], data_hash: str, config: TrainConfig,
                max_seq_len: int | None, train_dtype: str) -> str:
    """Content key of an adapter. Not in it: save_every and the $/hour (they change no weight)."""
    payload = {"format": FORMAT_VERSION, "base": identity, "data": data_hash,
               "config": asdict(config), "max_seq_len": max_seq_len, "train_dtype": train_dtype}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:24]


def answer_suffix(tok: Any, messages: list[Message], prompt: str, answer: str) -> str:
    """The assistant turn's text after the rendered prompt, up to and including end-of-turn.

    Taken from the chat template itself (prompt + answer rendered, minus the prompt), so the
    target ends with the exact token that stops generation; text after it (a newline) is dropped.
    """
    if tok.chat_template:
        full = tok.apply_chat_template(messages + [{"role": "assistant", "content": answer}],
                                       tokenize=False)
        if not full.startswith(prompt):
            raise UsageError("lora: the model's chat template renders the assistant turn in a way "
                             "that does not extend the generation prompt; cannot mask the prompt")
        suffix = full[len(prompt):]
    else:
        suffix = f" {answer}{tok.eos_token or ''}"
    eos = tok.eos_token
    if eos and eos in suffix:
        suffix = suffix[:suffix.index(eos) + len(eos)]
    return suffix


def tokenize_examples(task: Task, samples: Sequence[Sample], render: Any, tok: Any,
                      max_seq_len: int | None, context: int) -> tuple[list[Example], int]:
    """Token ids and loss labels per sample, and the sequence length used.

    `render(messages)` is the hf backend's own prompt rendering, so training prompts are
    token-for-token what the backend sends at test time. Without `max_seq_len`, the length is the
    longest example (capped by the model's context).
    """
    prompts, answers = [], []
    for s in samples:
        messages = lora_messages(task, s)
        prompt = render(messages)
        prompts.append(prompt)
        answers.append(answer_suffix(tok, messages, prompt, task.format_answer(s)))
    prompt_ids = tok(prompts, add_special_tokens=False)["input_ids"]
    answer_ids = tok(answers, add_special_tokens=False)["input_ids"]
    longest = max(len(p) + len(a) for p, a in zip(prompt_ids, answer_ids, strict=True))
    seq_len = min(max_seq_len or longest, context)
    return [encode_example(p, a, seq_len)
            for p, a in zip(prompt_ids, answer_ids, strict=True)], seq_len


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@dataclass
class LoraStrategy:
    """The `lora` strategy. `train` holds the hyper-parameters; its seed is the cell's, set in
    `prepare`. The other fields change no weight (subset size aside, which changes the data)."""

    train: TrainConfig
    train_size: int | None
    save_every: int
    max_seq_len: int | None
    train_model: str | None = None
    name: str = "lora"
    model_role: ModelRole = ModelRole.SMALL_MODEL  # runs on --small-model, not --model
    own_model: str | None = None
    adapter_dir: Path | None = field(default=None, init=False)

    def config(self, seed: int) -> TrainConfig:
        return replace(self.train, seed=seed)

    def prepare(self, task: Task, backend: Backend, ctx: PrepareContext) -> Prepared:
        if not isinstance(backend, ServesAdapters):
            raise UsageError(f"lora: {backend.spec} cannot serve a LoRA adapter; use an hf/, "
                             "local/ or gguf/ model")
        trainer = training_model(backend, self.train_model)
        samples = select_train(task, self.train_size, ctx.seed)
        config = self.config(ctx.seed)
        key = adapter_key(trainer.identity(), data_sha256(task, samples), config,
                          self.max_seq_len, train_dtype(trainer))
        root = ctx.cache("adapters")
        final = root / key
        record, cache_hit = read_training(final), True
        if record is None:
            record, cache_hit = self._train_locked(task, trainer, samples, config, root, key)
        self.adapter_dir = final
        usd, basis = ctx.hardware.price(record.get("cpu_seconds"), record["wall_seconds"])
        training = TrainingInfo(
            kind="lora adapter", artifact=f"+ LoRA {key[:8]}", **record, cache_hit=cache_hit,
            adapter_key=key, adapter_dir=str(final), trained_model=trainer.spec,
            train_size_requested=self.train_size, hardware_usd_per_hour=ctx.hardware_usd_per_hour,
            training_cost_usd=round(usd, 6), cost_basis=basis)
        return Prepared(backend.with_adapter(final), training=training,
                        labelled_examples=training.train_examples)

    def _train_locked(self, task: Task, backend: Any, samples: list[Sample], config: TrainConfig,
                      root: Path, key: str) -> tuple[dict[str, Any], bool]:
        """Train under a per-key file lock: (record, cache_hit). Another process holding the lock
        may have finished the same adapter meanwhile; then it is a cache hit."""
        from filelock import FileLock

        root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(root / f"{key}.lock")):
            done = read_training(root / key)
            if done is not None:
                return done, True
            work = root / f"{key}.partial"
            work.mkdir(exist_ok=True)
            try:
                record = train_adapter(task, backend, samples, config, self.max_seq_len,
                                       self.save_every, work)
            except TrainingDiverged:  # its checkpoints would only resume into the same NaN
                shutil.rmtree(work, ignore_errors=True)
                raise
            publish(work, root / key, record)
            return record, False

    def requests(self, task: Task, samples: Sequence[Sample]
                 ) -> list[tuple[GenerationRequest, dict[str, Any]]]:
        return finetuned_requests(task, samples)

    def plan_notes(self, task: Task) -> list[str]:
        return train_size_notes(task, self.train_size)


def training_model(backend: Backend, train_model: str | None) -> Any:
    """The transformers model that peft trains: the evaluated model itself, or, when that is a
    GGUF file (which peft cannot train), the same weights in transformers form. The adapter is then
    converted to GGUF and served on the quantized file, so `lora` rows on `local/<m>` and
    `local/<m>-q4` share one trained adapter and differ only in the runtime that serves it."""
    from harness.backends.gguf import GGUFBackend
    from harness.backends.hf import HFBackend, hf
    from harness.backends.local import local

    if train_model is not None:
        if not isinstance(backend, GGUFBackend):
            raise UsageError(f"lora: train_model is for GGUF models (gguf/..., local/...-q4); "
                             f"{backend.spec} is trained as it is")
        prefix, _, name = train_model.partition("/")
        factories = {"hf": hf, "local": local}
        if prefix not in factories or not name:
            raise UsageError(f"lora: train_model must be hf/<hub id or folder> or local/<alias>, "
                             f"got {train_model!r}")
        trainer = factories[prefix](name)
    elif isinstance(backend, HasTrainingTwin):
        trainer = backend.training_twin()
        if trainer is None:
            raise UsageError(f"lora: {backend.spec} is a quantized GGUF file, which peft cannot "
                             f"train; name the same model's transformers weights with "
                             f"--strategy-arg lora.train_model=hf/<hub id or folder>")
    else:
        trainer = backend
    if not isinstance(trainer, HFBackend):
        raise UsageError(f"lora: needs an in-process transformers model (hf/... or local/...) "
                         f"to train, got {trainer.spec!r}")
    return trainer


def train_dtype(backend: Any) -> str:
    """What training computes in: bf16 on a CUDA GPU that has it, else the backend's dtype."""
    import torch

    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return backend.dtype


def read_training(adapter: Path) -> dict[str, Any] | None:
    """The stored training record of a complete adapter folder, or None when there is none."""
    path = adapter / "training.json"
    if not (adapter / "adapter_config.json").exists() or not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def publish(work: Path, final: Path, record: dict[str, Any]) -> None:
    """Move the finished adapter from the work dir into place (one rename), then drop the work dir."""
    staged = work / "final"
    atomic_write(staged / "training.json", json.dumps(record, indent=2) + "\n")
    if final.exists():  # an incomplete folder (no training.json): not ours to keep
        shutil.rmtree(final)
    staged.rename(final)
    shutil.rmtree(work, ignore_errors=True)


def train_adapter(task: Task, backend: Any, samples: list[Sample], config: TrainConfig,
                  max_seq_len: int | None, save_every: int, work: Path) -> dict[str, Any]:
    """Load a fresh copy of the base model, train, save the adapter to `work/final`; the record."""
    import torch
    from rich.progress import TextColumn

    from harness.backends.hf import HFBackend
    from harness.compute import peak_rss_bytes
    from harness.progress import progress_bar
    from harness.training import is_out_of_memory, oom_error, train

    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise UsageError("lora: needs peft; pip install 'rvf[lora]'") from None
    # A private backend object: its model gets LoRA layers injected, the caller's must not.
    base = HFBackend(backend.spec, backend.path, backend.dtype)
    model, tok = base.load()
    context = getattr(model.config, "max_position_embeddings", None) or 10**9
    render = lambda messages: base.render(GenerationRequest(tuple(messages), 0))  # noqa: E731
    examples, seq_len = tokenize_examples(task, samples, render, tok, max_seq_len, context)
    torch.manual_seed(config.seed)  # LoRA init
    model = get_peft_model(model, LoraConfig(
        r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout,
        target_modules=list(config.target_modules), task_type="CAUSAL_LM"))
    trainable, total = model.get_nb_trainable_parameters()
    dtype = train_dtype(backend)
    try:
        with progress_bar(f"lora train {task.name}", None,
                          TextColumn("steps  loss {task.fields[loss]}"), loss="-") as update:
            state = train(model, examples, config, tok.pad_token_id, work, save_every, dtype,
                          lambda step, total, loss: update(
                              completed=step, total=total,
                              loss="-" if loss is None else f"{loss:.4f}"))
    except Exception as exc:
        if is_out_of_memory(exc):
            raise oom_error(config, seq_len, exc) from exc
        raise
    model.save_pretrained(work / "final")
    return training_facts(backend, model, state, examples, seq_len, trainable, total, dtype,
                          work / "final", peak_rss_bytes())


def training_facts(backend: Any, model: Any, state: TrainState, examples: Sequence[Example],
                   seq_len: int, trainable: int, total: int, dtype: str, adapter: Path,
                   peak_rss: int) -> dict[str, Any]:
    """The training record (JSON-serialisable) stored with the adapter and in the cell record."""
    device = next(model.parameters()).device.type
    return {
        "base_model": backend.spec, "trainable_params": trainable, "total_params": total,
        "train_examples": len(examples), "examples_seen": state.examples_seen,
        "steps": state.step, "epochs": round(state.examples_seen / len(examples), 4),
        "wall_seconds": round(state.wall_seconds, 3), "cpu_seconds": round(state.cpu_seconds, 3),
        "tokens_trained": state.tokens_trained,
        "peak_rss_bytes": peak_rss, "loss_curve": state.loss_curve,
        "final_train_loss": state.loss_curve[-1]["loss"] if state.loss_curve else None,
        "device": device, "dtype": dtype, "max_seq_len": seq_len,
        "truncated_examples": sum(ex.truncated for ex in examples),
        "adapter_size_bytes": dir_size(adapter), "resumed_from_step": state.resumed_from_step,
        "skipped_steps": state.skipped_steps,
    }


def lora(r: int = 16, alpha: int = 32, dropout: float = 0.0,
         target_modules: str = ALL_LINEAR, learning_rate: float = 1e-3,
         epochs: float = 2.0, max_steps: int | None = None, batch_size: int = 32,
         grad_accum: int = 1, train_size: int | None = None, save_every: int = 50,
         max_seq_len: int | None = None, train_model: str | None = None) -> LoraStrategy:
    """LoRA fine-tune of the model on train (cached adapter), then zero-shot answers.

    train_size: a seeded random subset of train (None, or more than train holds = all of it).
    Steps: `epochs` passes over it, capped at `max_steps` (None = no cap). The defaults: r=16 on
    every linear layer of the attention and the MLP, no LoRA dropout (on a CPU, drawing its masks
    took 30% of the step time: 1.47 s against 1.03 s a step of 8), lr 1e-3, batch 32 (under the
    passive OpenMP waits rvf prices CPU time with, a batch of 8 left the second core idle much of
    the time: 4.9 tickets/s against 8.0), 2 epochs (`python bench/lora_step.py`; the Banking77
    figures of these defaults are in results/banking77/README.md). A batch wider than 4,096
    padded tokens is run in chunks with the same gradient, so memory follows tokens (32 clinical
    notes of 300 tokens took 18 GiB in one piece).
    max_seq_len: None = the longest training example. save_every: checkpoint every N optimizer
    steps (0 = never; a killed run resumes from the last one). Training is priced at the run's
    hardware rate (training_cost_usd).
    train_model: for a GGUF model only, the transformers weights to train (hf/<id or folder>);
    None = the bundled twin of a local/...-q4 alias. The adapter is served on the GGUF file.
    """
    modules = tuple(m.strip() for m in target_modules.split(",") if m.strip())
    checks = [(r >= 1, f"r must be >= 1, got {r}"), (alpha >= 1, f"alpha must be >= 1, got {alpha}"),
              (0 <= dropout < 1, f"dropout must be in [0, 1), got {dropout}"),
              (bool(modules), "target_modules must name at least one module"),
              (math.isfinite(learning_rate) and learning_rate > 0,
               f"learning_rate must be a finite number > 0, got {learning_rate}"),
              (epochs > 0, f"epochs must be > 0, got {epochs}"),
              (max_steps is None or max_steps >= 1, f"max_steps must be >= 1, got {max_steps}"),
              (batch_size >= 1, f"batch_size must be >= 1, got {batch_size}"),
              (grad_accum >= 1, f"grad_accum must be >= 1, got {grad_accum}"),
              (train_size is None or train_size >= MIN_TRAIN,
               f"train_size must be >= {MIN_TRAIN} (or none for all), got {train_size}"),
              (save_every >= 0, f"save_every must be >= 0 (0 = never), got {save_every}"),
              (max_seq_len is None or max_seq_len >= 2, f"max_seq_len must be >= 2, got "
                                                         f"{max_seq_len}")]
    for ok, message in checks:
        if not ok:
            raise UsageError(f"lora: {message}")
    train = TrainConfig(r=r, alpha=alpha, dropout=dropout, target_modules=modules,
                        learning_rate=learning_rate, epochs=epochs, max_steps=max_steps,
                        batch_size=batch_size, grad_accum=grad_accum, seed=0)
    return LoraStrategy(train=train, train_size=train_size, save_every=save_every,
                        max_seq_len=max_seq_len, train_model=train_model)
