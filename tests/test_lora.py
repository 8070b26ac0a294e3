"""The lora strategy with real peft training of the bundled SmolLM2 on a tiny handmade task.

Runs are a few optimizer steps on 16 short samples, so the whole file stays around a minute on a
2-core CPU. Resume is tested the honest way: a subprocess is SIGKILLed right after it writes its
first checkpoint, and the re-run must continue from there and end with the same adapter as an
uninterrupted run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from harness.compute import machine_cores
from harness.errors import RvfError, UsageError
from harness.strategies.lora import LoraStrategy, lora, lora_messages
from harness.tasklib import classification_task
from harness.training import (
    IGNORE,
    Example,
    TrainingDiverged,
    answer_loss,
    collate,
    encode_example,
    is_out_of_memory,
)
from harness.types import PrepareContext, Sample

ROOT = Path(__file__).resolve().parents[1]
ARGS = dict(r=4, alpha=8, max_steps=4, batch_size=2, save_every=2, learning_rate=1e-3)

TEXTS = {
    "billing": ["I was charged twice this month", "Refund my last invoice please",
                "Why is my bill higher?", "The payment failed on my card",
                "Cancel the extra charge", "Wrong amount on my receipt"],
    "shipping": ["My box has not arrived", "Where is my parcel?", "Delivery came late again",
                 "The courier lost my order", "Change my delivery address",
                 "Package was left outside"],
    "login": ["I cannot sign in", "Password reset link is broken", "My account is locked",
              "Two-factor code never comes"],
}


def tiny_task(n_train: int | None = None):
    """16 train samples over 3 labels (imported by the resume subprocess too)."""
    train = [Sample(f"t{i:02d}", text, label)
             for i, (label, text) in enumerate((lb, t) for lb, ts in TEXTS.items() for t in ts)]
    test = [Sample("q0", "I was billed twice", "billing"), Sample("q1", "Parcel missing", "shipping")]
    # One train sample leaves a test label unseen: allowed here, to reach lora's own check.
    return classification_task("tiny_support", "1", train[:n_train] if n_train else train, test,
                               what="support message", allow_unseen_labels=n_train is not None)


def prepare(backend, seed: int = 0, **overrides):
    strategy = lora(**{**ARGS, **overrides})
    began = time.perf_counter()
    prepared = strategy.prepare(tiny_task(), backend, PrepareContext(seed=seed))
    return strategy, prepared, time.perf_counter() - began


@pytest.fixture(scope="module")
def trained(smol):
    return prepare(smol)


def test_trains_a_peft_adapter_and_records_it(trained, smol):
    strategy, prepared, _ = trained
    adapter = strategy.adapter_dir
    assert (adapter / "adapter_config.json").exists()
    assert (adapter / "adapter_model.safetensors").exists()
    assert not adapter.with_name(adapter.name + ".partial").exists()  # work dir cleaned up
    facts = prepared.training.model_dump()
    assert facts["cache_hit"] is False and facts["resumed_from_step"] is None
    assert facts["steps"] == 4 and facts["examples_seen"] == 8
    assert 0 < facts["trainable_params"] < facts["total_params"]
    assert [p["step"] for p in facts["loss_curve"]] == [1, 2, 3, 4]
    assert all(p["loss"] > 0 for p in facts["loss_curve"])
    assert facts["final_train_loss"] == facts["loss_curve"][-1]["loss"]
    assert facts["base_model"] == "local/smollm2-135m-instruct"
    assert facts["device"] == "cpu" and facts["dtype"] == "fp32"
    assert facts["tokens_trained"] > 0 and facts["peak_rss_bytes"] > 100e6
    assert facts["adapter_size_bytes"] > 0 and facts["truncated_examples"] == 0
    # Priced by process CPU time at the default $0.10/h shared by this machine's cores.
    assert 0 < facts["cpu_seconds"] and facts["cost_basis"].startswith("CPU ")
    assert facts["training_cost_usd"] == pytest.approx(
        facts["cpu_seconds"] / 3600 * 0.10 / machine_cores(), abs=1e-6)
    assert prepared.labelled_examples == facts["train_examples"] > 0
    # the adapted backend: same model spec, the adapter in its identity
    assert prepared.backend.adapter == adapter
    assert "adapter" in prepared.backend.identity()
    assert prepared.backend.identity()["weights"] == smol.identity()["weights"]


def test_requests_send_the_training_messages(trained):
    strategy, _, _ = trained
    task = tiny_task()
    (request, extra), = strategy.requests(task, task.splits["test"][:1])
    assert list(request.messages) == lora_messages(task, task.splits["test"][0])
    assert [m["role"] for m in request.messages] == ["system", "user"]
    # The task's name only: no instructions, no label list, no few-shot (every token is paid in
    # every training step and every answer).
    assert request.messages[0]["content"] == "Task: tiny_support"
    assert request.max_new_tokens == task.answer_space.max_answer_tokens


def test_adapted_backend_generates(trained):
    strategy, prepared, _ = trained
    task = tiny_task()
    gens = dict(prepared.backend.generate([r for r, _ in strategy.requests(task,
                                                                         task.splits["test"])]))
    assert len(gens) == 2 and all(g.error is None for g in gens.values())


def test_second_prepare_is_a_cache_hit(trained, smol):
    first_strategy, first, _ = trained
    strategy, prepared, seconds = prepare(smol)
    facts = prepared.training.model_dump()
    assert facts["cache_hit"] is True
    assert strategy.adapter_dir == first_strategy.adapter_dir
    assert facts["wall_seconds"] == first.training.model_dump()["wall_seconds"]  # nothing retrained
    assert seconds < 5


def test_other_hyper_parameters_or_seed_mean_another_adapter(smol):
    from harness.strategies.lora import adapter_key, data_sha256

    task = tiny_task()
    base = lora(**ARGS)
    data = data_sha256(task, task.splits["train"])
    keys = {adapter_key(smol.identity(), data, s.config(seed), s.max_seq_len, "fp32")
            for s, seed in [(base, 0), (base, 1), (lora(**{**ARGS, "r": 8}), 0),
                            (lora(**{**ARGS, "learning_rate": 2e-3}), 0)]}
    assert len(keys) == 4
    # what changes no weight does not change the key
    cheap = lora(**{**ARGS, "save_every": 7})
    assert adapter_key(smol.identity(), data, cheap.config(0), None, "fp32") == \
        adapter_key(smol.identity(), data, base.config(0), None, "fp32")


def test_collate_masks_prompt_and_padding():
    short = encode_example([1, 2, 3], [7, 8], max_seq_len=64)
    long = encode_example([4, 5, 6, 9, 9], [7, 8, 10], max_seq_len=64)
    batch = collate([short, long], pad_id=0)
    assert batch["input_ids"].tolist() == [[0, 0, 0, 1, 2, 3, 7, 8], [4, 5, 6, 9, 9, 7, 8, 10]]
    assert batch["labels"].tolist() == [[IGNORE] * 6 + [7, 8], [IGNORE] * 5 + [7, 8, 10]]
    assert batch["attention_mask"].tolist() == [[0, 0, 0, 1, 1, 1, 1, 1], [1] * 8]
    assert batch["position_ids"].tolist() == [[0, 0, 0, 0, 1, 2, 3, 4], list(range(8))]


def test_truncation_cuts_the_prompt_from_the_left():
    ex = encode_example([1, 2, 3, 4, 5], [7, 8], max_seq_len=4)
    assert ex == Example((4, 5, 7, 8), (IGNORE, IGNORE, 7, 8), truncated=True)
    assert not encode_example([1, 2], [7], max_seq_len=3).truncated
    assert encode_example([1, 2], [7, 8, 9], max_seq_len=2).input_ids == (2, 7)  # answer cut last


def test_real_examples_label_exactly_the_answer_and_end_of_turn(smol):
    from harness.strategies.lora import tokenize_examples
    from harness.types import GenerationRequest

    model, tok = smol.load()
    task = tiny_task()
    render = lambda m: smol.render(GenerationRequest(tuple(m), 0))  # noqa: E731
    examples, seq_len = tokenize_examples(task, task.splits["train"], render, tok, None, 8192)
    assert seq_len == max(len(ex.input_ids) for ex in examples)
    for ex, sample in zip(examples, task.splits["train"], strict=True):
        answer = [i for i, lab in zip(ex.input_ids, ex.labels, strict=True) if lab != IGNORE]
        assert tok.decode(answer) == sample.target + tok.eos_token
        prompt = [i for i, lab in zip(ex.input_ids, ex.labels, strict=True) if lab == IGNORE]
        assert tok.decode(prompt) == render(lora_messages(task, sample))  # what test time sends
    # the loss on the answer positions' logits equals transformers' own loss over every position
    batch = collate(examples[:4], tok.pad_token_id)
    with torch.no_grad():
        ours = answer_loss(model, batch)
        ref = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                    position_ids=batch["position_ids"], labels=batch["labels"]).loss
    assert float(ours) == pytest.approx(float(ref), rel=1e-4)


KILLER = """
import os, signal, sys
sys.path.insert(0, {root!r})
import harness.training as training
from harness.backends.local import local
from tests.test_lora import ARGS, tiny_task
from harness.strategies.lora import lora
from harness.types import PrepareContext

