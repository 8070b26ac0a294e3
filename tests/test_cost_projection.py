"""`rvf cost --volume`: monthly cost per row from hand-made records, arithmetic by hand below."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.analysis import group_rows, project
from harness.records import read_records
from tests.test_leaderboard import add


@pytest.fixture
def results(tmp_path: Path) -> Path:
    add(tmp_path, "rag", "rag", 0.90, set(range(90)), cost_per_1k=3.0)
    add(tmp_path, "lra", "lora", 0.78, set(range(78)), cost_per_1k=0.05, training_usd=1.5,
        model="local/small")
    add(tmp_path, "unp", "prompt", 0.50, set(range(50)), cost_per_1k=None)
    return tmp_path


def projections(results: Path, volume: int, months: int) -> dict[str, object]:
    records, _ = read_records(results)
    (rows,) = group_rows(records, results).values()
    return {row.record.strategy.name: project(row, volume, months) for row in rows}


def test_monthly_cost_amortises_training(results: Path) -> None:
    p = projections(results, 100_000, 12)
    # rag: 100,000 x $3.00/1k = $300 a month, nothing to train.
    assert p["rag"].monthly_usd == pytest.approx(300.0)
    assert p["rag"].first_month_usd == pytest.approx(300.0)
    # lora: 100,000 x $0.05/1k = $5, plus $1.50 training / 12 months = $0.125 -> $5.125;
    # the first month carries the whole $1.50 -> $6.50.
    assert p["lora"].monthly_usd == pytest.approx(5.125)
    assert p["lora"].first_month_usd == pytest.approx(6.5)
    assert p["lora"].start.training == pytest.approx(1.5)
    # No price: unknown, with the reason, never a guess.
    assert p["prompt"].monthly_usd is None and p["prompt"].reason


def test_amortising_over_one_month_and_zero_volume(results: Path) -> None:
    assert projections(results, 100_000, 1)["lora"].monthly_usd == pytest.approx(6.5)
    assert projections(results, 0, 12)["lora"].monthly_usd == pytest.approx(0.125)


def test_cli_prints_each_row_and_the_sentence(results: Path) -> None:
    cmd = [sys.executable, "-m", "harness", "cost", "--volume", "100000", "--results",
           str(results)]
    done = subprocess.run(cmd, capture_output=True, text=True, env={"COLUMNS": "250",
                                                                     "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "100,000 queries/month" in out and "spread over 12 month(s)" in out
    assert "lora (local/small + LoRA lralralr, macro_f1 0.780) $5.12" in " ".join(out.split())
    assert "rag (openai/big, macro_f1 0.900) $300.00" in " ".join(out.split())
    assert "prompt (openai/big, macro_f1 0.500) unknown" in " ".join(out.split())


def test_labelling_and_retraining_recur_in_the_monthly_cost(results: Path) -> None:
    """--label-usd-per-example prices the examples each row used; --retrain-every-months makes a
    trained row pay its training and labelling again every cycle (by hand below)."""
    from harness.analysis import CostAssumptions

    records, _ = read_records(results)
    (rows,) = group_rows(records, results, CostAssumptions(0.01, 3)).values()
    p = {row.record.strategy.name: project(row, 100_000, 12) for row in rows}
    # lora: 2,400 labelled examples x $0.01 = $24 labelling + $1.50 training = $25.50 recurring
    # every 3 months: $8.50 a month, + $5 of queries = $13.50; the first month pays it all.
    assert p["lora"].start.labelling == pytest.approx(24.0)
    assert p["lora"].monthly_usd == pytest.approx(13.5)
    assert p["lora"].first_month_usd == pytest.approx(30.5)
    # rag (k=1: one labelled example; trains nothing): $0.01 one-off, spread over 12 months.
    assert p["rag"].monthly_usd == pytest.approx(300 + 0.01 / 12)
    cmd = [sys.executable, "-m", "harness", "cost", "--volume", "100000", "--results",
           str(results), "--label-usd-per-example", "0.01", "--retrain-every-months", "3"]
    done = subprocess.run(cmd, capture_output=True, text=True, env={"COLUMNS": "250",
                                                                     "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert "retrained every 3 month(s)" in done.stdout and "13.50" in done.stdout


def test_cli_without_records_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "harness", "cost", "--volume", "10",
                           "--results", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert "no cell records" in done.stdout + done.stderr
