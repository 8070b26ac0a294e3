"""Constrained decoding for in-process transformers models (hf/, local/).

`labels` mode: the choices are tokenised once into a trie (each ends with the end-of-turn token),
and at each greedy step a row may only take a token that continues a choice; when a choice is
complete and no longer one continues it, only end-of-turn is allowed. A label that is a prefix of
another ("card" and "card_arrival") is both a leaf and an inner node: end-of-turn and the longer
label's next token are both allowed, and the model picks. The answer is always a whole choice.

`score` mode (lm-evaluation-harness's multiple choice): every choice's log-likelihood after the
prompt, summed over its tokens and end-of-turn, from batched forward passes that reuse the
prompt's key/value cache; the answer is the best choice. Exact, but one pass per chunk of choices
per query: for small label sets only (`MAX_SCORED_CHOICES`).

Tries are cached in memory per (tokenizer, choices), and on disk under
`<cache root>/tries/<key>.json` so the 74,719-code ICD-10-CM trie is tokenised once per code set.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.paths import cache_root
from harness.records import atomic_write

MAX_SCORED_CHOICES = 256  # score mode costs a forward pass per chunk of choices per query
SCORE_CHUNK = 16  # choices scored together: each row holds a copy of the prompt's cache

_TRIES: dict[str, TokenTrie] = {}


@dataclass
class TokenTrie:
    """Token-id sequences of the choices, each ending with `eos`, as nested dicts."""

    eos: int
    sequences: list[list[int]] = field(default_factory=list)  # in the order of the choices
    root: dict[int, dict] = field(default_factory=dict)
    longest: int = 0  # tokens of the longest choice, end-of-turn included

    def allowed(self, prefix: Sequence[int]) -> list[int]:
        """The tokens that may follow `prefix` (the tokens generated so far)."""
        node = self.root
        for token in prefix:
            node = node.get(token)
            if node is None:  # cannot happen when every token came from `allowed`
                return [self.eos]
        return list(node) or [self.eos]

    def forced(self, prefix: Sequence[int]) -> tuple[list[int], bool]:
        """The tokens that must follow `prefix` (up to the next choice the model has to make) and
        whether the answer is then complete (they end with end-of-turn). Greedy decoding would
        take exactly these tokens, so they need no choice of the model's, and a complete answer
        no further forward pass."""
        node = self.root
        for token in prefix:
            node = node.get(token)
            if node is None:
                return [], True
        rest: list[int] = []
        while len(node) == 1:
            ((token, node),) = node.items()
            rest.append(token)
            if token == self.eos:
                return rest, True
        return rest, not node


def token_trie(tok: Any, choices: Sequence[str], choices_sha256: str, eos: int) -> TokenTrie:
    """The trie of `choices` for this tokenizer, from memory, disk, or built now."""
    key = hashlib.sha256(json.dumps([tok.name_or_path, len(tok), eos, choices_sha256]).encode()
                         ).hexdigest()[:24]
    if key in _TRIES:
        return _TRIES[key]
    path = cache_root() / "tries" / f"{key}.json"
    if path.exists():
        sequences = json.loads(path.read_text(encoding="utf-8"))
    else:
        sequences = [ids + [eos] for ids in tok(list(choices), add_special_tokens=False)["input_ids"]]
        atomic_write(path, json.dumps(sequences))
    trie = TokenTrie(eos, sequences)
    for seq in sequences:
        node = trie.root
        for token in seq:
            node = node.setdefault(token, {})
        trie.longest = max(trie.longest, len(seq))
    _TRIES[key] = trie
    return trie


def mask_to_trie(logits: Any, tries: Sequence[TokenTrie | None],
                 generated: Sequence[Sequence[int]]) -> Any:
    """Logits of one step with every token a row's trie forbids set to -inf (rows without a
    trie are left as they are)."""
    import torch

    for row, trie in enumerate(tries):
        if trie is not None:
            keep = torch.tensor(trie.allowed(generated[row]), device=logits.device)
            masked = torch.full_like(logits[row], float("-inf"))
            masked[keep] = logits[row, keep]
            logits[row] = masked
    return logits


def score_choices(model: Any, prompt_cache: Any, last_logits: Any, prompt_len: int,
                  sequences: Sequence[Sequence[int]]) -> list[float]:
    """Log-likelihood of each token sequence after a prompt whose cache (batch 1, as
    ((k, v), ...) per layer) and last-position logits are given."""
    import torch
    from transformers import DynamicCache

    first = torch.log_softmax(last_logits.float(), -1)
    scores: list[float] = []
    for start in range(0, len(sequences), SCORE_CHUNK):
        chunk = sequences[start:start + SCORE_CHUNK]
        rows, width = len(chunk), max(len(s) for s in chunk)
        ids = torch.zeros((rows, width), dtype=torch.long, device=model.device)
        for r, seq in enumerate(chunk):
            ids[r, :len(seq)] = torch.tensor(seq)
        cache = DynamicCache(ddp_cache_data=[(k.expand(rows, -1, -1, -1).contiguous(),
                                              v.expand(rows, -1, -1, -1).contiguous())
                                             for k, v in prompt_cache])
        positions = torch.arange(prompt_len, prompt_len + width, device=model.device)
        out = model(input_ids=ids, position_ids=positions.expand(rows, -1), cache=cache,
                    use_cache=False)
        logp = torch.log_softmax(out.logits.float(), -1)
        for r, seq in enumerate(chunk):
            total = float(first[seq[0]])
            total += sum(float(logp[r, t, seq[t + 1]]) for t in range(len(seq) - 1))
            scores.append(total)
    return scores
