"""Where the rag cell's decoding time goes: one worker's batches under torch's profiler.

    python -m bench.rag_profile [--limit 100] [--batches 4]

Plans the Banking77 rag cell as bench row 9b does (the bundled SmolLM2, fp32, labels-constrained),
runs the shared prefix once, then times `--batches` of its batches of 8 (from the middle of the
longest-first order) on one torch thread, as one decoding worker runs them, first plainly and
then under `torch.profiler`. Prints the prompt sizes (shared prefix, suffix tokens real and
padded), the seconds per query, the prefill's linear-layer FLOP (2 per linear weight per padded
token) over the profiler's `aten::mm` time (decode steps included, so a lower bound on the
prefill's rate) against a one-thread matmul at the model's MLP shape, and the profiler's table.

Row 9b says how fast the rag cell is; this says what bounds it: when `aten::mm` runs near the
one-thread GEMM rate and attention is most of the rest, the remaining levers change the
arithmetic (another dtype, another engine) or the prompt, not the loop.
"""

from __future__ import annotations

import argparse
import time

import harness  # noqa: F401  (sets rvf's OpenMP default before torch loads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=100, help="test queries planned (row 9b: 100)")
    parser.add_argument("--batches", type=int, default=4, help="batches of 8 timed and profiled")
    args = parser.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile

    from bench.speed import gemm_limit
    from bench.strategy_speed import cell_requests
    from harness.backends.decoding import greedy_decode
    from harness.backends.hf import shared_prefix_length

    backend, requests = cell_requests("rag", args.limit)
    model, tok = backend.load()
    ids = tok([backend.render(r) for r in requests], add_special_tokens=False)["input_ids"]
    prefix = shared_prefix_length(ids, minimum=4)
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    batches = [order[s:s + 8] for s in range(0, len(order), 8)]
    middle = max(0, len(batches) // 2 - args.batches // 2)
    timed = batches[middle:middle + args.batches]
    suffix = [len(x) - prefix for x in ids]
    padded = sum(len(b) * max(suffix[i] for i in b) for b in batches)
    print(f"{len(ids)} queries: shared prefix {prefix} tokens; suffix tokens {sum(suffix)} real, "
          f"{padded} padded in batches of 8 ({min(suffix)}-{max(suffix)} per query)")
    tries = [backend._trie(r.constraint) for r in requests]
    linear = sum(m.weight.numel() for m in model.get_decoder().modules()
                 if isinstance(m, torch.nn.Linear))

    def run(batch: list[int]) -> None:
        greedy_decode(model, cache, prefix, [ids[i][prefix:] for i in batch], 30,
                      tok.eos_token_id, tok.pad_token_id, [tries[i] for i in batch])

    with torch.inference_mode():
        out = model(input_ids=torch.tensor([ids[0][:prefix]]), use_cache=True, logits_to_keep=1)
        cache = [(layer.keys, layer.values) for layer in out.cache.layers]
        torch.set_num_threads(1)
        run(timed[-1])  # warm-up
        began = time.perf_counter()
        for batch in timed:
            run(batch)
        seconds = time.perf_counter() - began
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for batch in timed:
                run(batch)
    queries = sum(len(b) for b in timed)
    tokens = sum(len(b) * max(suffix[i] for i in b) for b in timed)
    mm = next(e.self_cpu_time_total for e in prof.key_averages() if e.key == "aten::mm") / 1e6
    print(f"{len(timed)} batches ({queries} queries, {tokens} padded suffix tokens) on one thread: "
          f"{seconds:.1f} s, {seconds / queries:.3f} s per query; the prefill's linear layers "
          f"{2 * linear * tokens / 1e9:.0f} GFLOP, aten::mm {mm:.1f} s under the profiler "
          f"(decode steps included): at least {2 * linear * tokens / mm / 1e9:.1f} GFLOP/s, "
          f"against {gemm_limit(tokens // len(timed), 1, 'fp32') / 1e9:.1f} GFLOP/s for one "
          "thread's matmul at the MLP's shape with a batch's rows")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
