"""Strategy `classifier` on real data (Banking77 intents) with the real bundled embedder and
scikit-learn, through the CLI."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.conftest import BANKING77
from tests.test_cli import records, rvf

LABELS = ["card_arrival", "exchange_rate", "lost_or_stolen_card", "pin_blocked", "top_up_limits",
          "cancel_transfer", "age_limit", "apple_pay_or_google_pay", "atm_support", "Refund_not_showing_up"]


def _subset(folder: Path, per_train: int = 30, per_test: int = 10) -> Path:
    """10 Banking77 intents: `per_train` train and `per_test` test queries of each."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, per in (("train", per_train), ("test", per_test)):
        with (BANKING77 / f"{split}.csv").open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        kept = [r for label in LABELS for r in [r for r in rows if r["category"] == label][:per]]
        with (folder / f"{split}.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, ["text", "category"])
            writer.writeheader()
            writer.writerows(kept)
    return folder


def test_classifier_learns_banking77_intents_and_reuses_its_head(tmp_path):
    data, results = _subset(tmp_path / "data"), tmp_path / "results"
    args = ["run", "--results", str(results), "--task-arg", f"data={data}", "--strategy", "classifier",
            "--model", "openai/not-used", "--small-model", "local/not-used-either"]
    done = rvf(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    [rec] = records(results)
    assert rec["model"]["spec"] == "embed/all-MiniLM-L6-v2"  # its own model, once
    assert rec["task"]["n"] == 100
    # Chance is 10% over 10 intents; a linear head on MiniLM embeddings is far above it.
    assert rec["metrics"]["accuracy"]["value"] >= 0.6, rec["metrics"]
    assert rec["metrics"]["invalid_rate"]["value"] == 0.0
    training = rec["training"]
    assert training["train_examples"] == 300 and training["cache_hit"] is False
    assert training["C"] in (0.1, 1.0, 10.0, 100.0) and set(training["dev_accuracy"]) == {
        "0.1", "1.0", "10.0", "100.0"}
    assert training["training_cost_usd"] > 0 and rec["cost_per_1k_queries_usd"] > 0
    assert rec["usage"]["latency_p50_s"] > 0
    board = (results / "LEADERBOARD.md").read_text()
    assert "embed/all-MiniLM-L6-v2 + logistic regression" in board
    again = rvf(*args, "--force")
    assert again.returncode == 0, again.stderr[-3000:]
    [rec2] = records(results)
    assert rec2["training"]["cache_hit"] is True
    assert rec2["metrics"]["accuracy"]["value"] == rec["metrics"]["accuracy"]["value"]


def test_classifier_on_a_free_text_task_exits_2(tmp_path):
    done = rvf("run", "--results", str(tmp_path), "--task", "hr_policy_qa", "--strategy",
               "classifier", "--limit", "2")
    assert done.returncode == 2
    assert "needs a closed answer space" in " ".join(done.stderr.split())


def test_bad_C_exits_2(tmp_path):
    done = rvf("run", "--results", str(tmp_path), "--strategy", "classifier",
               "--strategy-arg", "C=-1")
    assert done.returncode == 2 and "C must be a positive number" in done.stderr


def test_a_label_with_one_train_example_fits_with_a_warning(tmp_path):
    data = _subset(tmp_path / "data", per_train=8, per_test=2)
    train = (data / "train.csv").read_text().splitlines()
    (data / "train.csv").write_text("\n".join(train + ["where is the nearest branch?,branch"]) + "\n")
    done = rvf("run", "--results", str(tmp_path / "r"), "--task-arg", f"data={data}",
               "--strategy", "classifier", "--strategy-arg", "C=1")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1 label(s) have a single train example (branch); fitting anyway" in done.stderr
    [rec] = records(tmp_path / "r")
    assert rec["training"]["single_example_labels"] == 1
    assert rec["training"]["dev_accuracy"] == {}


def test_one_cell_on_its_own_model_whose_key_follows_its_arguments(registry):
    from harness.cell import plan

    cells = [plan(registry, ["ticket_categorization"], ["classifier"], ["local/x", "local/z"],
                  ["local/y"], [0], {}, {"": {"C": c}}, {}, 10) for c in ("auto", "10")]
    assert [[c.spec.model for c in cs] for cs in cells] == [["embed/all-MiniLM-L6-v2"]] * 2
    assert cells[0][0].key != cells[1][0].key
    assert cells[0][0].key_payload()["model"]["embedding"]["kind"] == "sentence-transformers"
