"""rvf's benchmarks: its speed against raw compute and against lm-evaluation-harness, as ratios.

`tox -e bench` (or `python -m bench` in an environment with the lora and rag extras and lm-eval)
measures the seven rows of results/BENCHMARKS.md; see docs/bench.md. Nothing here is a timed test.
"""
