"""The reference run's REPRODUCE.md is rendered from the records alone, and the committed one is
current: a record added, recomputed or removed without re-rendering it fails here."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from harness import reference
from harness.analysis import group_rows
from harness.records import read_records

ROOT = Path(__file__).resolve().parents[1]
BANKING77 = ROOT / "results" / "banking77"


def copy_cells(keys: list[str], dest: Path) -> Path:
    (dest / "cells").mkdir(parents=True)
    for key in keys:
        for suffix in (".json", ".predictions.jsonl"):
            shutil.copy(BANKING77 / "cells" / f"{key}{suffix}", dest / "cells")
    return dest


RAG, LORA = "f6bbd7260d0e2b4e27a564ae", "6523b322b3a0b282bc4814d4"  # full-split rows


def test_every_cell_is_listed_with_its_machine_load_and_compute(tmp_path):
    results = copy_cells([RAG, LORA], tmp_path / "ref")
    text = reference.write(results).read_text(encoding="utf-8")
    records, _ = read_records(results)
    for r in records:
        row = next(line for line in text.splitlines() if r.created_at[:16].replace("T", " ") in line)
        assert r.environment.machine in row
        assert f"{r.usage.load_avg_start:.2f} → {r.usage.load_avg_end:.2f}" in row
        assert f"{r.usage.wall_seconds:,.0f}" in row
    # The total counts each cell's scoring CPU plus the training it ran (lora trained here).
    cpu = sum(r.usage.cpu_seconds + (r.training.cpu_seconds if r.training else 0) for r in records)
    assert f"{cpu / 3600:.2f} h of process CPU time (2 cells)" in text
    for args, _why in reference.PLAN:
        assert " ".join(reference.command(args)) in text


def test_the_verdict_names_the_winner_and_when_training_pays_back(tmp_path):
    results = copy_cells([RAG, LORA], tmp_path / "ref")
    text = reference.render(read_records(results)[0], results)
    rows = next(iter(group_rows(read_records(results)[0], results).values()))
    lora, rag = rows  # ranked: lora 0.913 above rag 0.899
    assert lora.record.strategy.name == "lora" and rag.record.strategy.name == "rag"
    assert "- best macro_f1: lora" in text
    volume = (lora.start_cost - rag.start_cost) / (rag.per_query - lora.per_query)
    assert (f"- lora (0.913) against rag (0.899), which costs less to start: its start-up cost "
            f"is paid back after {math.ceil(volume):,} queries") in text
    # Reversed roles: rag has no extra start-up cost to pay back.
    assert reference.crossover(rag, lora).startswith("never paid back")


def test_the_committed_reproduce_md_is_rendered_from_the_committed_records():
    results = ROOT / "results" / "reference"
    committed = (results / "REPRODUCE.md").read_text(encoding="utf-8")
    assert committed == reference.render(read_records(results)[0], results), (
        "results/reference/REPRODUCE.md is stale: run `python -m harness.reference --write`")


def test_the_plan_covers_every_built_in_task_and_strategy_on_full_splits(capsys):
    assert reference.main(["--plan"]) == 0
    printed = capsys.readouterr().out
    commands = [line for line in printed.splitlines() if line.startswith("rvf run")]
    assert len(commands) == len(reference.PLAN)
    full = [c for c in commands if "--limit" not in c]
    for task in ("ticket_categorization", "icd10_coding", "hr_policy_qa"):
        for strategy in ("prompt", "rag", "lora"):
            assert any(f"--task {task}" in c and f"--strategy {strategy}" in c for c in full)
    assert any("--strategy classifier" in c and "--task icd10_coding" in c for c in full)
    assert not any("lora.max_steps" in c for c in commands)  # lora with its defaults


def test_rows_of_one_strategy_are_told_apart_by_model_and_adapter(tmp_path):
    # Two full-split lora rows (the converged adapter and a 30-step one): "lora against lora"
    # would not say which payback is whose.
    short = "8dd6def8a37a03265a64b826"
    results = copy_cells([RAG, LORA, short], tmp_path / "ref")
    records = read_records(results)[0]
    text = reference.render(records, results)
    artifacts = {r.cell_key: r.training.artifact for r in records if r.training}
    assert artifacts[LORA] != artifacts[short]
    # The payback lines (the "best" line names the model and adapter in parentheses already).
    verdict = [line for line in text.splitlines() if line.startswith("- ") and " against " in line]
    for artifact in artifacts.values():
        assert any(f"lora on local/smollm2-135m-instruct {artifact} (" in line for line in verdict)
    assert not any("lora (" in line for line in verdict)
    assert any(line.startswith("- rag (0.899) against lora on ") for line in verdict)
