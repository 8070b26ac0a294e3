"""Greedy decoding for in-process transformers models, with a shared prompt prefix held once.

The prompts of one cell start with the same few hundred tokens (instructions, the label set, the
few-shot examples). The hf backend runs that prefix once and keeps its keys and values. A batched
`DynamicCache` would need a copy of them in every row, re-copied by `torch.cat` on every decode
step and read once per row by attention: on a 2-core CPU that made a decode step of 8 rows over a
~900-token prefix about 4x slower than streaming the model's weights. Here the rows' caches hold
only their own tokens, and `shared_prefix_attention` (registered with transformers'
AttentionInterface as `PREFIX_ATTENTION`) lets every row attend to the single prefix copy:
one softmax over [prefix | own tokens], the same sum as attention over the concatenated cache,
in another order.

A decoded row also stops as soon as its answer is decided: when its constraint (a token trie)
leaves one way to finish, the rest of that label is appended without running the model for it,
and the row leaves the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PREFIX_ATTENTION = "rvf_shared_prefix"
# New tokens per row up to which attention scores are materialised (a prompt's suffix, a decode
# step); longer suffixes (rag's retrieved examples) run sdpa's tiled kernel on a per-row copy of
# the prefix, which is faster there (measured on the rag cell: 4.1 s against 3.0 s a batch).
MATERIALIZED_QUERIES = 128
# Decoder families whose attention is plain scaled dot-product over (grouped) heads, which is
# what shared_prefix_attention computes; others (sliding windows, soft-capped logits) keep sdpa.
PLAIN_ATTENTION_MODELS = frozenset({"llama", "mistral", "qwen2", "qwen3"})


@dataclass
class SharedPrefix:
    """What every attention layer of one batch needs besides its own cache."""

    layers: list[tuple[Any, Any]] | None  # per layer (keys, values), each (1, kv_heads, P, dim)
    own_valid: Any  # (rows, own tokens so far) bool: False on a row's left padding


def use_shared_prefix_attention(model: Any) -> bool:
    """Switch `model` to PREFIX_ATTENTION when its attention is plain sdpa (True), else leave it.

    Calls without a `shared_prefix` keyword (the prefix's own forward pass, score mode) still run
    transformers' sdpa, with its masks."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    config = model.config
    plain = (config.model_type in PLAIN_ATTENTION_MODELS and config._attn_implementation == "sdpa"
             and getattr(config, "sliding_window", None) is None)
    if plain:
        AttentionInterface.register(PREFIX_ATTENTION, shared_prefix_attention)
        AttentionMaskInterface.register(PREFIX_ATTENTION, sdpa_mask)
        model.set_attn_implementation(PREFIX_ATTENTION)
    return plain


def shared_prefix_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                            scaling: float | None = None, dropout: float = 0.0,
                            shared_prefix: SharedPrefix | None = None, **kwargs: Any
                            ) -> tuple[Any, None]:
    """Attention of a batch's new tokens over the shared prefix and over their row's own tokens.

    `key`/`value` are the row caches (rows, kv_heads, S, dim) holding own tokens only; the last
    `q_len` of them are the queries'. Own keys are causal and hide left padding (a padding query
    sees itself, so no row of scores is empty). Returns (rows, q_len, heads, dim) as sdpa does."""
    import torch

    if shared_prefix is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    rows, heads, q_len, dim = query.shape
    kv_heads, own = key.shape[1], key.shape[2]
    prefix = shared_prefix.layers[module.layer_idx] if shared_prefix.layers else None
    at = torch.arange(own - q_len, own, device=query.device)[:, None]  # the queries' positions
    keys_at = torch.arange(own, device=query.device)[None, :]
    allowed = (shared_prefix.own_valid[:, None, :] & (keys_at <= at)) | (keys_at == at)
    if q_len > MATERIALIZED_QUERIES:  # a long prompt: sdpa's tiled kernel over a per-row copy
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        if prefix is not None:
            key = torch.cat([prefix[0].expand(rows, -1, -1, -1), key], 2)
            value = torch.cat([prefix[1].expand(rows, -1, -1, -1), value], 2)
            allowed = torch.cat([allowed.new_ones((rows, q_len, prefix[0].shape[2])), allowed], -1)
        return sdpa_attention_forward(module, query, key, value, allowed[:, None], dropout=dropout,
                                      scaling=scaling, **kwargs)
    group = heads // kv_heads
    scale = dim ** -0.5 if scaling is None else scaling
    # (rows, kv_heads, group x q_len, dim): a kv head's query heads side by side, so each matmul
    # reads that head's keys once instead of broadcasting (copying) them per query head
    q = query.reshape(rows, kv_heads, group * q_len, dim) * scale
    scores = torch.matmul(q, key.transpose(-1, -2)).view(rows, kv_heads, group, q_len, own)
    scores = scores.masked_fill(~allowed[:, None, None], float("-inf")).flatten(2, 3)
    if prefix is not None:
        scores = torch.cat([_over_prefix(q, prefix[0]), scores], -1)
    probs = torch.softmax(scores, -1)
    out = torch.matmul(probs[..., -own:], value)
    if prefix is not None:
        out = out + _over_prefix(probs[..., :-own], prefix[1].transpose(-1, -2))
    return out.reshape(rows, heads, q_len, dim).transpose(1, 2).contiguous(), None


