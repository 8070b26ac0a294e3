"""The hf backend against the real bundled model: its batched, prefix-reusing greedy decoding must
give what plain `model.generate` gives for the same prompts."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from harness.backends.hf import shared_prefix_length
from harness.cache import CachedBackend, RequestCache
from harness.types import GenerationRequest

SYSTEM = {"role": "system", "content": "Answer with one word: the colour named in the message."}
TEXTS = ["The sky was blue today.", "My car is red", "grass: green!", "Snow is white, mostly.",
         "She wore a yellow hat to the party yesterday afternoon.", "black"]


def _requests(n_tokens: int = 6) -> list[GenerationRequest]:
    return [GenerationRequest((SYSTEM, {"role": "user", "content": t}), n_tokens) for t in TEXTS]


def test_shared_prefix_length():
    assert shared_prefix_length([[1] * 20 + [2], [1] * 20 + [3, 4]]) == 20
    assert shared_prefix_length([[1] * 20, [1] * 20 + [3]]) == 19  # one token left to each
    assert shared_prefix_length([[1, 2, 3], [1, 2, 4]]) == 0  # too short to be worth it
    assert shared_prefix_length([[1] * 30]) == 0


@pytest.mark.parametrize("q_len", [1, 3, 140])
def test_shared_prefix_attention_is_attention_over_the_concatenated_cache(q_len):
    """Against softmax attention written out, for a decode step, a short suffix (scores
    materialised) and a long one (sdpa on a per-row prefix copy); row 1 has left padding."""
    from types import SimpleNamespace

    from harness.backends.decoding import MATERIALIZED_QUERIES, SharedPrefix, shared_prefix_attention

    assert (q_len > MATERIALIZED_QUERIES) == (q_len == 140)
    gen = torch.Generator().manual_seed(0)
    rows, heads, kv_heads, dim, p, own = 3, 6, 2, 8, 5, q_len + 4
    query = torch.randn(rows, heads, q_len, dim, generator=gen)
    key, value = (torch.randn(rows, kv_heads, own, dim, generator=gen) for _ in range(2))
    prefix = [(torch.randn(1, kv_heads, p, dim, generator=gen),
               torch.randn(1, kv_heads, p, dim, generator=gen))]
    valid = torch.ones(rows, own, dtype=torch.bool)
    valid[1, :2] = False  # two padding tokens before row 1's suffix
    module = SimpleNamespace(layer_idx=0, num_key_value_groups=3)
    out, _ = shared_prefix_attention(module, query, key, value, None, scaling=0.3,
                                     shared_prefix=SharedPrefix(prefix, valid))
    keys = torch.cat([prefix[0][0].expand(rows, -1, -1, -1), key], 2).repeat_interleave(3, 1)
    values = torch.cat([prefix[0][1].expand(rows, -1, -1, -1), value], 2).repeat_interleave(3, 1)
    at = torch.arange(own - q_len, own)[:, None]
    own_ok = (valid[:, None, :] & (torch.arange(own)[None, :] <= at)) | (torch.arange(own) == at)
    ok = torch.cat([torch.ones(rows, q_len, p, dtype=torch.bool), own_ok], -1)[:, None]
    scores = (query @ keys.transpose(-1, -2) * 0.3).masked_fill(~ok, float("-inf"))
    expected = (torch.softmax(scores, -1) @ values).transpose(1, 2)
    assert out.shape == (rows, q_len, heads, dim)
    assert torch.allclose(out, expected, atol=1e-5)


def test_batched_prefix_decoding_matches_model_generate(smol):
    smol.batch_size = 4
    reqs = _requests()
    ours = dict(smol.generate(reqs))
    model, tok = smol.load()
    tok.padding_side = "left"
    enc = tok([smol.render(r) for r in reqs], return_tensors="pt", padding=True,
              add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=6, do_sample=False,
                             pad_token_id=tok.pad_token_id)
    ref = [tok.decode(row, skip_special_tokens=True).strip()
           for row in out[:, enc["input_ids"].shape[1]:]]
    assert [ours[i].text for i in range(len(reqs))] == ref
    assert all(g.output_tokens <= 6 and g.input_tokens > 20 for g in ours.values())
    assert all(g.text for g in ours.values())


def test_request_cache_answers_repeat_requests_without_the_model(smol, tmp_path):
    cache = RequestCache(tmp_path / "req.sqlite")
    first = CachedBackend(smol, cache)
    a = dict(first.generate(_requests(4)))
    assert (first.stats.model_calls, first.stats.hits) == (len(TEXTS), 0)
    again = CachedBackend(smol, RequestCache(tmp_path / "req.sqlite"))  # a new process's view
    b = dict(again.generate(_requests(4)))
    assert (again.stats.model_calls, again.stats.hits) == (0, len(TEXTS))
    assert {i: g.text for i, g in a.items()} == {i: g.text for i, g in b.items()}
    # Another generation setting is another key: the model is asked again.
    other = CachedBackend(smol, cache)
    list(other.generate(_requests(5)[:2]))
    assert other.stats.model_calls == 2


def test_generation_prints_no_deprecation_warning():
    """rvf's decoding loop uses the installed transformers' own cache argument: no FutureWarning
    or "deprecated" line on stderr. A fresh process, since transformers warns once per process."""
    script = (
        "from harness.backends.local import local\n"
        "from tests.test_hf_backend import _requests\n"
        "backend = local('smollm2-135m-instruct', dtype='fp32')\n"
        "print(sorted(i for i, _ in backend.generate(_requests(3)[:3])))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 1, 2]"
    assert "deprecat" not in done.stderr.lower(), done.stderr


def test_over_long_prompts_are_cut_counted_and_cached_with_their_cpu_time(smol, tmp_path):
    """A prompt longer than the context keeps its end and says how many tokens it lost; every
    answer carries its share of process CPU time, and the request cache keeps both."""
    from harness.runner import usage_info
    from harness.types import Prediction

    model, _ = smol.load()
    context = model.config.max_position_embeddings
    model.config.max_position_embeddings = 60  # a small-context model: the same code path
    try:
        long = GenerationRequest((SYSTEM, {"role": "user", "content": "word " * 100}), 4)
        first = CachedBackend(smol, RequestCache(tmp_path / "req.sqlite"))
        gens = dict(first.generate([long, _requests(4)[1]]))
    finally:
        model.config.max_position_embeddings = context
    assert gens[0].input_tokens == 60 - 4 and gens[0].meta["truncated_tokens"] > 40
    assert "truncated_tokens" not in gens[1].meta
    assert all(g.cpu_s > 0 and g.compute_s > 0 for g in gens.values())
    again = dict(CachedBackend(smol, RequestCache(tmp_path / "req.sqlite")).generate(
        [long, _requests(4)[1]]))
    assert [(g.cpu_s, g.meta) for g in again.values()] == [(g.cpu_s, g.meta) for g in gens.values()]
    predictions = [Prediction(str(i), "y", g.text, cpu_s=g.cpu_s, meta=g.meta)
                   for i, g in again.items()]
    usage = usage_info(predictions, 0, 0, 2, 1.0)
    assert usage.truncated_prompts == 1
    assert usage.cpu_seconds == pytest.approx(sum(g.cpu_s for g in gens.values()), abs=1e-3)


def test_torch_threads_are_an_argument_checked_and_reported() -> None:
    from harness.backends.hf import torch_default_threads
    from harness.backends.local import local
    from harness.errors import UsageError

    one = local("smollm2-135m-instruct", n_threads=1).facts
    assert one == {"torch_threads": 1, "workers": torch_default_threads()}
    assert local("smollm2-135m-instruct", n_threads=2).facts["workers"] == 1
    assert local("smollm2-135m-instruct", workers=1).facts["workers"] == 1
    with pytest.raises(UsageError, match="n_threads must be >= 1"):
        local("smollm2-135m-instruct", n_threads=0)
    with pytest.raises(UsageError, match="workers must be >= 1"):
        local("smollm2-135m-instruct", workers=0)
    with pytest.raises(UsageError, match="n_threads must be 1 with them"):
        local("smollm2-135m-instruct", n_threads=2, workers=2)


def test_workers_answer_as_one_thread_does_and_count_only_their_own_cpu(smol):
    """Two one-thread workers decode batches side by side: the same answers as one worker, every
    request answered once, and each answer's CPU time its own worker's (with its share of the
    prefix), so they sum to no more than the process used, not to the whole process's twice."""
    from harness.backends.hf import HFBackend
    from harness.types import Constraint

    colours = ("blue", "red", "green", "white", "yellow", "black")
    constrained = [GenerationRequest(r.messages, 4, constraint=Constraint.of("labels", colours))
                   for r in _requests()]
    requests = _requests() + constrained
    answers, cpu = {}, {}
    for workers in (1, 2):
        backend = HFBackend(smol.spec, smol.path, "fp32", batch_size=2, n_threads=1,
                            workers=workers)
        backend._model, backend._tokenizer = smol.load()
        began = time.process_time()
        answers[workers] = dict(backend.generate(requests))
        cpu[workers] = time.process_time() - began
    assert sorted(answers[2]) == list(range(len(requests)))
    assert {i: g.text for i, g in answers[2].items()} == {i: g.text for i, g in answers[1].items()}
    assert {g.text for i, g in answers[2].items() if i >= len(TEXTS)} <= set(colours)
    counted = sum(g.cpu_s for g in answers[2].values())
    assert 0.5 * cpu[2] <= counted <= 1.02 * cpu[2]
