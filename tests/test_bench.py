"""The benchmark machinery (bench/), not its numbers: nothing here is timed.

The helpers (median/min/max, paired ratios, goals), the markdown report and its stored data, the
lm-eval task export, and one real measurement in its quickest form (row 4, indexing 16 tickets)
written end to end by `python -m bench --quick --only index`.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bench import lmeval, measure
from bench.report import COLUMNS, Row, render, table, write_atomic
from bench.run import main, previous_notes, previous_rows, row_data
from bench.timing import LoadWindow, Stats, interleaved, machine_facts, ratios


def _table_rows(markdown: str) -> list[list[str]]:
    """The cells of every table row after the header and separator."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    assert lines[0] == "| " + " | ".join(COLUMNS) + " |"
    assert re.fullmatch(r"\|(---\|)+", lines[1]) and lines[1].count("---") == len(COLUMNS)
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in lines[2:]]


def test_stats_and_paired_ratios():
    assert Stats.of([3.0, 1.0, 2.0]) == Stats(2.0, 1.0, 3.0, 3)
    assert Stats.of([1.0, 2.0]).median == 1.5
    with pytest.raises(ValueError):
        Stats.of([])
    assert ratios([(2.0, 1.0), (3.0, 4.0)]) == [2.0, 0.75]
    calls: list[str] = []
    pairs = interleaved(lambda: calls.append("a") or 1.0, lambda: calls.append("b") or 2.0, 3,
                        warmup=lambda: calls.append("w"))
    assert calls == ["w", "a", "b", "a", "b", "a", "b"]  # warm-up first, then A B interleaved
    assert pairs == [(1.0, 2.0)] * 3


def test_goals_and_table_structure():
    rows = [Row("1", "lower is better", [1.2, 0.9, 1.0], "<= 1.05", load=LoadWindow((1.0, 1, 1))),
            Row("4", "higher is better", [0.8, 0.85], ">= 0.9"),
            Row("6a", "a time", [700.0], "<= 600", unit="s"),
            Row("2", "not run", [], "<= 0.8", skipped="lm-eval is not installed")]
    assert [r.met() for r in rows] == [True, False, False, None]
    cells = _table_rows(table(rows))
    assert all(len(c) == len(COLUMNS) for c in cells)
    assert cells[0][:8] == ["1", "lower is better", "1.000", "0.900", "1.200", "3", "<= 1.05", "yes"]
    assert cells[1][2:8] == ["0.825", "0.800", "0.850", "2", ">= 0.9", "**no**"]
    assert cells[2][2] == "700 s" and cells[2][6] == "<= 600 s" and cells[2][7] == "**no**"
    assert cells[3][5] == "0" and cells[3][7].startswith("not measured: lm-eval")


def test_report_is_written_atomically_and_keeps_its_rows(tmp_path: Path):
    rows = [Row("3", "warm / cold", [0.02, 0.04, 0.03], "<= 0.03", load=LoadWindow((1.5, 1, 1)),
                details=["median seconds: first 40, second 1.2"])]
    rows[0].load.close()
    text = render(rows, machine_facts(), "tox -e bench", ["3: limit 8"], ["shared machine"])
    out = tmp_path / "BENCHMARKS.md"
    write_atomic(out, text + "\n" + row_data(rows))
    assert [p.name for p in tmp_path.iterdir()] == ["BENCHMARKS.md"]  # no temporary file left
    written = out.read_text()
    assert "Regenerate: `tox -e bench`" in written and "- cores: " in written
    assert "median seconds: first 40, second 1.2" in written
    again = previous_rows(out)
    assert [(r.key, r.samples, r.goal) for r in again] == [("3", [0.02, 0.04, 0.03], "<= 0.03")]
    assert again[0].load.start[0] == 1.5 and again[0].met() is True
    # --render rewrites the report from its stored rows, adding notes that later runs keep
    assert main(["--render", "--out", str(out), "--note", "row 6 ran beside rows 1-5"]) == 0
    rendered = out.read_text()
    assert "- row 6 ran beside rows 1-5" in rendered and "- shared machine" not in rendered
    assert [r.samples for r in previous_rows(out)] == [[0.02, 0.04, 0.03]]
    assert previous_notes(out) == ["row 6 ran beside rows 1-5"]


