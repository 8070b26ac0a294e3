"""The LoRA training loop behind the `lora` strategy: supervised fine-tuning on chat examples.

A plain torch loop (AdamW, linear warmup and decay, gradient clipping) over a peft model, because
it is short enough to read and its state is easy to checkpoint exactly. What it knows about:

- *Examples* are already tokenized: prompt ids (the rendered chat up to the assistant turn, exactly
  what the hf backend will send at test time) and answer ids (the assistant reply up to and
  including the end-of-turn token). Loss is on the answer tokens only.
- *Batches* are left-padded, with position ids that skip the padding. The 49k-wide output
  projection runs only on the positions that predict an answer token. Examples are grouped by
  length so padding stays small.
- *Memory* follows tokens, not batch size: a batch wider than MAX_BATCH_TOKENS padded tokens is
  backpropagated in chunks, each weighted by its share of the answer tokens (the same gradient).
- *Divergence* stops the run: a NaN loss, or non-finite gradients several steps in a row, fail
  it naming the step, before any adapter is saved.
- *The data order* is a pure function of (seed, epoch), so a resumed run does not need to store it:
  optimizer step `s` always consumes micro-batches `s * grad_accum ...` of the same stream.
- *Checkpoints* (`ckpt-<step>/` in the work dir, named by the `latest` file) hold the adapter,
  optimizer, scheduler, RNG state, counters and loss curve. Resuming from one continues the same
  run: with the same seed, an interrupted and an uninterrupted training give the same adapter.
"""

from __future__ import annotations

import math
import random
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import RvfError
from harness.records import atomic_write

IGNORE = -100  # label value that cross-entropy skips: prompt and padding positions
MEGABATCH = 32  # batches per length-sorted group: little padding, still a shuffled order
MAX_BATCH_TOKENS = 4096  # padded tokens per forward pass; a larger batch is run in chunks
LATEST = "latest"  # file in the work dir naming the newest complete checkpoint
MAX_BAD_STEPS_IN_A_ROW = 3  # non-finite gradients in a row that mean divergence, not a bad batch


@dataclass(frozen=True)
class TrainConfig:
    """Everything that changes the trained weights (and so belongs in the adapter cache key)."""

    r: int
    alpha: int
    dropout: float
    target_modules: tuple[str, ...]
    learning_rate: float
    epochs: float
    max_steps: int | None
    batch_size: int
    grad_accum: int
    seed: int
    warmup_fraction: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0


@dataclass(frozen=True)
class Example:
    """One training example as token ids; `labels` is IGNORE on the prompt, the ids on the answer."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    truncated: bool = False


def encode_example(prompt_ids: Sequence[int], answer_ids: Sequence[int],
                   max_seq_len: int) -> Example:
    """Prompt + answer, cut to `max_seq_len` from the left of the prompt.

    The left end goes first because the hf backend does the same to an over-long prompt at test
    time (the question sits at the end). The answer is only cut (from its right) when it alone does
    not fit next to one prompt token.
    """
    answer = list(answer_ids)[:max(1, max_seq_len - 1)]
    room = max_seq_len - len(answer)
    prompt = list(prompt_ids)[-room:] if room > 0 else []
    truncated = len(prompt) < len(prompt_ids) or len(answer) < len(answer_ids)
    return Example(tuple(prompt + answer), tuple([IGNORE] * len(prompt) + answer), truncated)


def collate(batch: Sequence[Example], pad_id: int) -> dict[str, Any]:
    """Left-pad a batch to its longest example.

    Returns input ids, attention mask, position ids that skip the padding (as the hf backend's
    decoding does), and labels with IGNORE on prompt and padding.
    """
    import torch

    width = max(len(ex.input_ids) for ex in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ex in enumerate(batch):
        n = len(ex.input_ids)
        input_ids[row, width - n:] = torch.tensor(ex.input_ids)
        labels[row, width - n:] = torch.tensor(ex.labels)
        mask[row, width - n:] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return {"input_ids": input_ids, "attention_mask": mask, "position_ids": positions,
            "labels": labels}


def answer_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Mean cross-entropy over the answer tokens, with logits only where a row predicts one.

    The output layer (576 x 49k in SmolLM2) costs as much per position as a fifth of the model:
    run over every position, or over the last positions of all rows, it took about 15% of a
    training step on a 2-core CPU. The hidden state at position t predicts token t+1, so the
    positions that need logits are those whose next label is not IGNORE."""
    import torch.nn.functional as F

    hidden = model.get_decoder()(input_ids=batch["input_ids"],
                                 attention_mask=batch["attention_mask"],
                                 position_ids=batch["position_ids"], use_cache=False
                                 ).last_hidden_state
    targets = batch["labels"][:, 1:]
    predicts = targets != IGNORE
    logits = model.get_output_embeddings()(hidden[:, :-1][predicts]).float()
    return F.cross_entropy(logits, targets[predicts])


