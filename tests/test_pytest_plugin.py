"""The rvf pytest plugin, black-box: pytest sessions run inside these tests with `pytester`.

Sessions that run cells are subprocesses. They use the example plugin's `language_id` task (short
prompts: a cell of 4 samples on the bundled SmolLM2 takes seconds) and all ask for the same cell,
so the request cache shared by the test session computes it once. Collection-only sessions cover
ids, markers and errors in-process, without a model.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT

# The one cell the real runs share: language_id / prompt with 2 few-shot examples / 4 samples.
CELL_TEST = """
def test_fixture(rvf_cell):
    record = rvf_cell("language_id", "prompt", limit=4, strategy_args={"k": 2})
    assert record.metric("macro_f1") is not None
"""


@pytest.fixture(autouse=True, scope="module")
def _imported_once() -> None:
    """An in-process pytester session forgets the modules it imported when it ends, and numpy
    cannot be imported twice in one process: import what collection needs once, up front."""
    import harness.cell  # noqa: F401
    import harness.cli  # noqa: F401
    from harness.registry import default_registry

    default_registry()


@pytest.fixture
def with_example_plugin(example_plugin: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The example task plugin, discoverable in in-process and subprocess pytest runs."""
    for path in reversed(example_plugin):
        monkeypatch.syspath_prepend(str(path))
    monkeypatch.setenv("PYTHONPATH", ":".join(str(p) for p in example_plugin))


@pytest.fixture
def with_example_qa(example_qa: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The example QA task plugin, discoverable in subprocess pytest runs."""
    monkeypatch.setenv("PYTHONPATH", ":".join(str(p) for p in example_qa))


@pytest.mark.usefixtures("with_example_qa")
def test_the_example_qa_task_runs_through_the_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_qa(rvf_cell):
            record = rvf_cell("volunteer_faq", "prompt", limit=4, strategy_args={"k": 1})
            assert record.primary_metric == "token_f1"
            assert 0 <= record.metric("token_f1") <= 1
    """)
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=1)


def collected_ids(result: pytest.RunResult) -> list[str]:
    return [line.split("::", 1)[1] for line in result.outlines if "::" in line]


