"""`rvf report`: the page's data from hand-made records, its escaping, and the page itself in a
real headless Chromium (sorting, filtering and a sample's detail through the page's controls)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.records import write_record
from harness.report import json_for_script, report_data, write_report
from tests import browser
from tests.test_records import make_record

HOSTILE = "<script>window.__pwned = 1</script>\"'&<img src=x onerror=\"window.__pwned=2\">"


def rows_for(answers: list[str | None], targets: list[str], extra: dict | None = None
             ) -> list[dict]:
    return [{"sample_id": f"s{i:03d}", "target": t, "input": f"ticket {i}: {t}?",
             "raw": a or "???", "answer": a, "valid": a is not None, "error": None,
             "score": float(a == t), "input_tokens": 50, "output_tokens": 3,
             "latency_s": 0.25, **({"extra": extra} if extra else {})}
            for i, (a, t) in enumerate(zip(answers, targets, strict=True))]


def write_cell(results: Path, key: str, strategy: str, rows: list[dict], model: str = "local/m",
               details: dict | None = None) -> None:
    record = make_record(key, strategy, sum(r["score"] for r in rows) / len(rows))
    record.task.n = len(rows)
    record.model.spec = model
    record.details = details or {}
    write_record(results, record, rows)


TARGETS = ["refund", "refund", "late", "late", "other", "other"]


@pytest.fixture
def results(tmp_path: Path) -> Path:
    write_cell(tmp_path, "aaa", "prompt", rows_for(
        ["refund", "late", "late", None, "other", "other"], TARGETS),
        details={"confused_pairs": [{"gold": "refund", "predicted": "late", "count": 1}]})
    write_cell(tmp_path, "bbb", "rag", rows_for(
        ["refund", "refund", "late", "late", "other", "refund"], TARGETS,
        extra={"retrieved": [{"id": "d1#0", "doc": "d1", "score": 0.5}], "contexts": ["doc one"]}))
    return tmp_path


def test_page_data_has_the_leaderboard_rows_and_every_sample_across_strategies(results):
    [table] = report_data(results)["tables"]
    assert table["primary"] == "macro_f1" and table["header"][:3] == ["#", "strategy", "model"]
    assert [r[1] for r in table["rows"]] == ["rag", "prompt"]  # ranked as the leaderboard ranks
    assert [c["key"] for c in table["columns"]] == ["bbb", "aaa"]
    by_id = {s["id"]: s for s in table["samples"]}
    assert len(by_id) == 6 and by_id["s003"]["input"] == "ticket 3: late?"
    rag, prompt = by_id["s003"]["cells"]
    assert (rag["st"], prompt["st"]) == ("right", "invalid") and prompt["a"] is None
    assert by_id["s001"]["cells"][1]["st"] == "wrong"
    assert rag["x"]["contexts"] == ["doc one"]
    assert table["confusion"] == [{"row": "#2 prompt / local/m",
                                   "pairs": [{"gold": "refund", "predicted": "late", "count": 1}]}]


def test_script_data_cannot_close_its_element():
    text = json_for_script({"a": HOSTILE, "b": "\u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": HOSTILE, "b": "\u2028"}


def test_rvf_report_writes_one_self_contained_file(results):
    done = subprocess.run([sys.executable, "-m", "harness", "report", "--results", str(results)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    page = (results / "report.html").read_text()
    assert "report.html" in done.stderr
    assert "http://" not in page and "https://" not in page  # nothing fetched from anywhere
    assert page.count("<script") == 2  # the data block and the page's own script


needs_browser = pytest.mark.skipif(browser.available() is not None,
                                   reason=f"browser test: {browser.available()}")


@needs_browser
def test_page_sorts_filters_and_opens_a_sample_in_chromium(results, tmp_path):
    path = write_report(results)
    artefacts = Path(os.environ.get("RVF_TEST_ARTIFACTS") or tmp_path / "artefacts")
    with browser.Browser() as page:
        page.open(path.as_uri())
        # Sort the leaderboard by strategy name (a click on its header), then back.
        header = page.find("#leaderboard-0 th[data-col='1']")
        header.click()
        strategies = [c.text for c in page.find_all("#leaderboard-0 tbody td:nth-child(2)")]
        assert strategies == ["prompt", "rag"]
        header.click()
        strategies = [c.text for c in page.find_all("#leaderboard-0 tbody td:nth-child(2)")]
        assert strategies == ["rag", "prompt"]
        # Filter to the samples where the strategies answered differently.
        page.select("#sample-filter", "disagree")
        shown = [r.attribute("data-sample") for r in page.find_all("#samples tbody tr")]
        assert shown == ["s001", "s003", "s005"]
        assert page.find("#page-info").text.startswith("3 of 6 samples")
        # Open one: prompt's answer to s003 was outside the label set.
        page.find("#samples tr[data-sample='s003'] td[data-column='1']").click()
        detail = page.find("#detail").text
        assert "s003 — #2 prompt / local/m" in detail and "(invalid" in detail
        assert "ticket 3: late?" in detail and "input 50, output 3; 0.25 s" in detail
        page.screenshot(artefacts / "report-per-sample.png")


@needs_browser
def test_hostile_text_in_every_field_is_shown_never_run(tmp_path):
    rows = rows_for([HOSTILE, "late"], [HOSTILE, "late"])
    rows[0]["raw"] = rows[0]["input"] = HOSTILE
    rows[0]["fields"] = {HOSTILE: HOSTILE}
    write_cell(tmp_path, "ccc", HOSTILE, rows, model=f"openai/{HOSTILE}",
               details={"confused_pairs": [{"gold": HOSTILE, "predicted": HOSTILE, "count": 1}]})
    path = write_report(tmp_path)
    with browser.Browser() as page:
        page.open(path.as_uri())
        page.find("#samples tr[data-sample='s000'] td[data-column='0']").click()
        assert page.run_js("return window.__pwned === undefined")
        assert page.run_js("return document.querySelectorAll('script').length") == 2
        assert page.run_js("return document.querySelectorAll('img[src=x]').length") == 0
        assert HOSTILE in page.find("#detail").text  # shown as text
        assert HOSTILE in page.find("#leaderboard-0").text
