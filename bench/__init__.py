"""rvf's benchmarks: its speed against raw compute and against lm-evaluation-harness, as ratios.

`tox -e bench` (or `python -m bench` in an environment with the lora and rag extras and lm-eval)
measures the rows of results/BENCHMARKS.md (docs/bench.md says what each means). Nothing here is a
timed test.
"""
