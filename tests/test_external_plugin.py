"""Task plugins from other packages, as a user installs them: found through the `rvf.plugins`
entry point, listed and run by the `rvf` CLI; broken plugins are reported by name.

No pip: each plugin is made "installed" by writing its dist-info metadata into a temporary folder
on PYTHONPATH (tests/conftest.py: write_dist_info). The example plugin's run through the pytest
fixture `rvf_cell` is in tests/test_pytest_plugin.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLE_QA, write_dist_info


def rvf(paths: list[Path], *args: str) -> subprocess.CompletedProcess:
    """`rvf ARGS` in a subprocess that sees the plugins under `paths`; output flattened: table
    borders and line wrapping become single spaces."""
    env = {**os.environ, "COLUMNS": "250", "PYTHONPATH": os.pathsep.join(map(str, paths))}
    done = subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, env=env, timeout=900)
    done.stdout, done.stderr = _flat(done.stdout), _flat(done.stderr)
    return done


def _flat(text: str) -> str:
    return " ".join(re.sub(r"[│┃]", " ", text).split())


def test_example_plugin_is_listed_and_runs_under_every_strategy(example_plugin, tmp_path):
    listed = rvf(example_plugin, "list")
    assert listed.returncode == 0, listed.stderr
    assert "language_id rvf-example-plugin:language_id" in listed.stdout
    assert "failed" not in listed.stdout

    results = tmp_path / "results"
    # prompt and rag (a label task without corpus: rag retrieves the nearest labelled train
    # sentences); lora with one training step of 2 sentences, enough to show it runs (~20 s).
    done = rvf(example_plugin, "run", "--task", "language_id", "--strategy", "prompt",
               "--strategy", "rag", "--strategy", "lora", "--limit", "4", "--results",
               str(results), "--strategy-arg", "prompt.k=2", "--strategy-arg", "rag.k=2",
               "--strategy-arg", "lora.max_steps=1", "--strategy-arg", "lora.batch_size=2")
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in (results / "cells").glob("*.json")]
    assert sorted(r["strategy"]["name"] for r in records) == ["lora", "prompt", "rag"]
    assert {(r["task"]["name"], r["task"]["n"], r["primary_metric"]) for r in records} == {
        ("language_id", 4, "macro_f1")}
    assert all(r["metrics"]["macro_f1"]["value"] is not None for r in records)
    assert "## language_id (v1)" in (results / "LEADERBOARD.md").read_text()


def test_example_strategy_is_listed_and_runs(example_strategy, tmp_path):
    """The external strategy of examples/rvf-example-strategy: listed with its origin, planned
    on --model by its declared role, and run end to end into a record."""
    listed = rvf(example_strategy, "list")
    assert listed.returncode == 0, listed.stderr
    assert "user_turn_prompt rvf-example-strategy:user_turn_prompt" in listed.stdout
    results = tmp_path / "results"
    done = rvf(example_strategy, "run", "--strategy", "user_turn_prompt", "--limit", "4",
               "--strategy-arg", "user_turn_prompt.k=2", "--results", str(results))
    assert done.returncode == 0, done.stderr[-3000:]
    [record] = [json.loads(p.read_text()) for p in (results / "cells").glob("*.json")]
    assert record["strategy"] == {"name": "user_turn_prompt", "args": {"k": 2}}
    assert record["model"]["spec"] == "local/smollm2-135m-instruct"
    assert len(record["prepare"]["few_shot_ids"]) == 2
    assert record["metrics"]["macro_f1"]["value"] is not None


def code_lines(path: Path) -> int:
    """Lines of code in a module: not blank, not a comment, not inside a docstring."""
    import ast

    tree = ast.parse(path.read_text())
    doc_lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) \
                and ast.get_docstring(node) is not None:
            doc_lines.update(range(node.body[0].lineno, node.body[0].end_lineno + 1))
    return sum(1 for i, line in enumerate(path.read_text().splitlines(), 1)
               if line.strip() and not line.strip().startswith("#") and i not in doc_lines)


def test_example_qa_plugin_is_40_lines_and_runs_prompt_and_rag(example_qa, tmp_path):
    """A free-text QA task with its own corpus, in at most 40 lines of code (`qa_task`): listed,
    run under prompt and rag, scored with token-F1 and, for rag, retrieval against its gold
    sections; the question ids of its data are the sample ids of the predictions."""
    module = EXAMPLE_QA / "src" / "rvf_example_qa" / "__init__.py"
    assert code_lines(module) <= 40
    listed = rvf(example_qa, "list")
    assert listed.returncode == 0 and "volunteer_faq rvf-example-qa:volunteer_faq" in listed.stdout
    results = tmp_path / "results"
    done = rvf(example_qa, "run", "--task", "volunteer_faq", "--strategy", "prompt",
               "--strategy", "rag", "--strategy-arg", "k=1", "--limit", "4",
               "--results", str(results))
    assert done.returncode == 0, done.stderr[-3000:]
    records = {r["strategy"]["name"]: r for r in
               (json.loads(p.read_text()) for p in (results / "cells").glob("*.json"))}
    assert set(records) == {"prompt", "rag"}
    assert all(r["primary_metric"] == "token_f1" and r["metrics"]["token_f1"]["value"] is not None
               for r in records.values())
    assert records["rag"]["metrics"]["recall_at_k"]["value"] is not None
    assert records["prompt"]["metrics"]["recall_at_k"]["value"] is None  # nothing retrieved
    rows = (results / "cells" / records["rag"]["predictions_file"]).read_text().splitlines()
    assert {json.loads(r)["sample_id"] for r in rows} <= {f"vf-{i:02d}" for i in range(11, 21)}
    assert "## volunteer_faq (v1)" in (results / "LEADERBOARD.md").read_text()


def test_example_strategy_sends_no_system_turn(example_strategy, monkeypatch):
    for path in example_strategy:
        monkeypatch.syspath_prepend(str(path))
    from rvf_example_strategy import user_turn_prompt

    from harness.registry import default_registry
    from harness.types import PrepareContext

    task = default_registry().make("task", "ticket_categorization")
    strategy = user_turn_prompt(k=2)
    strategy.prepare(task, None, PrepareContext(seed=0))
    [(request, _)] = strategy.requests(task, task.splits["test"][:1])
    roles = [m["role"] for m in request.messages]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    assert request.messages[0]["content"].startswith(task.instructions)
    assert request.messages[-1]["content"] == task.splits["test"][0].text


PLUGINS = {
    # distribution name -> (entry point name, module name, module source)
    "broken-plugin": ("broken", "rvf_broken_plugin", "import rvf_no_such_dependency  # noqa\n"),
    "dup-plugin": ("dup", "rvf_dup_plugin", (
        "def register(registry):\n"
        "    registry.task('ticket_categorization', lambda: None)\n")),
    "missing-data-plugin": ("missing", "rvf_missing_data_plugin", (
        "from pathlib import Path\n"
        "from harness.tasklib import classification_task, load_labelled_file\n"
        "DATA = Path(__file__).parent / 'missing_data'\n"
        "def missing_data():\n"
        "    '''A task whose data files were not shipped.'''\n"
        "    return classification_task('missing_data', '1',\n"
        "        load_labelled_file(DATA / 'train.jsonl', 'train'),\n"
        "        load_labelled_file(DATA / 'test.jsonl', 'test'))\n"
        "def register(registry):\n"
        "    registry.task('missing_data', missing_data)\n")),
}


def test_plugin_errors_name_the_plugin_and_other_tasks_still_work(example_plugin, tmp_path):
    folder = tmp_path / "plugins"
    for dist, (entry, module, source) in PLUGINS.items():
        write_dist_info(folder, dist, {entry: f"{module}:register"})
        (folder / f"{module}.py").write_text(source)
    paths = [folder, *example_plugin]

    listed = rvf(paths, "list")
    assert listed.returncode == 0, listed.stderr
    assert ("plugin broken-plugin:broken (rvf_broken_plugin:register) failed: No module named "
            "'rvf_no_such_dependency'") in listed.stdout
    assert ("plugin dup-plugin:dup (rvf_dup_plugin:register) failed: duplicate task name "
            "'ticket_categorization': registered by rvf:ticket_categorization and again by "
            "dup-plugin:dup") in listed.stdout
    for task, origin in [("ticket_categorization", "rvf:ticket_categorization"),
                         ("language_id", "rvf-example-plugin:language_id"),
                         ("missing_data", "missing-data-plugin:missing")]:
        assert f"{task} {origin}" in listed.stdout

    missing = rvf(paths, "run", "--task", "missing_data", "--results", str(tmp_path / "r1"))
    assert missing.returncode == 2, missing.stderr
    assert "error: task 'missing_data' (plugin missing-data-plugin:missing):" in missing.stderr
    assert "missing_data/train.jsonl" in missing.stderr

    # The same cell as tests/test_pytest_plugin.py: answered from the session's request cache.
    other = rvf(paths, "run", "--task", "language_id", "--limit", "4", "--strategy-arg", "k=2",
                "--results", str(tmp_path / "r2"))
    assert other.returncode == 0, other.stderr[-3000:]
    assert "warning: plugin broken-plugin:broken" in other.stderr
    assert (tmp_path / "r2" / "LEADERBOARD.md").is_file()