def token_chunks(batch: Sequence[Example], max_tokens: int) -> list[list[Example]]:
    """Cut a batch into consecutive chunks whose padded size (rows x longest row) stays within
    `max_tokens`, so memory follows tokens, not batch_size x the longest example (a batch of 32
    clinical notes of 300 tokens took 18 GiB in one piece). One row is never cut."""
    chunks: list[list[Example]] = []
    width = 0  # the longest row of the last chunk
    for ex in batch:
        wider = max(width, len(ex.input_ids))
        if chunks and (len(chunks[-1]) + 1) * wider <= max_tokens:
            chunks[-1].append(ex)
            width = wider
        else:
            chunks.append([ex])
            width = len(ex.input_ids)
    return chunks


def backward_batch(model: Any, batch: Sequence[Example], pad_id: int, device: str, autocast: Any,
                   scale: float) -> float:
    """Backpropagate `scale` x the batch's mean answer-token loss, chunk by chunk (token_chunks):
    each chunk's mean is weighted by its share of the batch's answer tokens, so the gradient is
    the whole batch's. Returns the batch's mean loss (NaN when the loss was not finite)."""
    import torch

    answers = [sum(1 for t in ex.labels if t != IGNORE) for ex in batch]
    total, loss_sum = sum(answers), 0.0
    start = 0
    for chunk in token_chunks(batch, MAX_BATCH_TOKENS):
        share = sum(answers[start:start + len(chunk)]) / total
        start += len(chunk)
        tensors = {k: v.to(device) if hasattr(v, "to") else v
                   for k, v in collate(chunk, pad_id).items()}
        with autocast:
            loss = answer_loss(model, tensors)
        if not torch.isfinite(loss):
            return float("nan")
        (loss * share * scale).backward()
        loss_sum += float(loss.detach()) * share
    return loss_sum


def epoch_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """One epoch's micro-batches: shuffled, length-sorted within groups of MEGABATCH batches.

    Sorting only inside groups keeps padding small without making the batch order follow length
    (which would correlate the learning-rate schedule with example length).
    """
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    group = batch_size * MEGABATCH
    for start in range(0, len(order), group):
        chunk = sorted(order[start:start + group], key=lambda i: -lengths[i])
        batches += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def batch_stream(lengths: Sequence[int], batch_size: int, seed: int,
                 skip: int = 0) -> Iterator[list[int]]:
    """Micro-batches across epochs, forever, starting after the first `skip` (for resuming)."""
    per_epoch = math.ceil(len(lengths) / batch_size)
    epoch, offset = divmod(skip, per_epoch)
    while True:
        yield from epoch_batches(lengths, batch_size, seed, epoch)[offset:]
        epoch, offset = epoch + 1, 0


def total_steps(n_examples: int, config: TrainConfig) -> int:
    """Optimizer steps: enough for `epochs` passes (at least one step), capped by `max_steps`.

    A cap rather than an override: with both set, a small train subset gets its full epochs and a
    large one stops at the compute budget, which is what a learning-curve sweep over train_size
    wants. Setting a large `epochs` makes `max_steps` the exact step count.
    """
    per_epoch = math.ceil(n_examples / config.batch_size)
    steps = max(1, math.ceil(config.epochs * per_epoch / config.grad_accum))
    return steps if config.max_steps is None else min(steps, config.max_steps)


