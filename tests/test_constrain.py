"""Constrained decoding on the real bundled model (hf/, local/): a token trie keeps every answer
inside the choices, score mode picks the choice with the highest log-likelihood, and
`harness.constrain.resolve` decides per cell what a constraint means."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
import torch

from harness.backends.constrained import TokenTrie, score_choices, token_trie
from harness.cache import canonical_json, request_key
from harness.constrain import compare_unconstrained, resolve
from harness.errors import UsageError
from harness.types import AnswerSpace, Constraint, GenerationRequest, Sample, Task

SYSTEM = {"role": "system", "content": "Name the colour in the message, one word."}
TEXTS = ["The sky was blue today.", "My car is red", "grass: green!", "Snow is white, mostly.",
         "She wore a yellow hat to the party.", "black", "a purple plum", "no colour here"]
# "red" is a prefix of "reddish brown": both a complete answer and the start of another.
CHOICES = ("red", "reddish brown", "blue", "green", "white or grey")


def _requests(constraint: Constraint | None) -> list[GenerationRequest]:
    return [GenerationRequest((SYSTEM, {"role": "user", "content": t}), 3, constraint)
            for t in TEXTS]


def test_a_trie_allows_end_of_turn_and_the_longer_label_after_a_prefix_label():
    trie = TokenTrie(eos=0)
    for seq in ([5, 0], [5, 6, 7, 0], [8, 0]):
        node = trie.root
        for t in seq:
            node = node.setdefault(t, {})
    assert sorted(trie.allowed([])) == [5, 8]
    assert sorted(trie.allowed([5])) == [0, 6]  # "red" may end here or go on to "reddish brown"
    assert trie.allowed([5, 6]) == [7] and trie.allowed([8]) == [0]


def test_a_trie_forces_the_tokens_up_to_the_next_choice_and_says_when_the_answer_is_done():
    trie = TokenTrie(eos=0)
    for seq in ([5, 0], [5, 6, 7, 9, 0], [5, 6, 7, 8, 0], [3, 4, 0]):
        node = trie.root
        for t in seq:
            node = node.setdefault(t, {})
    assert trie.forced([]) == ([], False)  # the first token is the model's choice
    assert trie.forced([3]) == ([4, 0], True)  # the rest of the only label starting with 3
    assert trie.forced([5]) == ([], False)  # "5" may end here or go on
    assert trie.forced([5, 6]) == ([7], False)  # 7 is forced, then 9 or 8 is a choice
    assert trie.forced([5, 6, 7, 9]) == ([0], True)
    assert trie.forced([5, 0]) == ([], True)


def _decode_both_ways(smol, requests, tries):
    """greedy_decode's tokens and forward passes with PREFIX_ATTENTION, allowed-token logits and
    forced tokens, and then with sdpa over a per-row copy of the prefix and full logits."""
    from harness.backends.decoding import PREFIX_ATTENTION, greedy_decode
    from harness.backends.hf import shared_prefix_length

    model, tok = smol.load()
    assert model.config._attn_implementation == PREFIX_ATTENTION
    ids = tok([smol.render(r) for r in requests], add_special_tokens=False)["input_ids"]
    prefix = shared_prefix_length(ids, minimum=4)
    assert prefix > 10
    calls = []
    hook = model.get_decoder().register_forward_hook(lambda *a: calls.append(1))
    results = []
    try:
        for implementation in (PREFIX_ATTENTION, "sdpa"):
            model.set_attn_implementation(implementation)
            calls.clear()
            with torch.inference_mode():
                out = model(input_ids=torch.tensor([ids[0][:prefix]]), use_cache=True,
                            logits_to_keep=1)
                cache = [(layer.keys, layer.values) for layer in out.cache.layers]
                tokens = greedy_decode(model, cache, prefix, [x[prefix:] for x in ids], 6,
                                       tok.eos_token_id, tok.pad_token_id, tries)
            results.append((tokens, len(calls) - 1))
    finally:
        hook.remove()
        model.set_attn_implementation(PREFIX_ATTENTION)
    return results


def test_shared_prefix_decoding_gives_the_tokens_of_per_row_prefix_copies(smol):
    choices = Constraint.of("labels", CHOICES)
    trie = smol._trie(choices)
    requests = _requests(choices)
    (fast, fast_passes), (plain, plain_passes) = _decode_both_ways(smol, requests,
                                                                   [trie] * len(requests))
    assert fast == plain and fast_passes == plain_passes
    # One token at a time, the longest answer would need a pass per token after its first;
    # tokens its trie forces and a decided answer's ending took none.
    assert fast_passes < max(len(t) for t in fast) - 1, (fast, fast_passes)
    (free, _), (free_plain, _) = _decode_both_ways(smol, _requests(None), None)
    assert free == free_plain


def test_labels_mode_answers_only_whole_choices(smol):
    smol.batch_size = 4
    free = dict(smol.generate(_requests(None)))
    constrained = dict(smol.generate(_requests(Constraint.of("labels", CHOICES))))
    assert all(g.text in CHOICES for g in constrained.values()), constrained
    # Free generation on the same prompts does leave the choices (this is what the constraint
    # fixes), and a constrained answer that needs more tokens than max_new_tokens is not cut.
    assert any(g.text not in CHOICES for g in free.values())
    assert "reddish brown" in CHOICES and all(g.error is None for g in constrained.values())


def test_score_mode_picks_the_most_likely_choice_as_a_full_forward_pass_scores_it(smol):
    model, tok = smol.load()
    request = _requests(Constraint.of("score", CHOICES))[1]
    [(_, gen)] = list(smol.generate([request]))
    prompt = tok(smol.render(request), add_special_tokens=False)["input_ids"]
    trie = token_trie(tok, CHOICES, request.constraint.choices_sha256, tok.eos_token_id)

    def full_forward(seq: list[int]) -> float:  # no cache reuse: the reference
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([prompt + seq])).logits[0].float()
        logp = torch.log_softmax(logits, -1)
        return sum(float(logp[len(prompt) - 1 + t, seq[t]]) for t in range(len(seq)))

    reference = [full_forward(seq) for seq in trie.sequences]
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([prompt]), use_cache=True, logits_to_keep=1)
        layers = [(layer.keys, layer.values) for layer in out.cache.layers]
        ours = score_choices(model, layers, out.logits[0, -1], len(prompt), trie.sequences)
    assert ours == pytest.approx(reference, abs=2e-3)
    assert gen.text == CHOICES[max(range(len(CHOICES)), key=reference.__getitem__)]


def test_a_constraint_is_in_the_request_key_and_no_constraint_keeps_the_old_key():
    plain = GenerationRequest(({"role": "user", "content": "x"},), 4)
    labels = replace(plain, constraint=Constraint.of("labels", CHOICES))
    other = replace(plain, constraint=Constraint.of("labels", CHOICES[:2]))
    identity = {"backend": "hf", "weights": "w"}
    keys = {request_key(identity, r) for r in (plain, labels, other)}
    assert len(keys) == 3
    # Unconstrained, the key is the payload it had before constraints existed: caches stay valid.
    payload = {"model": identity, "messages": list(plain.messages), "max_new_tokens": 4,
               "decoding": "greedy"}
    assert request_key(identity, plain) == hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def _task(kind: str, labels: tuple[str, ...]) -> Task:
    samples = [Sample("s1", "x", labels[0] if labels else "y")]
    return Task("toy", "1", {"train": samples, "test": samples}, "Answer.",
                AnswerSpace(kind, labels), parse=lambda raw: raw or None, scorers=[],
                primary_metric="accuracy")


def test_resolve_explains_what_it_could_not_constrain(smol):
    class Remote:
        spec = "openai/x"

    labels = _task("labels", ("a", "b"))
    constraint, facts = resolve(labels, smol, "auto")
    assert constraint.mode == "labels" and facts == {"constrain": "auto", "mode": "labels",
                                                     "choices": 2}
    assert resolve(labels, smol, "none") == (None, {"constrain": "none", "mode": "none"})
    assert resolve(labels, Remote(), "auto")[1]["reason"] == "openai/x cannot constrain decoding"
    with pytest.raises(UsageError, match="openai/x cannot constrain"):
        resolve(labels, Remote(), "labels")
    text = _task("text", ())
    assert "free-text" in resolve(text, smol, "auto")[1]["reason"]
    with pytest.raises(UsageError, match="task 'toy' has free-text answers"):
        resolve(text, smol, "labels")
    with pytest.raises(UsageError, match="nothing to predict"):
        resolve(_task("labels", ("only",)), smol, "auto")
    with pytest.raises(UsageError, match="cannot decode 'score' for 300 choices"):
        resolve(_task("labels", tuple(f"l{i}" for i in range(300))), smol, "score")


def test_the_record_compares_with_the_cached_unconstrained_answers():
    task = _task("labels", ("a", "b"))
    labels = Constraint.of("labels", ("a", "b"))
    facts = compare_unconstrained(task, labels, ["a", "b", "a", "b"], ["a", "", None, "zzz"])
    assert facts == {"unconstrained_n": 3, "unconstrained_outside_choices_rate": 0.6667,
                     "answers_changed": 2}  # "" does not parse; "zzz" parses but is no choice
    assert "no unconstrained run" in compare_unconstrained(task, labels, ["a"],
                                                           [None])["unconstrained"]


def test_an_impossible_constraint_stops_the_run_before_any_compute(tmp_path):
    """constrain=labels on a free-text task exits 2 naming the task, before a model loads."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "RVF_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "harness", "run", "--task", "hr_policy_qa",
                           "--constrain", "labels", "--limit", "2", "--results",
                           str(tmp_path / "results")], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 2, done.stderr
    assert "task 'hr_policy_qa' has free-text answers" in done.stderr
    assert "generating" not in done.stderr and "preparing" not in done.stderr