def test_marker_makes_one_item_per_cell_with_readable_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.rvf(tasks=["ticket_categorization", "hr_policy_qa"],
                         strategies=["prompt", "rag"])
        def test_grid(rvf_record):
            pass

        @pytest.mark.rvf(tasks=["ticket_categorization"], strategies=["prompt", "lora"],
                         models=["local/a", "local/b"],
                         strategy_args={"lora": {"train_size": "100,300"}})
        def test_models(rvf_record):
            pass
    """)
    result = pytester.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert collected_ids(result) == [
        "test_grid[ticket_categorization-prompt]",
        "test_grid[ticket_categorization-rag]",
        "test_grid[hr_policy_qa-prompt]",
        "test_grid[hr_policy_qa-rag]",
        "test_models[ticket_categorization-prompt-local/a]",
        "test_models[ticket_categorization-prompt-local/b]",
        # lora trains the small model (--rvf-small-model, default the bundled one).
        "test_models[ticket_categorization-lora-train_size=100-local/smollm2-135m-instruct]",
        "test_models[ticket_categorization-lora-train_size=300-local/smollm2-135m-instruct]",
    ]


def test_marker_mistakes_are_collection_errors_with_a_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_typo="""
            import pytest

            @pytest.mark.rvf(tasks=["ticket_categorisation"])
            def test_x(rvf_record):
                pass
        """,
        test_no_argument="""
            import pytest

            @pytest.mark.rvf(tasks=["ticket_categorization"])
            def test_y():
                pass
        """)
    result = pytester.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([
        "*ERROR collecting test_no_argument.py*",
        "rvf: test_y: @pytest.mark.rvf needs the test to take the argument rvf_record",
        "*ERROR collecting test_typo.py*",
        "rvf: unknown task 'ticket_categorisation'; did you mean ticket_categorization?",
    ])
    assert "During handling" not in result.stdout.str()


@pytest.mark.parametrize("args, message", [
    (["--rvf-compare-fail", "macro_f1"], "expects <metric>:<tolerance>"),
    (["--rvf-compare-fail", "macro_f1:-1"], "expects <metric>:<tolerance>"),
    (["--rvf-compare-fail", "macro_f1:0.05"], "needs --rvf-compare"),
    (["--rvf-compare", "nowhere"], "no cells/ folder"),
    (["--rvf-limit", "0"], "--rvf-limit must be at least 1"),
])
def test_bad_options_are_usage_errors(pytester: pytest.Pytester, args: list[str],
                                      message: str) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


@pytest.mark.usefixtures("with_example_plugin")
def test_run_writes_records_leaderboard_and_calls_hooks(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        import json
        from pathlib import Path

        LOG = Path(__file__).with_name("hooks.jsonl")

        import dataclasses

        def pytest_rvf_adjust_cell(spec):
            return dataclasses.replace(spec, strategy_args={**spec.strategy_args, "k": 2})

        def pytest_rvf_record_written(record, path, reused):
            with LOG.open("a") as fh:
                fh.write(json.dumps({"k": record.strategy.args["k"], "exists": path.is_file(),
                                     "reused": reused, "key": record.cell_key}) + "\\n")
    """)
    pytester.makepyfile("""
        import pytest

        @pytest.mark.rvf(tasks=["language_id"], strategies=["prompt"], limit=4)
        def test_marked(rvf_record):
            assert (rvf_record.task.name, rvf_record.task.n) == ("language_id", 4)

        def test_fixture(rvf_cell):
            assert rvf_cell("language_id", "prompt", limit=4).metric("macro_f1") is not None
    """)
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "*::test_marked[[]language_id-prompt[]] PASSED*",
        "*::test_fixture PASSED*",
        "rvf: 1 cell(s): 1 computed (* model calls), 0 reused, records in *results",
        f"rvf: leaderboard written to {pytester.path / 'results' / 'LEADERBOARD.md'} (1 rows)",
    ])
    board = (pytester.path / "results" / "LEADERBOARD.md").read_text()
    assert "## language_id (v1)" in board and "| 1 | prompt |" in board

    # The adjust hook ran before the key was computed (k=2 is in the record); the second test
    # found the record the first one wrote.
    calls = [json.loads(line) for line in (pytester.path / "hooks.jsonl").read_text().splitlines()]
    assert [(c["k"], c["exists"], c["reused"]) for c in calls] == [(2, True, False), (2, True, True)]
    assert calls[0]["key"] == calls[1]["key"]
    assert (pytester.path / "results" / "cells" / f"{calls[0]['key']}.json").is_file()


def _baseline(results: Path, folder: Path, edit) -> Path:
    """A baseline results dir: the one record under `results`, edited by `edit(dict)`."""
    [record] = [p for p in (results / "cells").glob("*.json")]
    data = json.loads(record.read_text())
    edit(data)
    (folder / "cells").mkdir(parents=True)
    (folder / "cells" / record.name).write_text(json.dumps(data))
    shutil.copy(results / "cells" / data["predictions_file"], folder / "cells")
    return folder