def test_a_stopped_run_is_a_lower_bound():
    capped = Row("6a", "cold", [1200.0], "<= 600", unit="s", bound=">")
    assert capped.met() is False and capped.cells()[2] == "> 1200 s"
    early = Row("6a", "cold", [15.0], "<= 600", unit="s", bound=">")
    assert early.met() is None and early.cells()[7] == "unknown"  # stopped below the goal


def test_lm_eval_task_export(tmp_path: Path):
    data = lmeval.export_task(tmp_path, ["t1", "t2"], ["<|im_start|>user\nhi<|im_end|>\n", "b"],
                              ["refund_request", "other"], 16, "<|im_end|>")
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    assert rows[0] == {"id": "t1", "prompt": "<|im_start|>user\nhi<|im_end|>\n",
                       "target": "refund_request"}
    config = json.loads((tmp_path / f"{lmeval.TASK_NAME}.yaml").read_text())
    assert config["dataset_kwargs"]["data_files"]["test"] == str(data)
    assert config["generation_kwargs"] == {"until": ["<|im_end|>"], "max_gen_toks": 16,
                                           "do_sample": False}
    if importlib.util.find_spec("lm_eval") is None:
        return  # lm-eval is installed by `tox -e bench` only
    from lm_eval.tasks import TaskManager

    tasks = TaskManager(include_path=str(tmp_path)).load([lmeval.TASK_NAME])
    assert lmeval.TASK_NAME in str(tasks)


@pytest.mark.skipif(importlib.util.find_spec("chromadb") is None
                    or importlib.util.find_spec("sentence_transformers") is None,
                    reason="needs the rag extra")