def test_a_finished_row_leaves_the_batch_and_each_row_decodes_as_it_would_alone(smol):
    """Rows that have ended are not carried as padding: every forward pass after the prompt's
    runs exactly the rows still decoding, and each row's tokens are those it gets alone."""
    from harness.backends.decoding import greedy_decode
    from harness.backends.hf import shared_prefix_length

    model, tok = smol.load()
    choices = Constraint.of("labels", CHOICES)
    trie = smol._trie(choices)  # "blue" ends at once; "red" may go on to "reddish brown"
    ids = tok([smol.render(r) for r in _requests(choices)], add_special_tokens=False)["input_ids"]
    prefix = shared_prefix_length(ids, minimum=4)
    rows: list[int] = []
    hook = model.get_decoder().register_forward_hook(
        lambda module, args, kwargs, out: rows.append(kwargs["input_ids"].shape[0]),
        with_kwargs=True)
    try:
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([ids[0][:prefix]]), use_cache=True,
                        logits_to_keep=1)
            cache = [(layer.keys, layer.values) for layer in out.cache.layers]
            rows.clear()
            together = greedy_decode(model, cache, prefix, [x[prefix:] for x in ids], 6,
                                     tok.eos_token_id, tok.pad_token_id, [trie] * len(ids))
            passes = list(rows)
            alone = [greedy_decode(model, cache, prefix, [x[prefix:]], 6, tok.eos_token_id,
                                   tok.pad_token_id, [trie])[0] for x in ids]
    finally:
        hook.remove()
    assert together == alone
    assert {tok.decode(t, skip_special_tokens=True) for t in together} <= set(CHOICES)
    assert passes[0] == len(ids) and passes == sorted(passes, reverse=True), passes
    assert 0 < passes[-1] < len(ids), (passes, together)  # some rows ended, others went on