save = training.save_checkpoint
def save_then_die(*args, **kwargs):
    save(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally: like a power cut
training.save_checkpoint = save_then_die
lora(**ARGS).prepare(tiny_task(), local("smollm2-135m-instruct", dtype="fp32"), PrepareContext(seed=0))
"""


def test_killed_training_resumes_from_its_checkpoint(trained, smol, tmp_path, monkeypatch):
    from harness.backends.local import local

    monkeypatch.setenv("RVF_CACHE_DIR", str(tmp_path))
    done = subprocess.run([sys.executable, "-c", KILLER.format(root=str(ROOT))],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert done.returncode == -9, done.stderr[-2000:]
    (partial,) = (tmp_path / "adapters").glob("*.partial")
    assert (partial / "latest").read_text() == "ckpt-2"

    strategy, prepared, _ = prepare(local("smollm2-135m-instruct", dtype="fp32"))
    facts = prepared.training.model_dump()
    assert facts["resumed_from_step"] == 2 and facts["steps"] == 4
    assert not partial.exists()
    # same run as the uninterrupted one: same key, same curve, same weights
    reference_strategy, reference, _ = trained
    assert strategy.adapter_dir.name == reference_strategy.adapter_dir.name
    ref_curve = reference.training.model_dump()["loss_curve"]
    assert [p["loss"] for p in facts["loss_curve"]] == pytest.approx(
        [p["loss"] for p in ref_curve], rel=1e-3)
    ours = load_file(str(strategy.adapter_dir / "adapter_model.safetensors"))
    ref = load_file(str(reference_strategy.adapter_dir / "adapter_model.safetensors"))
    assert ours.keys() == ref.keys()
    for name in ours:
        torch.testing.assert_close(ours[name], ref[name], atol=1e-4, rtol=1e-3)


def test_training_whose_loss_goes_nan_fails_naming_the_step_and_caches_no_adapter(tmp_path):
    """A model whose forward pass yields NaN (here a copy of the bundled one with a NaN in its
    final norm, as a corrupted checkpoint would have) must fail the cell at the step the loss
    went NaN, not train on and cache an adapter of NaNs."""
    import shutil

    from safetensors.torch import load_file, save_file

    from harness.backends.hf import hf
    from harness.backends.local import resolve

    broken = tmp_path / "broken-smollm2"
    shutil.copytree(resolve("smollm2-135m-instruct"), broken)
    weights = load_file(str(broken / "model.safetensors"))
    weights["model.norm.weight"][0] = float("nan")
    save_file(weights, str(broken / "model.safetensors"), metadata={"format": "pt"})
    strategy = lora(**{**ARGS, "save_every": 1})
    with pytest.raises(TrainingDiverged, match=r"training diverged at optimizer step 1 of 4: "
                                                r"the loss was nan \(learning_rate=0.001\)"):
        strategy.prepare(tiny_task(), hf(str(broken), dtype="fp32"),
                         PrepareContext(seed=0, cache_root=tmp_path / "cache"))
    adapters = tmp_path / "cache" / "adapters"
    assert [p.name for p in adapters.iterdir() if not p.name.endswith(".lock")] == []


@pytest.mark.parametrize("rate", ["inf", "nan"])
def test_a_learning_rate_that_is_not_a_number_is_a_usage_error(rate):
    with pytest.raises(UsageError, match="learning_rate must be a finite number > 0"):
        lora(learning_rate=float(rate))


def test_tiny_train_split_is_a_usage_error(smol):
    task = tiny_task(n_train=1)
    with pytest.raises(UsageError, match=r"tiny_support.*'train' split"):
        lora(**ARGS).prepare(task, smol, PrepareContext(seed=0))


def test_non_hf_backend_is_a_usage_error():
    class Remote:
        spec = "openai/gpt-x"

    with pytest.raises(UsageError, match="hf/"):
        lora(**ARGS).prepare(tiny_task(), Remote(), PrepareContext(seed=0))


@pytest.mark.parametrize("args", [{"r": 0}, {"batch_size": 0}, {"train_size": 1},
                                  {"dropout": 1.0}, {"target_modules": " , "}])
def test_bad_arguments_are_usage_errors(args):
    with pytest.raises(UsageError, match="lora: "):
        lora(**args)


def test_arguments_parse_from_the_command_line(registry):
    strategy = registry.make("strategy", "lora", {"max_steps": "none", "train_size": "300",
                                                  "target_modules": "q_proj, v_proj",
                                                  "epochs": "0.5"})
    assert isinstance(strategy, LoraStrategy)
    assert strategy.train.max_steps is None and strategy.train_size == 300
    assert strategy.train.target_modules == ("q_proj", "v_proj") and strategy.train.epochs == 0.5


def test_epochs_give_the_steps_and_max_steps_caps_them():
    from harness.training import total_steps

    base = lora(batch_size=8, grad_accum=2, epochs=3, max_steps=None).config(0)
    assert total_steps(100, base) == 20  # 13 batches per epoch x 3 epochs / 2 per step
    assert total_steps(100, replace(base, max_steps=10)) == 10
    assert total_steps(2400, replace(base, max_steps=150, grad_accum=1)) == 150
    assert total_steps(3, replace(base, epochs=0.1)) == 1


def test_out_of_memory_message_suggests_smaller_batch():
    from harness.training import TrainConfig, oom_error

    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: 9 GB"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    config = TrainConfig(r=8, alpha=16, dropout=0.0, target_modules=("q_proj",),
                         learning_rate=1e-3, epochs=1, max_steps=None, batch_size=8,
                         grad_accum=1, seed=0)
    error = oom_error(config, 512, RuntimeError("CUDA out of memory"))
    assert isinstance(error, RvfError)
    assert "batch_size=4" in str(error) and "grad_accum=2" in str(error)
    assert "max_seq_len" in str(error)


def test_a_batch_over_the_token_budget_is_run_in_chunks_with_the_same_gradient(smol):
    """Memory follows padded tokens: a batch wider than MAX_BATCH_TOKENS is backpropagated in
    chunks, each weighted by its share of answer tokens, so the gradient is the whole batch's."""
    import contextlib

    from peft import LoraConfig, get_peft_model

    from harness.training import backward_batch, token_chunks

    examples = [encode_example(list(range(1, 1 + n)), [7, 8, 9][:1 + n % 3], 64)
                for n in (40, 30, 22, 9, 5)]
    assert [len(c) for c in token_chunks(examples, 90)] == [2, 3]  # 2 x 42, then 3 x 24 wide
    assert [len(c) for c in token_chunks(examples, 10_000)] == [5]
    model, tok = smol.load()
    torch.manual_seed(0)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"],
                                                  task_type="CAUSAL_LM"))
    params = [p for p in peft_model.parameters() if p.requires_grad]
    for p in params:  # B starts at zero, which would make A's gradient zero
        torch.nn.init.normal_(p, std=0.02)
    grads, losses = [], []
    import harness.training as training
    for budget in (10_000, 90):
        peft_model.zero_grad()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(training, "MAX_BATCH_TOKENS", budget)
            losses.append(backward_batch(peft_model, examples, tok.pad_token_id, "cpu",
                                         contextlib.nullcontext(), 1.0))
        grads.append([p.grad.clone() for p in params])
    peft_model.unload()
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    # The same gradient up to fp32 rounding, which differs with the padded width through 30
    # layers (measured up to 1.6e-4 of the norm on AVX2): compared as a whole tensor. Chunks
    # weighted equally (shares 1/2, 1/2 for 1/3, 2/3) are off by 0.9 to 2.3 times the norm.
    for whole, chunked in zip(*grads, strict=True):
        assert (chunked - whole).norm() <= 1e-3 * whole.norm()