def test_quickest_real_measurement_writes_the_report(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(measure, "QUICK", replace(measure.QUICK, index_docs=16, index_reps=1))
    out = tmp_path / "BENCHMARKS.md"
    assert main(["--quick", "--only", "4", "--out", str(out), "--work", str(tmp_path / "w")]) == 0
    text = out.read_text()
    (row,) = _table_rows(text)
    assert row[0] == "4" and row[5] == "1" and row[6] == ">= 0.9"
    assert float(row[2]) > 0 and row[7] in ("yes", "**no**")
    assert re.search(r"\d+(\.\d+)? → \d+(\.\d+)?", row[8])  # load at start and end
    assert "16 documents -> 16 chunks" in text
    assert [r.key for r in previous_rows(out)] == ["4"]


def test_rows_wait_for_other_processes_to_go_quiet_and_say_when_they_were_busy():
    from bench.timing import LoadWindow, wait_for_quiet

    readings = iter([1.9, 0.8, 0.3])  # cores other processes used, one reading per window
    slept: list[float] = []
    assert wait_for_quiet(60, lambda: next(readings), slept.append, poll_s=15) == (True, 0.3)
    assert slept == [15, 15]
    # Still busy when the wait runs out: not quiet, with the last reading.
    assert wait_for_quiet(30, lambda: 1.2, lambda s: None, poll_s=15) == (False, 1.2)
    assert wait_for_quiet(30, lambda: None, lambda s: None) == (True, None)  # nothing to read
    # A row's own work raises the load average; only other processes make a row busy.
    assert LoadWindow((0.2, 0, 0), (1.9, 0, 0), 0.04).text() == "0.2 → 1.9; others 0.04"
    assert LoadWindow((1.9, 0, 0), (2.0, 0, 0), 0.71).text() == (
        "1.9 → 2.0; others 0.71 (busy: other processes)")
    # rows stored before `others` was measured fall back to the load average at their start
    assert LoadWindow((0.7, 0, 0), (0.9, 0, 0)).text() == "0.7 → 0.9 (busy at start)"
    assert LoadWindow((0.2, 0, 0), (1.9, 0, 0)).text() == "0.2 → 1.9"


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/stat")
def test_other_processes_cpu_counts_a_busy_neighbour_but_not_the_bench_or_its_children():
    from bench.timing import CpuSample, others_now

    began = CpuSample.now()
    until = time.monotonic() + 1.0
    while time.monotonic() < until:  # the bench's own work
        pass
    subprocess.run([sys.executable, "-c", SPIN.format(seconds=1.0)], check=True)  # a row's child
    done = CpuSample.now()
    assert done.own - began.own > 1.5  # both counted as the bench's own CPU
    assert done.others_since(began) < 0.5
    neighbour = subprocess.Popen([sys.executable, "-c", SPIN.format(seconds=30)])
    try:
        time.sleep(0.5)
        others = others_now(2.0)  # a process the bench did not wait for is another job
    finally:
        neighbour.kill()
        neighbour.wait()
    assert others is not None and others > 0.7


SPIN = "import time\nuntil = time.monotonic() + {seconds}\nwhile time.monotonic() < until:\n    pass\n"


def test_row_1b_runs_only_when_asked_for_and_rounds_set_every_long_paired_row():
    from bench.run import parse_args

    assert parse_args([]).with_1b is False
    asked = parse_args(["--only", "1b"])
    assert asked.with_1b and asked.names == ["generation"]
    assert parse_args(["--only", "1"]).with_1b is False
    once = measure.FULL.with_rounds(1)
    assert (once.gen_reps, once.lmeval_reps, once.lora_rounds, once.load_reps,
            once.speed_rounds) == (1, 1, 1, 1, 1)
    assert once.lora_steps == measure.FULL.lora_steps and once.speed_samples == 100  # sizes kept
    with pytest.raises(SystemExit):
        parse_args(["--rounds", "0"])


def test_row_9_floor_counts_the_matmuls_the_model_runs(smol):
    """prompt_flops' linear part is what torch's profiler counts for a forward pass over the
    prompt (less the output layer's one position), and a shared prefix is counted once."""
    import torch
    from torch.profiler import profile

    from bench.strategy_speed import prompt_flops
    from harness.types import GenerationRequest

    system = {"role": "system", "content": "Reply with the colour named in the message. " * 4}
    one = [GenerationRequest((system, {"role": "user", "content": "The sky is blue."}), 4)]
    counted = prompt_flops(smol, one)
    model, tok = smol.load()
    ids = tok([smol.render(one[0])], add_special_tokens=False)["input_ids"][0]
    assert counted["tokens"] == len(ids)
    with torch.inference_mode(), profile(with_flops=True) as prof:
        model(input_ids=torch.tensor([ids]), logits_to_keep=1)
    matmuls = sum(e.flops for e in prof.key_averages() if e.key in ("aten::mm", "aten::addmm"))
    head = 2 * model.config.hidden_size * model.config.vocab_size
    assert matmuls - head == counted["linear_flops"]
    assert counted["flops"] > counted["linear_flops"]  # attention on top

    two = one + [GenerationRequest((system, {"role": "user", "content": "Grass: green"}), 4)]
    both = prompt_flops(smol, two)
    lengths = [len(x) for x in tok([smol.render(r) for r in two], add_special_tokens=False)
               ["input_ids"]]
    assert both["shared_prefix"] > 20
    assert both["tokens"] == sum(lengths) - both["shared_prefix"]


def test_row_9_is_dated_as_every_row_is_so_the_reports_span_includes_it():
    from bench.report import MEASURED
    from bench.speed import _speed_row

    side = {"seconds": 10.0, "cpu_seconds": 12.0, "queries": 4, "answers": ["a"] * 4,
            "threads": 1, "workers": 2, "dtype": "fp32", "batch_size": 8,
            "prompt_flops": {"flops": 10**12, "tokens": 900, "shared_prefix": 800,
                             "linear_weights": 106 * 10**6}}
    row = _speed_row("b", "rag", [(dict(side, seconds=30.0), side)], LoadWindow(), (1e11, "x"))
    assert row.details[0].startswith(MEASURED)
    page = render([row], {"date": "1999-01-01"}, "python -m bench", [])
    assert "Measured: " + row.details[0].removeprefix(MEASURED) in page
    assert "at most 3.00x" in row.details[-1]  # 30 s before / (1 TFLOP at 100 GFLOP/s)