def linear_schedule(warmup: int, total: int) -> Callable[[int], float]:
    """Learning-rate factor: linear warmup to 1 over `warmup` steps, then linear decay to 0."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))
    return factor


@dataclass
class TrainState:
    """Counters and curve that a checkpoint carries besides the tensors."""

    step: int = 0
    examples_seen: int = 0
    tokens_trained: int = 0
    wall_seconds: float = 0.0  # training time summed over runs, up to the last checkpoint/end
    cpu_seconds: float = 0.0  # process CPU time, summed the same way (what training is priced by)
    loss_curve: list[dict[str, float]] = field(default_factory=list)
    resumed_from_step: int | None = None
    skipped_steps: int = 0  # optimizer steps dropped because the gradient was not finite


def device_and_autocast(dtype: str) -> tuple[str, Any]:
    """Train on the GPU when there is one (bf16 autocast when it supports it); else on the CPU,
    with bf16 autocast only when `dtype` asks for it (the hf backend resolves `auto` to bf16 only
    on CPUs with native bf16 units: elsewhere bf16 is several times slower than fp32)."""
    import torch

    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        return "cuda", torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16)
    return "cpu", torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16")


def save_checkpoint(work: Path, model: Any, optimizer: Any, scheduler: Any,
                    state: TrainState) -> Path:
    """Write `ckpt-<step>/`, then point `latest` at it, then drop older checkpoints.

    A kill at any moment leaves `latest` naming a complete checkpoint (or no `latest` at all).
    """
    import torch

    ckpt = work / f"ckpt-{state.step}"
    if ckpt.exists():
        shutil.rmtree(ckpt)
    model.save_pretrained(ckpt)
    rng = {"torch": torch.get_rng_state(),
           "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": rng, "state": asdict(state)}, ckpt / "trainer_state.pt")
    atomic_write(work / LATEST, ckpt.name)
    for old in work.glob("ckpt-*"):
        if old != ckpt:
            shutil.rmtree(old, ignore_errors=True)
    return ckpt


def load_checkpoint(work: Path, model: Any, optimizer: Any, scheduler: Any) -> TrainState | None:
    """Restore the newest complete checkpoint into model/optimizer/scheduler/RNG; None if none."""
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    pointer = work / LATEST
    if not pointer.exists():
        return None
    ckpt = work / pointer.read_text().strip()
    set_peft_model_state_dict(model, load_file(str(ckpt / "adapter_model.safetensors")))
    saved = torch.load(ckpt / "trainer_state.pt", weights_only=False)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["rng"]["torch"])
    if saved["rng"]["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["rng"]["cuda"])
    state = TrainState(**saved["state"])
    state.resumed_from_step = state.step
    return state


class TrainingDiverged(RvfError):
    """The weights have diverged: the loss went NaN or infinite, or the gradient was not finite
    MAX_BAD_STEPS_IN_A_ROW steps in a row (a single non-finite gradient is one bad batch: that
    step is skipped and counted instead)."""

    def __init__(self, step: int, steps: int, what: str, learning_rate: float) -> None:
        super().__init__(
            f"lora: training diverged at optimizer step {step} of {steps}: {what} "
            f"(learning_rate={learning_rate:g}); no adapter was saved. Try a lower "
            f"--strategy-arg lora.learning_rate=...")
        self.step = step


def is_out_of_memory(exc: BaseException) -> bool:
    """torch reports OOM as OutOfMemoryError on CUDA, as a RuntimeError from the CPU allocator."""
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError) and ("out of memory" in text
                                           or "can't allocate memory" in text))


def oom_error(config: TrainConfig, max_seq_len: int, exc: BaseException) -> RvfError:
    """An out-of-memory error that says which knobs to turn."""
    smaller = max(1, config.batch_size // 2)
    return RvfError(
        f"lora: out of memory while training with batch_size={config.batch_size} and sequences "
        f"up to {max_seq_len} tokens ({str(exc).splitlines()[0][:200]}). Try "
        f"--strategy-arg batch_size={smaller} grad_accum={config.grad_accum * 2} (same effective "
        f"batch), or a smaller max_seq_len=... (prompts are cut from the left).")


def train(model: Any, examples: Sequence[Example], config: TrainConfig, pad_id: int, work: Path,
          save_every: int, dtype: str,
          progress: Callable[[int, int, float | None], None] = lambda step, total, loss: None
          ) -> TrainState:
    """Train the peft `model` in place; checkpoint into `work`; resume from it when one is there.

    `progress(step, total, loss)` is called after every optimizer step. Returns the final state
    (the model then holds the trained adapter).
    """

    device, autocast = device_and_autocast(dtype)
    with attention_for_training(device):
        return _train(model, examples, config, pad_id, work, save_every, device, autocast, progress)


def attention_for_training(device: str) -> Any:
    """On CUDA, keep scaled-dot-product attention off cuDNN: its bf16 backward returned NaN
    gradients for left-padded batches on an H100 (step 222 of a 600-step ticket run), while the
    flash, memory-efficient and math kernels train cleanly."""
    import contextlib

    if device != "cuda":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                        SDPBackend.MATH])


def _train(model: Any, examples: Sequence[Example], config: TrainConfig, pad_id: int, work: Path,
           save_every: int, device: str, autocast: Any,
           progress: Callable[[int, int, float | None], None]) -> TrainState:
    import torch

    model.to(device)
    model.train()
    steps = total_steps(len(examples), config)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    warmup = math.ceil(config.warmup_fraction * steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(warmup, steps))
    state = load_checkpoint(work, model, optimizer, scheduler) or TrainState()
    log_every = max(1, steps // 100)
    lengths = [len(ex.input_ids) for ex in examples]
    stream = batch_stream(lengths, config.batch_size, config.seed, skip=state.step * config.grad_accum)
    window_loss, window_steps, bad_in_a_row = 0.0, 0, 0
    began = time.perf_counter() - state.wall_seconds
    began_cpu = time.process_time() - state.cpu_seconds
    progress(state.step, steps, state.loss_curve[-1]["loss"] if state.loss_curve else None)
    while state.step < steps:
        step_loss = 0.0
        for _ in range(config.grad_accum):
            batch = [examples[i] for i in next(stream)]
            loss = backward_batch(model, batch, pad_id, device, autocast, 1 / config.grad_accum)
            if not math.isfinite(loss):
                raise TrainingDiverged(state.step + 1, steps, f"the loss was {loss}",
                                       config.learning_rate)
            step_loss += loss / config.grad_accum
            state.examples_seen += len(batch)
            state.tokens_trained += sum(len(ex.input_ids) for ex in batch)
        norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        if torch.isfinite(norm):
            optimizer.step()
            bad_in_a_row = 0
        else:  # one bad batch must not turn every adapter weight into NaN
            state.skipped_steps += 1
            bad_in_a_row += 1
            if bad_in_a_row >= MAX_BAD_STEPS_IN_A_ROW:
                raise TrainingDiverged(state.step + 1, steps, f"the gradient was not finite "
                                       f"{bad_in_a_row} steps in a row", config.learning_rate)
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1
        window_loss, window_steps = window_loss + step_loss, window_steps + 1
        if state.step % log_every == 0 or state.step == steps:
            state.loss_curve.append({"step": state.step,
                                     "loss": round(window_loss / window_steps, 5)})
            window_loss, window_steps = 0.0, 0
        state.wall_seconds = time.perf_counter() - began
        state.cpu_seconds = time.process_time() - began_cpu
        if save_every and state.step % save_every == 0 and state.step < steps:
            save_checkpoint(work, model, optimizer, scheduler, state)
        progress(state.step, steps, state.loss_curve[-1]["loss"] if state.loss_curve else None)
    return state
