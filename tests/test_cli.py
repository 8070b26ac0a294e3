"""`rvf` end to end in subprocesses, as a user runs it: real model, real files, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BANKING77

RVF = [sys.executable, "-m", "harness"]


def rvf(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*RVF, *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=900)


def records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results / "cells").glob("*.json"))]


def test_list_shows_origins():
    done = rvf("list")
    assert done.returncode == 0, done.stderr
    assert "ticket_categorization" in done.stdout and "rvf:ticket_categorization" in done.stdout
    assert "prompt" in done.stdout and "local/..." in done.stdout and "hf/..." in done.stdout


def test_list_prints_full_origins_on_a_narrow_terminal():
    done = subprocess.run([*RVF, "list"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "40"})
    assert done.returncode == 0, done.stderr
    assert "│ ticket_categorization │ rvf:ticket_categorization │" in done.stdout


def test_run_then_rerun_makes_no_model_calls(tmp_path):
    results = tmp_path / "results"
    first = rvf("run", "--strategy", "prompt",
                "--limit", "12", "--results", str(results), "--strategy-arg", "k=2")
    assert first.returncode == 0, first.stderr[-3000:]
    [rec] = records(results)
    assert rec["task"]["name"] == "ticket_categorization" and rec["task"]["n"] == 12
    assert rec["strategy"] == {"name": "prompt", "args": {"k": 2}}
    assert rec["usage"]["model_calls"] == 12 and rec["usage"]["cache_hits"] == 0
    for name in ("accuracy", "macro_f1"):
        m = rec["metrics"][name]
        assert m["ci_low"] <= m["value"] <= m["ci_high"]
    preds = (results / "cells" / rec["predictions_file"]).read_text().splitlines()
    assert len(preds) == 12 and all("raw" in json.loads(p) for p in preds)
    board = (results / "LEADERBOARD.md").read_text()
    assert "## ticket_categorization" in board
    assert "test-" in (results / "report.html").read_text()  # the HTML report, with its samples
    assert "| 1 | prompt | local/smollm2-135m-instruct [constrained: labels] |" in board

    # Piped with no COLUMNS (a CI log), the summary table keeps a row per line: rich alone would
    # wrap every cell at 80 columns.
    second = subprocess.run([*RVF, "run", "--strategy", "prompt", "--limit", "12", "--results",
                             str(results), "--strategy-arg", "k=2"], capture_output=True, text=True,
                            env={k: v for k, v in os.environ.items() if k != "COLUMNS"}, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "model calls: 0" in second.stderr and "reused" in second.stderr
    m = rec["metrics"]["macro_f1"]
    row = (f"prompt k=2 │ local/smollm2-135m-instruct │ {m['value']:.3f} "
           f"[{m['ci_low']:.3f}, {m['ci_high']:.3f}] │ 12 ")
    assert any(row in line and line.rstrip().endswith("reused │")
               for line in second.stderr.splitlines()), second.stderr[-2000:]

    # Recomputing the cell answers every request from the request cache.
    forced = rvf("run", "--strategy", "prompt",
                 "--limit", "12", "--results", str(results), "--strategy-arg", "k=2",
                 "--force")
    assert forced.returncode == 0, forced.stderr[-3000:]
    [again] = records(results)
    assert again["usage"]["model_calls"] == 0 and again["usage"]["cache_hits"] == 12
    assert again["metrics"] == rec["metrics"]


@pytest.mark.parametrize("args, message", [
    (["--task", "ticket_categorisation"], "did you mean ticket_categorization"),
    (["--strategy", "promt"], "did you mean prompt"),
    (["--model", "locl/smollm2-135m-instruct"], "did you mean local"),
    (["--model", "local/smollm2"], "did you mean local/smollm2-135m-instruct"),
    (["--model", "smollm2"], "must look like <backend>/<name>"),
    (["--strategy-arg", "kk=3"], "has no argument 'kk'; did you mean k"),
    (["--task-arg", "data=/nonexistent/dir"], "does not exist"),
    (["--limit", "0"], "--limit"),
    (["--task-arg", "n_train=abc"],
     "task 'ticket_categorization' argument 'n_train': expected a whole number or none, got 'abc'"),
    # A scope that names nothing in the run used to be dropped: the wrong data, exit 0.
    (["--task-arg", "ticket_categorisation.data=/x"],
     "no task named 'ticket_categorisation'; did you mean ticket_categorization"),
    (["--strategy-arg", "promt.k=1"], "no strategy named 'promt'; did you mean prompt"),
    (["--strategy", "prompt", "--strategy-arg", "rag.k=1"], "strategy 'rag' is not in this run"),
    (["--task-arg", "../../x=1"], "no task named '../.'"),
    (["--task-arg", "ticket_categorization.=1"], "expects [NAME.]KEY=VALUE"),
    (["--backend-arg", "opnai.base_url=http://127.0.0.1:9"], "no backend named 'opnai'"),
    # lora settings that can train nothing, or only diverge.
    (["--strategy", "lora", "--strategy-arg", "lora.epochs=0"], "lora: epochs must be > 0, got 0"),
    (["--strategy", "lora", "--strategy-arg", "lora.learning_rate=-1e-4"],
     "lora: learning_rate must be a finite number > 0, got -0.0001"),
    # Found after the results dir was probed: no empty cells/ is left behind.
    (["--task", "hr_policy_qa", "--constrain", "labels"], "hr_policy_qa"),
])
def test_bad_usage_exits_2(tmp_path, args, message):
    done = rvf("run", "--results", str(tmp_path), *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "cells").exists()


def test_run_with_no_task_strategy_or_model_is_the_demo_and_options_adjust_it(tmp_path):
    import json

    from harness.cli import DEMO_LIMIT, DEMO_STRATEGIES, DEMO_STRATEGY_ARGS

    done = rvf("run", "--plan", "--results", str(tmp_path))
    assert done.returncode == 0, done.stderr
    cells = [json.loads(line) for line in done.stdout.splitlines()]
    assert [c["spec"]["strategy"] for c in cells] == list(DEMO_STRATEGIES)
    assert {c["n"] for c in cells} == {DEMO_LIMIT} and "demo:" in done.stderr
    (lora,) = [c for c in cells if c["spec"]["strategy"] == "lora"]
    assert str(lora["spec"]["strategy_args"]["train_size"]) == DEMO_STRATEGY_ARGS["lora"]["train_size"]
    # The user's --limit and lora budget win; naming a strategy leaves the demo.
    done = rvf("run", "--plan", "--results", str(tmp_path), "--limit", "20",
               "--strategy-arg", "lora.train_size=100")
    cells = [json.loads(line) for line in done.stdout.splitlines()]
    assert {c["n"] for c in cells} == {20}
    assert [str(c["spec"]["strategy_args"]["train_size"]) for c in cells
            if c["spec"]["strategy"] == "lora"] == ["100"]
    done = rvf("run", "--plan", "--results", str(tmp_path), "--strategy", "rag")
    assert [json.loads(line)["spec"]["strategy"] for line in done.stdout.splitlines()] == ["rag"]
    assert "demo:" not in done.stderr


def test_train_size_above_the_train_split_is_all_of_it_with_a_note(tmp_path):
    done = rvf("run", "--plan", "--results", str(tmp_path), "--strategy", "lora",
               "--strategy-arg", "lora.train_size=50000")
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stderr.split())
    assert ("note: lora: train_size=50000 is above the 10003 train samples of "
            "ticket_categorization; training on all 10003") in said


def test_malformed_data_file_exits_2_naming_file_and_line(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\nhello,a\nbye,b\n")
    (tmp_path / "test.csv").write_text('text,label\nhi,a\n"unterminated,b\n')
    done = rvf("run", "--strategy", "prompt",
               "--results", str(tmp_path / "r"), "--task-arg", f"data={tmp_path}")
    assert done.returncode == 2
    assert "test.csv" in done.stderr


def test_banking77_user_data_runs(tmp_path):
    results = tmp_path / "r"
    done = rvf("run", "--strategy", "prompt", "--results", str(results), "--task-arg", f"data={BANKING77}",
               "--limit", "8", "--strategy-arg", "k=1")
    assert done.returncode == 0, done.stderr[-3000:]
    [rec] = records(results)
    assert rec["task"]["n"] == 8 and len(rec["task"]["dataset_sha256"]) == 64
    targets = {json.loads(line)["target"] for line in
               (results / "cells" / rec["predictions_file"]).read_text().splitlines()}
    assert len(targets) > 4  # a random subset, not the first rows of a label-sorted file


def test_unseen_test_labels_exit_2_with_the_count(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train.csv").write_text("text,label\nmy card is lost,lost_card\nrefund me,refund\n")
    (folder / "test.csv").write_text("text,label\nwhere is my card,lost_card\n"
                                     "app crashes,app_bug\napp freezes,app_bug\n")
    done = rvf("run", "--strategy", "prompt",
               "--results", str(tmp_path / "r"), "--task-arg", f"data={folder}")
    assert done.returncode == 2, done.stderr[-2000:]
    message = " ".join(done.stderr.split())
    assert "2 test samples have a label that never occurs in train" in message
    assert "'app_bug' (2)" in message and "allow_unseen_labels=true" in message
    assert not (tmp_path / "r" / "cells").exists() or not list((tmp_path / "r" / "cells").iterdir())