def _over_prefix(x: Any, prefix: Any) -> Any:
    """x (rows, kv, m, n) times the transposed prefix tensor (1, kv, P, n) -> (rows, kv, m, P) as
    one matmul per kv head, the rows folded into its first axis so the prefix is read once."""
    rows, kv_heads, m, n = x.shape
    folded = x.permute(1, 0, 2, 3).reshape(kv_heads, rows * m, n)
    product = folded @ prefix[0].transpose(-1, -2)
    return product.reshape(kv_heads, rows, m, -1).permute(1, 0, 2, 3)


def greedy_decode(model: Any, prefix_cache: list[tuple[Any, Any]] | None, prefix: int,
                  suffixes: Sequence[Sequence[int]], max_new_tokens: int, eos: int,
                  pad: int, tries: Sequence[Any] | None = None) -> list[list[int]]:
    """Greedy decoding of a batch whose prompts are `shared prefix + suffix`.

    The suffixes are left-padded *after* the prefix (padding in the middle), with position ids
    that skip the padding and masks that hide it, so each row computes what it would alone. A row
    with a trie (`tries[r]`) only takes tokens its trie allows, and is finished once the trie
    leaves it one way to end. Returns each row's new tokens up to and including EOS.
    """
    import torch

    rows, width = len(suffixes), max(len(s) for s in suffixes)
    input_ids = torch.full((rows, width), pad, dtype=torch.long)
    own_valid = torch.zeros((rows, width), dtype=torch.bool)
    for r, s in enumerate(suffixes):
        input_ids[r, width - len(s):] = torch.tensor(s)
        own_valid[r, width - len(s):] = True
    input_ids, own_valid = input_ids.to(model.device), own_valid.to(model.device)
    positions = (prefix + own_valid.long().cumsum(-1) - 1).clamp(min=0)
    tries = list(tries or [None] * rows)
    step = _Step(model, prefix_cache, prefix, own_valid, tries)
    step.forward(input_ids, positions, first=True)
    step.next_pos = positions[:, -1]
    generated: list[list[int]] = [[] for _ in range(rows)]
    live = list(range(rows))  # the rows still decoding, in the order the step holds them
    for n in range(max_new_tokens):
        token = step.choose([generated[r] for r in live])
        feed, going = [], []
        for j, r in enumerate(live):
            generated[r].append(int(token[j]))
            forced, complete = tries[r].forced(generated[r]) if tries[r] else ([], False)
            generated[r].extend(forced)
            if not (complete or generated[r][-1] == eos):
                going.append(j)
                feed.append([int(token[j]), *forced])
        if not going or n == max_new_tokens - 1:
            break
        if len(going) < len(live):
            step.keep_rows(going)
            live = [live[j] for j in going]
        step.feed(feed, pad)
    return generated