@pytest.mark.usefixtures("with_example_plugin")
def test_compare_fail_gates_fail_the_item_that_got_worse(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CELL_TEST)
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    results = pytester.path / "results"
    new = json.loads(next((results / "cells").glob("*.json")).read_text())

    def better_f1(data: dict) -> None:
        data["metrics"]["macro_f1"]["value"] += 0.5

    _baseline(results, pytester.path / "base", better_f1)
    dropped = pytester.runpytest_subprocess("--rvf-compare", "base", "--rvf-compare-fail", "macro_f1:0.05")
    dropped.assert_outcomes(failed=1)
    dropped.stdout.fnmatch_lines([
        "*rvf compare gate breached:*",
        f"*language_id/prompt/local/smollm2-135m-instruct/seed 0: macro_f1 dropped from "
        f"{new['metrics']['macro_f1']['value'] + 0.5:.4g} (baseline {new['cell_key']}) to "
        f"{new['metrics']['macro_f1']['value']:.4g}, worse by 0.5; tolerance 0.05 = 0.05*",
    ])

    # A relative tolerance wide enough passes; a figure no record has (a misspelt name) is a
    # usage error that lists the known figures, before anything runs.
    within = pytester.runpytest_subprocess("--rvf-compare", "base", "--rvf-compare-fail", "macro_f1:200%")
    within.assert_outcomes(passed=1)
    misspelt = pytester.runpytest_subprocess("--rvf-compare", "base", "--rvf-compare-fail",
                                             "macro-f1:2%")
    assert misspelt.ret == pytest.ExitCode.USAGE_ERROR
    misspelt.stderr.fnmatch_lines(["*gate macro-f1:2%: no figure named 'macro-f1'*known figures: "
                                   "*macro_f1*cost_per_1k_queries_usd*"])
    # A cell with no baseline record fails closed, unless --rvf-compare-allow-missing.
    def other_cell(data: dict) -> None:
        data["cell_key"], data["task"]["name"] = "1" * 24, "other_task"

    _baseline(results, pytester.path / "empty", other_cell)
    lonely = pytester.runpytest_subprocess("--rvf-compare", "empty", "--rvf-compare-fail",
                                           "macro_f1:0.05")
    lonely.assert_outcomes(failed=1)
    lonely.stdout.fnmatch_lines(["*no matching cell in*--allow-missing*"])
    allowed = pytester.runpytest_subprocess("--rvf-compare", "empty", "--rvf-compare-fail",
                                            "macro_f1:0.05", "--rvf-compare-allow-missing")
    allowed.assert_outcomes(passed=1)

    # A cost figure (lower is better), against a baseline found by task/strategy/model/seed
    # because its cell key differs (e.g. the weights fingerprint changed).
    def cheaper_other_key(data: dict) -> None:
        data["cell_key"] = "0" * 24
        data["usage"]["input_tokens_per_query"] /= 2

    _baseline(results, pytester.path / "base2", cheaper_other_key)
    rose = pytester.runpytest_subprocess("--rvf-compare", "base2",
                              "--rvf-compare-fail", "input_tokens_per_query:10%")
    rose.assert_outcomes(failed=1)
    assert re.search(r"input_tokens_per_query rose from [\d.]+ \(baseline 0{24}\)",
                     rose.stdout.str())


