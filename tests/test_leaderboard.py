"""The leaderboard from hand-made records whose outcomes are worked out by hand below."""

from __future__ import annotations

import json
import subprocess
import sys
from math import comb
from pathlib import Path

import pytest

from harness.publish import write_leaderboard
from harness.records import read_record, sample_ids_sha256, write_record
from harness.scoring.paired import mcnemar_exact, paired_bootstrap_p
from harness.types import TrainingInfo
from tests.test_records import make_record

N = 100


def scores_with(right: set[int]) -> list[dict]:
    return [{"sample_id": f"s{i:03d}", "score": 1.0 if i in right else 0.0} for i in range(N)]


def add(results: Path, key: str, strategy: str, quality: float, right: set[int],
        cost_per_1k: float | None, training_usd: float | None = None, model: str = "openai/big",
        train_examples: int | None = None, k: int = 1, model_file_bytes: int | None = None) -> None:
    rec = make_record(key, strategy, quality)
    rec.strategy.args = {"k": k}
    rec.model.spec = model
    rec.model.identity = {"backend": model.split("/")[0]}
    rec.cost_per_1k_queries_usd = cost_per_1k
    rec.cost_usd = None if cost_per_1k is None else cost_per_1k * N / 1000
    if training_usd is not None:
        rec.training = TrainingInfo(kind="lora adapter", artifact=f"+ LoRA {(key * 8)[:8]}",
                                    training_cost_usd=training_usd, wall_seconds=5400,
                                    peak_rss_bytes=3 * 2**30,
                                    train_examples=train_examples or 2400,
                                    examples_seen=2 * (train_examples or 2400),
                                    steps=(train_examples or 2400) // 4)
    rec.model.file_bytes = model_file_bytes
    rec.labelled_examples = (train_examples or 2400) if training_usd is not None else k
    write_record(results, rec, scores_with(right))


@pytest.fixture
def board(tmp_path: Path) -> str:
    # Per-sample correctness: rag is right on 0-89, prompt on 0-79 plus 90-91, lora on 0-77.
    # rag vs prompt: rag alone right on 80-89 (b = 10), prompt alone on 90-91 (c = 2).
    add(tmp_path, "rag", "rag", 0.90, set(range(90)), cost_per_1k=3.0)
    add(tmp_path, "prm", "prompt", 0.80, set(range(80)) | {90, 91}, cost_per_1k=2.0)
    add(tmp_path, "lra", "lora", 0.78, set(range(78)), cost_per_1k=0.05, training_usd=1.5,
        model="local/small", model_file_bytes=98_362_432)
    add(tmp_path, "bad", "prompt", 0.50, set(range(50)), cost_per_1k=2.5, k=0)  # dominated
    path, rows, skipped = write_leaderboard(tmp_path)
    assert rows == 4 and skipped == []
    return path.read_text()


def table_rows(text: str, after: str = "## toy (v1") -> list[list[str]]:
    """The first table's rows after the heading `after`."""
    lines = text[text.index(after):].splitlines()
    first = next(i for i, ln in enumerate(lines) if ln.startswith("| "))
    end = next((i for i in range(first, len(lines)) if not lines[i].startswith("|")), len(lines))
    return [ln.strip("| ").split(" | ") for ln in lines[first:end] if ln[2].isdigit()]


def start_up_rows(text: str) -> list[list[str]]:
    return table_rows(text, "**Start-up costs and break-even:**")


def test_ranking_significance_and_costs(board: str) -> None:
    rows = table_rows(board)
    assert [(r[0], r[1]) for r in rows] == [("1", "rag"), ("2", "prompt"), ("3", "lora"),
                                             ("4", "prompt")]
    # McNemar exact, b = 10, c = 2: p = 2 * (C(12,0) + C(12,1) + C(12,2)) / 2^12 = 158 / 4096.
    assert rows[1][4] == f"p={158 / 4096:.3g} *"
    assert rows[0][4] == "—"
    assert rows[1][10] == "2.00" and rows[2][10] == "0.05"
    assert rows[2][2] == "local/small + LoRA lralralr"
    start = start_up_rows(board)
    assert [r[1] for r in start] == ["rag", "prompt", "lora", "prompt"]
    assert start[2][3] == "1.50" and start[2][4] == "90.0 min" and start[2][5] == "3.0 GiB"
    assert start[0][3] == "—" and start[2][9] == "1.50"  # no labelling price given: $0


def test_model_file_column(board: str, tmp_path: Path) -> None:
    rows = table_rows(board)
    header = next(ln for ln in board[board.index("## toy (v1)"):].splitlines() if ln.startswith("| #"))
    assert header.strip("| ").split(" | ")[14] == "model file"
    assert rows[2][14] == "94 MiB"  # 98,362,432 bytes, the bundled SmolLM2 Q4_1 GGUF
    assert rows[0][14] == "— (API)"  # an openai/ row loads no model file
    add(tmp_path, "big", "prompt", 0.95, set(range(95)), cost_per_1k=0.1, model="hf/big",
        model_file_bytes=int(2.5 * 2**30))
    add(tmp_path, "nof", "prompt", 0.94, set(range(94)), cost_per_1k=0.1, model="hf/old")
    rows = table_rows(write_leaderboard(tmp_path)[0].read_text())
    assert (rows[0][2], rows[0][14]) == ("hf/big", "2.5 GiB")
    assert (rows[1][2], rows[1][14]) == ("hf/old", "—")  # a record written before the column


def test_break_even_volume(board: str) -> None:
    rows = start_up_rows(board)
    # lora: $1.50 to start, $0.00005 per query. Cheaper to start and as good: rag (0.90) and
    # prompt (0.80 >= 0.78). vs prompt: 1.5 / (0.002 - 0.00005) = 769.2 -> 770 queries;
    # vs rag: 1.5 / (0.003 - 0.00005) = 508.5 -> 509. Below both only after 770.
    assert rows[2][11] == "770 q (vs #2 prompt / openai/big)"
    # Rows that train nothing have no cheaper-to-start rival.
    assert rows[0][11] == rows[1][11] == "—"


def test_break_even_counts_index_and_labelling_and_retraining(tmp_path: Path) -> None:
    """Every start-up cost moves break-even, each in its own column (arithmetic by hand)."""
    from harness.analysis import CostAssumptions
    from harness.types import IndexInfo

    add(tmp_path, "prm", "prompt", 0.80, set(range(80)) | {90, 91}, cost_per_1k=2.0)
    add(tmp_path, "rag", "rag", 0.90, set(range(90)), cost_per_1k=3.0)
    rag = read_record(tmp_path / "cells" / "rag.json")
    rag.index, rag.labelled_examples = IndexInfo(cost_usd=0.25, build_seconds=900), 100
    write_record(tmp_path, rag, scores_with(set(range(90))))
    add(tmp_path, "lra", "lora", 0.78, set(range(78)), cost_per_1k=0.05, training_usd=1.5,
        model="local/small", train_examples=2400)
    assumptions = CostAssumptions(label_usd_per_example=0.05)
    text = write_leaderboard(tmp_path, plots=False, assumptions=assumptions)[0].read_text()
    rows = {r[1]: r for r in start_up_rows(text)}
    assert "labelling $ ($0.05 each)" in text
    # rag: index $0.25, 100 labelled examples x $0.05 = $5.00; start-up $5.25.
    assert (rows["rag"][6], rows["rag"][7], rows["rag"][8], rows["rag"][9]) == \
        ("0.25", "100", "5.00", "5.25")
    # lora: $1.50 training + 2,400 x $0.05 = $120 labelling = $121.50. Its rivals: prompt
    # (make_record's 1 few-shot id x $0.05 = $0.05 to start, 0.80 >= 0.78) and rag ($5.25).
    # vs prompt: (121.50 - 0.05) / (0.002 - 0.00005) = 62,282.05 -> 62,283 queries.
    assert rows["lora"][8] == "120.00" and rows["lora"][9] == "121.50"
    assert rows["lora"][11] == "62,283 q (vs #2 prompt / openai/big)"
    # Retrained every 3 months, training and labelling recur: (121.50 - 0.05) / 3 months /
    # (0.002 - 0.00005) = 20,760.7 -> 20,761 queries a month in steady state.
    text = write_leaderboard(tmp_path, plots=False, assumptions=CostAssumptions(
        0.05, retrain_every_months=3))[0].read_text()
    lora = next(r for r in start_up_rows(text) if r[1] == "lora")
    assert lora[11] == "20,761 q/month, retrained every 3 month(s) (vs #2 prompt / openai/big)"


def test_summary_and_pareto(board: str) -> None:
    summary = board[board.index("## Summary"):board.index("## toy (v1)")]
    assert "best macro_f1: #1 rag / openai/big (0.900 [0.850, 0.950])" in summary
    assert "cheapest per query: #3 lora" in summary
    front = summary[summary.index("Pareto-optimal"):]
    assert "#1 rag" in front and "#2 prompt" in front and "#3 lora" in front
    assert "#4" not in front  # 0.50 at $2.50 is beaten by prompt's 0.80 at $2.00


def test_plots_are_written_and_linked(tmp_path: Path, board: str) -> None:
    links = [ln for ln in board.splitlines() if ln.startswith("![")]
    assert len(links) == 1 and "quality-vs-cost.png" in links[0]
    rel = links[0].split("](")[1].rstrip(")")
    png = tmp_path / rel
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_learning_curve_rows_and_plot(tmp_path: Path) -> None:
    for size, q in ((100, 0.3), (300, 0.5), (2400, 0.7)):
        add(tmp_path, f"l{size}", "lora", q, set(range(int(q * N))), cost_per_1k=0.05,
            training_usd=size / 1000, model="local/small", train_examples=size)
    # The same adapter served on a quantized file is its own row, not a point on that curve; a
    # second model with two sizes is a second curve.
    add(tmp_path, "q4", "lora", 0.72, set(range(72)), cost_per_1k=0.05, training_usd=2.4,
        model="local/small-q4", train_examples=2400)
    for size, q in ((100, 0.2), (2400, 0.6)):
        add(tmp_path, f"o{size}", "lora", q, set(range(int(q * N))), cost_per_1k=0.05,
            training_usd=size / 1000, model="local/other", train_examples=size)
    path, _, _ = write_leaderboard(tmp_path)
    text = path.read_text()
    curve = text[text.index("**Learning curve (lora):**"):].split("\n\n")[1].splitlines()[2:]
    # Each point: train examples | examples seen (2 epochs here) | steps | model | ...
    cells = [ln.split(" | ") for ln in curve]
    assert [(c[0], c[1], c[2]) for c in cells if c[3].startswith("local/small ")] == [
        ("| 100", "200", "25"), ("| 300", "600", "75"), ("| 2,400", "4,800", "600")]
    points = [(c[0], c[3].split(" + ")[0]) for c in cells]
    assert sorted(points) == sorted([("| 100", "local/small"), ("| 300", "local/small"),
                                     ("| 2,400", "local/small"), ("| 100", "local/other"),
                                     ("| 2,400", "local/other")])
    assert [p for p in points if p[1] == "local/small"] == [
        ("| 100", "local/small"), ("| 300", "local/small"), ("| 2,400", "local/small")]
    assert "learning-curve.png" in text


def test_unpriced_rows_and_mismatched_data_are_listed(tmp_path: Path) -> None:
    add(tmp_path, "a", "prompt", 0.8, set(range(80)), cost_per_1k=None)
    rec = make_record("z", "prompt", 0.9, sha="b" * 64)
    write_record(tmp_path, rec, scores_with(set()))
    path, _, skipped = write_leaderboard(tmp_path)
    text = path.read_text()
    assert "unknown" in table_rows(text)[0][10]
    assert "Not compared: `toy` has rows scored on 2 different task versions, datasets or sample sets" in text
    assert any("without a price" in s for s in skipped)


def test_mcnemar_and_paired_bootstrap() -> None:
    assert mcnemar_exact(10, 2) == pytest.approx(2 * sum(comb(12, i) for i in range(3)) / 4096)
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 20) == pytest.approx(2 / 2**20)
    same = [0.5, 0.2, 0.9, 0.4]
    assert paired_bootstrap_p(same, same) == 1.0
    assert paired_bootstrap_p([0.9] * 30, [0.1] * 30) == 0.0
    assert paired_bootstrap_p([0.6, 0.4] * 15, [0.4, 0.6] * 15) > 0.5