class _Step:
    """One forward pass of a batch and the greedy choice after it.

    With PREFIX_ATTENTION, the rows' caches hold their own tokens and attention gets the shared
    prefix; otherwise the cache holds a copy of the prefix per row under a full 2-D mask. When
    every row has a trie, only the tokens some row may take are scored: the output layer's rows
    for them (a few dozen of ~50k), which halves what a decode step reads of a small model."""

    def __init__(self, model: Any, prefix_cache: Any, prefix: int, own_valid: Any,
                 tries: list[Any]) -> None:
        self.model, self.tries = model, tries
        self.shared = model.config._attn_implementation == PREFIX_ATTENTION
        self.by_allowed = self.shared and all(t is not None for t in tries)
        self.prefix_cache, self.prefix, self.own_valid = prefix_cache, prefix, own_valid
        self.last: Any = None  # the last position's hidden states or logits
        self.cache: Any = None
        self.next_pos: Any = None  # each row's last position so far

    def keep_rows(self, keep: list[int]) -> None:
        """Go on with only the rows at `keep`: a finished row would still cost its share of every
        later step (its cache in attention, its row in each matmul) as padding."""
        import torch

        index = torch.tensor(keep, device=self.next_pos.device)
        self.cache.batch_select_indices(index)
        self.next_pos = self.next_pos[index]
        self.tries = [self.tries[j] for j in keep]
        if self.shared:
            self.state.own_valid = self.state.own_valid[index]
        else:
            self.mask = self.mask[index]

    def feed(self, tokens: list[list[int]], pad: int) -> None:
        """Run each row's next tokens (its choice and the tokens its trie then forces), left-
        padded to one width as the prompts were."""
        import torch

        rows, width = len(tokens), max(len(t) for t in tokens)
        ids = torch.full((rows, width), pad, dtype=torch.long)
        valid = torch.zeros((rows, width), dtype=torch.bool)
        for r, row in enumerate(tokens):
            ids[r, width - len(row):] = torch.tensor(row)
            valid[r, width - len(row):] = True
        ids, valid = ids.to(self.next_pos.device), valid.to(self.next_pos.device)
        positions = self.next_pos[:, None] + valid.long().cumsum(-1)
        self.next_pos = positions[:, -1]
        self.forward(ids, positions, valid=valid)

    def forward(self, input_ids: Any, positions: Any, first: bool = False,
                valid: Any = None) -> None:
        """Run the model on `input_ids` (their own-token validity `valid`, after the first)."""
        args = self._first_args() if first else self._next_args(valid)
        if self.by_allowed:
            out = self.model.get_decoder()(input_ids=input_ids, position_ids=positions,
                                           use_cache=True, **args)
            self.last = out.last_hidden_state[:, -1]
        else:
            out = self.model(input_ids=input_ids, position_ids=positions, use_cache=True,
                             logits_to_keep=1, **args)
            self.last = out.logits[:, -1]
        self.cache = out.cache

    def choose(self, generated: list[list[int]]) -> Any:
        """Each row's greedy token after the last forward pass, inside its trie if it has one."""
        import torch

        if not self.by_allowed:
            if not any(t is not None for t in self.tries):
                return self.last.argmax(-1)
            from harness.backends.constrained import mask_to_trie

            return mask_to_trie(self.last.clone(), self.tries, generated).argmax(-1)
        allowed = [t.allowed(g) for t, g in zip(self.tries, generated, strict=True)]
        union = sorted(set().union(*allowed))  # ascending: ties go to the lowest id, as argmax
        ids = torch.tensor(union, device=self.last.device)
        head = self.model.get_output_embeddings()
        logits = torch.nn.functional.linear(self.last, head.weight[ids],
                                            None if head.bias is None else head.bias[ids])
        where = {token: j for j, token in enumerate(union)}
        keep = torch.zeros_like(logits, dtype=torch.bool)
        for r, tokens in enumerate(allowed):
            keep[r, [where[t] for t in tokens]] = True
        return ids[logits.masked_fill(~keep, float("-inf")).argmax(-1)]

    def _first_args(self) -> dict[str, Any]:
        import torch
        from transformers import DynamicCache

        rows = self.own_valid.shape[0]
        if self.shared:
            self.state = SharedPrefix(self.prefix_cache, self.own_valid)
            return {"cache": DynamicCache(), "shared_prefix": self.state}
        self.mask = torch.cat([torch.ones((rows, self.prefix), dtype=torch.long,
                                          device=self.own_valid.device), self.own_valid.long()], -1)
        copies = [(k.expand(rows, -1, -1, -1).contiguous(), v.expand(rows, -1, -1, -1).contiguous())
                  for k, v in self.prefix_cache] if self.prefix_cache else None
        return {"cache": DynamicCache(ddp_cache_data=copies) if copies else DynamicCache(),
                "attention_mask": self.mask}

    def _next_args(self, valid: Any) -> dict[str, Any]:
        import torch

        if self.shared:
            self.state.own_valid = torch.cat([self.state.own_valid, valid], -1)
            return {"cache": self.cache, "shared_prefix": self.state}
        self.mask = torch.cat([self.mask, valid.long()], -1)
        return {"cache": self.cache, "attention_mask": self.mask}