def test_plugin_is_inert_in_sessions_that_do_not_use_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import sys

        HEAVY = ("torch", "transformers", "chromadb", "sentence_transformers", "numpy",
                 "pydantic", "harness.runner", "harness.registry", "harness.records")

        def test_plain(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("rvf")
            assert [name for name in HEAVY if name in sys.modules] == []
    """)
    # Other installed plugins are switched off: langsmith's imports pydantic, which is not ours.
    result = pytester.runpytest_subprocess("-p", "no:langsmith_plugin", "-p", "no:anyio")
    result.assert_outcomes(passed=1)
    assert "rvf:" not in result.stdout.str()
    assert not (pytester.path / "results").exists()


def test_the_example_in_the_docs_collects_one_item_per_cell(pytester: pytest.Pytester) -> None:
    guide = (ROOT / "docs" / "pytest.md").read_text()
    example = re.search(r"```python\n(.*?)```", guide, re.S).group(1)
    pytester.makepyfile(test_benchmarks=example)
    result = pytester.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    ids = collected_ids(result)
    assert "test_quality[ticket_categorization-prompt]" in ids
    assert "test_quality[ticket_categorization-rag]" in ids


def _record(cost: float | None = None, **metrics: tuple[float, bool]):
    """A cell record with just the figures the gates read."""
    from harness.types import Metric
    from tests.test_records import make_record

    record = make_record("k" * 24, "s", None)
    record.cost_per_1k_queries_usd, record.usage.latency_p50_s = cost, 1.0
    record.metrics = {name: Metric(value=v, higher_is_better=hib)
                      for name, (v, hib) in metrics.items()}
    return record


@pytest.mark.parametrize("gate, baseline, new, verdict", [
    ("macro_f1:10%", _record(macro_f1=(0.5, True)), _record(macro_f1=(0.46, True)), "ok"),
    ("macro_f1:10%", _record(macro_f1=(0.5, True)), _record(macro_f1=(0.44, True)), "breach"),
    ("macro_f1:0", _record(macro_f1=(0.5, True)), _record(macro_f1=(0.9, True)), "ok"),
    # A metric where lower is better (its record says so): a rise is the regression.
    ("invalid_rate:0.05", _record(invalid_rate=(0.1, False)), _record(invalid_rate=(0.2, False)),
     "breach"),
    ("invalid_rate:0.05", _record(invalid_rate=(0.1, False)), _record(invalid_rate=(0.0, False)),
     "ok"),
    # Cost figures: lower is better; an unknown cost (None) is missing (a breach unless allowed).
    ("cost_per_1k_queries_usd:5%", _record(cost=1.0), _record(cost=1.2), "breach"),
    ("cost_per_1k_queries_usd:5%", _record(cost=1.0), _record(cost=None), "missing"),
    ("latency_p50_s:0", _record(), _record(), "ok"),
])
def test_gates_follow_each_figures_direction(gate, baseline, new, verdict):
    """The gates --rvf-compare-fail applies (harness/compare.py, shared with `rvf compare`)."""
    from harness.compare import Gate

    assert Gate.parse(gate).check(new, baseline)[0] == verdict


@pytest.mark.usefixtures("with_example_plugin")
def test_a_record_with_failed_samples_is_retried_as_rvf_run_retries_it(
        pytester: pytest.Pytester) -> None:
    """The plugin shares `rvf run`'s reuse rule (runner.run_cells): a complete record is reused,
    one with failed samples is computed again (its good answers come from the request cache)."""
    pytester.makepyfile(CELL_TEST)
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    [path] = (pytester.path / "results" / "cells").glob("*.json")
    again = pytester.runpytest_subprocess()
    again.assert_outcomes(passed=1)
    again.stdout.fnmatch_lines(["rvf: 1 cell(s): 0 computed (0 model calls), 1 reused, *"])
    data = json.loads(path.read_text())
    data["usage"]["errors"] = 1  # as if one sample had failed to generate
    path.write_text(json.dumps(data))
    retried = pytester.runpytest_subprocess()
    retried.assert_outcomes(passed=1)
    retried.stdout.fnmatch_lines(["rvf: 1 cell(s): 1 computed (0 model calls), 0 reused, *"])
    assert json.loads(path.read_text())["usage"]["errors"] == 0


def test_the_run_options_reach_the_plugin(pytester: pytest.Pytester) -> None:
    """--rvf-max-error-rate, --rvf-hardware-usd-per-hour and --rvf-prices become the session's
    RunOptions, as rvf run's options do."""
    prices = pytester.path / "prices.json"
    prices.write_text(json.dumps({"models": [{"model": "my-model", "input_per_1m": 1.0,
                                              "output_per_1m": 2.0, "endpoint": "http://x"}]}))
    pytester.makeconftest("""
        import pytest
        from harness.pytest_plugin import STATE

        @pytest.fixture
        def options(request):
            return request.config.stash[STATE].options()
    """)
    pytester.makepyfile("""
        def test_options(options):
            assert options.max_error_rate == 0.25
            assert options.hardware_usd_per_hour == 1.5
            assert options.prices.lookup("my-model", "http://x").output_per_1m == 2.0
    """)
    result = pytester.runpytest_subprocess("--rvf-max-error-rate", "0.25",
                                           "--rvf-hardware-usd-per-hour", "1.5",
                                           "--rvf-prices", "prices.json")
    result.assert_outcomes(passed=1)