def test_compare_exits_nonzero_and_names_the_metric(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        add(tmp_path / folder, "prm", "prompt", 0.80, set(range(80)), cost_per_1k=2.0)
    cell = tmp_path / "b" / "cells" / "prm.json"
    data = json.loads(cell.read_text())
    data["metrics"]["macro_f1"]["value"] = 0.70
    cell.write_text(json.dumps(data))
    cmd = [sys.executable, "-m", "harness", "compare", str(tmp_path / "a"), str(tmp_path / "b")]
    ok = subprocess.run(cmd + ["--fail-on", "macro_f1:20%"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "macro_f1" in ok.stdout and "-0.100" in ok.stdout
    bad = subprocess.run(cmd + ["--fail-on", "macro_f1:2%", "--fail-on",
                                "cost_per_1k_queries_usd:+10%"], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "macro_f1 dropped from 0.8 " in bad.stderr
    assert "cost_per_1k_queries_usd" not in bad.stderr  # cost unchanged: that gate holds


def test_compare_gates_fail_closed(tmp_path: Path) -> None:
    """A misspelt figure exits 1 naming the known figures; so does a cell without a baseline
    record, unless --allow-missing."""
    add(tmp_path / "a", "prm", "prompt", 0.80, set(range(80)), cost_per_1k=2.0)
    add(tmp_path / "b", "prm", "prompt", 0.80, set(range(80)), cost_per_1k=2.0)
    cmd = [sys.executable, "-m", "harness", "compare", str(tmp_path / "a"), str(tmp_path / "b")]
    misspelt = subprocess.run(cmd + ["--fail-on", "macro-f1:2%"], capture_output=True, text=True,
                              env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"})
    assert misspelt.returncode == 1
    said = " ".join(misspelt.stderr.split())
    assert "gate macro-f1:2%: no figure named 'macro-f1' in these records; known figures:" in said
    assert "accuracy, invalid_rate, macro_f1, cost_usd, cost_per_1k_queries_usd" in said
    add(tmp_path / "b", "new", "rag", 0.80, set(range(80)), cost_per_1k=2.0)
    b_rag = json.loads((tmp_path / "b" / "cells" / "new.json").read_text())
    b_rag["task"]["dataset_sha256"] = "c" * 64  # no baseline cell matches it
    (tmp_path / "b" / "cells" / "new.json").write_text(json.dumps(b_rag))
    gate = ["--fail-on", "macro_f1:0.05"]
    lonely = subprocess.run(cmd + gate, capture_output=True, text=True)
    assert lonely.returncode == 1 and "no matching cell in" in lonely.stderr
    allowed = subprocess.run(cmd + gate + ["--allow-missing"], capture_output=True, text=True)
    assert allowed.returncode == 0, allowed.stderr
    assert "no matching cell in" in allowed.stderr


def test_hosted_fine_tune_rows_name_the_fine_tuned_model(tmp_path: Path) -> None:
    rec = make_record("hft", "hosted_ft", 0.7)
    rec.model.spec = "openai/gpt-4.1-mini"
    rec.training = TrainingInfo(kind="hosted fine-tune",
                                artifact="-> ft:gpt-4.1-mini:acme::abc123", training_cost_usd=2.0)
    write_record(tmp_path, rec, scores_with(set(range(70))))
    path, _, _ = write_leaderboard(tmp_path)
    (row,) = table_rows(path.read_text())[:1]
    assert row[2] == "openai/gpt-4.1-mini -> ft:gpt-4.1-mini:acme::abc123"
    (start,) = start_up_rows(path.read_text())[:1]
    assert start[3] == "2.00"  # its training cost is shown like lora's


def test_leaderboard_is_current_until_a_record_changes(tmp_path: Path) -> None:
    import os

    from harness.publish import leaderboard_is_current

    add(tmp_path, "prm", "prompt", 0.80, set(range(80)), cost_per_1k=2.0)
    assert not leaderboard_is_current(tmp_path)  # no LEADERBOARD.md yet
    path, _, _ = write_leaderboard(tmp_path, plots=False)
    assert leaderboard_is_current(tmp_path)
    record = tmp_path / "cells" / "prm.json"
    record.write_text(record.read_text().replace('"seed": 0', '"seed": 1'))
    assert not leaderboard_is_current(tmp_path)  # a record rewritten
    write_leaderboard(tmp_path, plots=False)
    assert leaderboard_is_current(tmp_path)

    # A concurrent run's record that is older than the board, as when two runs finish together:
    # modification times would call the board current, but it lacks the row.
    add(tmp_path, "rag", "rag", 0.70, set(range(70)), cost_per_1k=3.0)
    earlier = path.stat().st_mtime - 5
    os.utime(tmp_path / "cells" / "rag.json", (earlier, earlier))
    assert not leaderboard_is_current(tmp_path)


def test_labels_of_near_equal_rows_do_not_overlap() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from harness.plots import LABEL_H, label_points

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    offsets = label_points(ax, [("#1 lora", 0.5, 0.5), ("#2 lora", 0.501, 0.501),
                                ("#3 lora", 0.502, 0.5), ("#4 prompt", 0.9, 0.1)])
    plt.close(fig)
    assert offsets[3] == 4  # alone: beside its point
    stacked = sorted(offsets[:3])
    assert all(b - a >= LABEL_H for a, b in zip(stacked[:-1], stacked[1:], strict=True))


def test_rows_scored_on_different_samples_get_separately_labelled_tables(tmp_path: Path) -> None:
    """A --limit 20 row and two --limit 40 rows: the 40s are ranked (and paired-tested) together,
    the 20 stands alone; neither is tested against the other."""
    def add_subset(key: str, strategy: str, n: int, right: int) -> None:
        rec = make_record(key, strategy, right / n)
        rec.task.n = n
        rows = [{"sample_id": f"s{i:03d}", "score": float(i < right)} for i in range(n)]
        if key != "old":  # a record from before sample_ids_sha256: read from its predictions
            rec.task.sample_ids_sha256 = sample_ids_sha256(r["sample_id"] for r in rows)
        write_record(tmp_path, rec, rows)

    add_subset("p20", "prompt", 20, 10)
    add_subset("p40", "prompt", 40, 30)
    add_subset("old", "rag", 40, 20)
    text = write_leaderboard(tmp_path)[0].read_text()
    ids40 = sample_ids_sha256(f"s{i:03d}" for i in range(40))[:8]
    ids20 = sample_ids_sha256(f"s{i:03d}" for i in range(20))[:8]
    headings = [ln for ln in text.splitlines() if ln.startswith("## toy")]
    assert headings == [f"## toy (v1, n = 40, samples {ids40})",
                        f"## toy (v1, n = 20, samples {ids20})"]
    table40 = text[text.index(headings[0]):text.index(headings[1])]
    rows40 = [ln.split(" | ") for ln in table40.splitlines() if ln.startswith("| ") and ln[2].isdigit()]
    assert [(r[1], r[5]) for r in rows40[:2]] == [("prompt", "40"), ("rag", "40")]
    assert rows40[1][4].startswith("p=")  # paired test inside the table
    table20 = text[text.index(headings[1]):]
    rows20 = [ln.split(" | ") for ln in table20.splitlines() if ln.startswith("| ") and ln[2].isdigit()]
    assert rows20[0][1] == "prompt" and rows20[0][5] == "20" and rows20[0][4] == "—"
    assert "Not compared: `toy` has rows scored on 2 different" in text


def test_summary_names_the_classifier_when_it_matches_the_best_llm_row(tmp_path: Path) -> None:
    # The LLM row's CI is its value +- 0.05 (make_record): 0.80 [0.75, 0.85].
    add(tmp_path, "llm", "prompt", 0.80, set(range(80)), cost_per_1k=2.0)
    add(tmp_path, "clf", "classifier", 0.78, set(range(78)), cost_per_1k=0.001,
        model="embed/all-MiniLM-L6-v2")
    text = write_leaderboard(tmp_path)[0].read_text()
    assert ("classifier baseline: #2 classifier / embed/all-MiniLM-L6-v2 (0.780, $0.001 per 1k "
            "queries) is within the 95% CI of the best LLM row, #1 prompt / openai/big "
            "(0.800 [0.750, 0.850])") in text
    add(tmp_path, "clf", "classifier", 0.70, set(range(70)), cost_per_1k=0.001,
        model="embed/all-MiniLM-L6-v2")  # below the CI: not named
    assert "classifier baseline" not in write_leaderboard(tmp_path)[0].read_text()
    add(tmp_path, "clf", "classifier", 0.90, set(range(90)), cost_per_1k=0.001,
        model="embed/all-MiniLM-L6-v2")
    assert "is above the best LLM row, #2 prompt / openai/big (0.800)" in \
        write_leaderboard(tmp_path)[0].read_text()


def test_line_breaks_in_record_fields_cannot_add_markdown_lines(tmp_path: Path) -> None:
    """A crafted model spec used to add its own heading to LEADERBOARD.md."""
    add(tmp_path, "prm", "prompt", 0.80, set(range(80)), cost_per_1k=2.0,
        model="openai/big\n\n# injected heading\r\n| fake | row |")
    text, _, _ = write_leaderboard(tmp_path, plots=False)
    lines = text.read_text().splitlines()
    assert [line for line in lines if line.startswith("# ")] == ["# rvf leaderboard"]
    assert not any(line.startswith("| fake") for line in lines)
    assert any("openai/big # injected heading" in line for line in lines)
