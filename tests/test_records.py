"""Cell records and the leaderboard, from hand-made records with known outcomes."""

from __future__ import annotations

import json
import os

import pytest

from harness.errors import DataError
from harness.publish import write_leaderboard
from harness.records import (
    SCHEMA_VERSION,
    CellRecord,
    Environment,
    ModelInfo,
    StrategyInfo,
    TaskInfo,
    UsageInfo,
    atomic_write,
    read_record,
    write_record,
)
from harness.types import IndexInfo, Metric, TrainingInfo


def make_record(key: str, strategy: str, f1: float | None, sha: str = "a" * 64) -> CellRecord:
    return CellRecord(
        cell_key=key, created_at="2026-01-01T00:00:00+00:00",
        task=TaskInfo(name="toy", version="1", dataset_sha256=sha, args={}, n=100),
        strategy=StrategyInfo(name=strategy, args={"k": 1}),
        model=ModelInfo(spec="local/m", identity={"backend": "hf"}), seed=0,
        primary_metric="macro_f1",
        metrics={"macro_f1": Metric(value=f1, ci_low=None if f1 is None else f1 - 0.05,
                                          ci_high=None if f1 is None else f1 + 0.05),
                 "accuracy": Metric(value=0.5, ci_low=0.4, ci_high=0.6),
                 "invalid_rate": Metric(value=0.1, higher_is_better=False)},
        usage=UsageInfo(input_tokens_per_query=100, output_tokens_per_query=5, latency_p50_s=0.5,
                        latency_p95_s=0.9, wall_seconds=10, model_calls=100, cache_hits=0,
                        errors=0),
        environment=Environment(python="3.11", platform="Linux", packages={}, git_sha=None),
        predictions_file=f"{key}.predictions.jsonl")


# One prediction row per sample of `make_record`'s n = 100.
ROWS = [{"sample_id": f"s{i:03d}"} for i in range(100)]


def test_leaderboard_ranks_by_primary_metric_and_separates_datasets(tmp_path):
    for rec in (make_record("k1", "prompt", 0.30), make_record("k2", "lora", 0.70),
                make_record("k3", "rag", None), make_record("k4", "prompt", 0.9, sha="b" * 64)):
        write_record(tmp_path, rec, ROWS)
    (tmp_path / "cells" / "broken.json").write_text('{"schema_version": 99}')
    path, rows, skipped = write_leaderboard(tmp_path)
    text = path.read_text()
    assert rows == 4
    table_a = text[text.index("## toy (v1, data aaaaaaaaaaaa"):text.index("## toy (v1, data bbbbbbbbbbbb")]
    lines = [ln for ln in table_a.splitlines() if ln.startswith("| ") and ln[2].isdigit()][:3]
    assert [ln.split(" | ")[1] for ln in lines] == ["lora", "prompt", "rag"]
    assert "0.700 [0.650, 0.750]" in lines[0] and "not scored" in lines[2]
    assert "broken.json" in skipped[0] and "schema_version 99" in skipped[0]
    assert "## Left out" in text


def test_record_roundtrip_and_unknown_schema(tmp_path):
    rec = make_record("k1", "prompt", 0.3)
    path = write_record(tmp_path, rec, ROWS)
    assert read_record(path) == rec
    data = json.loads(path.read_text())
    data["schema_version"] = SCHEMA_VERSION + 1
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=f"schema_version {SCHEMA_VERSION + 1}"):
        read_record(path)


def test_every_record_field_is_documented():
    for model in (CellRecord, TaskInfo, StrategyInfo, ModelInfo, UsageInfo, Environment,
                  TrainingInfo, IndexInfo):
        for name, field in model.model_fields.items():
            assert field.description or field.annotation in (TaskInfo, StrategyInfo, ModelInfo,
                                                             UsageInfo, Environment), (model, name)


def test_schema_1_records_migrate_on_read(tmp_path):
    """A record written by rvf before schema 2 (a committed Banking77 lora row) still reads:
    its training facts become the typed `training`, the backend's facts `model.facts`."""
    from pathlib import Path

    from harness.records import migrate, read_records

    reference = Path(__file__).parent.parent / "results" / "banking77" / "cells"
    old = json.loads((reference / "8dd6def8a37a03265a64b826.json").read_text())
    assert old["schema_version"] == 1 and "training" in old["prepare"]
    new = migrate(old)
    assert new["schema_version"] == SCHEMA_VERSION and "training" not in new["prepare"]
    assert old["prepare"]["training"]["adapter_key"]  # the input is left as it was
    (tmp_path / "cells").mkdir()
    (tmp_path / "cells" / f"{old['cell_key']}.json").write_text(json.dumps(old))
    predictions = old["predictions_file"]
    (tmp_path / "cells" / predictions).write_bytes((reference / predictions).read_bytes())
    [rec], skipped = read_records(tmp_path)
    assert not skipped
    t = old["prepare"]["training"]
    assert rec.training.artifact == f"+ LoRA {t['adapter_key'][:8]}"
    assert rec.training.kind == "lora adapter"
    assert rec.training.wall_seconds == t["wall_seconds"]
    assert rec.training.training_cost_usd == t["training_cost_usd"]
    assert rec.training.model_extra["loss_curve"] == t["loss_curve"]
    assert rec.model.file_bytes == old["prepare"]["backend"]["model_file_bytes"]


def test_schema_2_records_gain_their_start_up_facts(tmp_path):
    """An index build and the labelled examples that an older record kept in `prepare` become
    the typed `index` (priced by its wall time at the default rate, and saying so) and
    `labelled_examples`."""
    from pathlib import Path

    from harness.records import migrate

    # Two records written by an older rvf (2026-11-23, the generated tickets), kept as fixtures.
    old_records = Path(__file__).parent / "data" / "old_records"
    olds = [json.loads(p.read_text()) for p in sorted(old_records.glob("*.json"))]
    rag = next(o for o in olds if o["task"]["name"] == "ticket_categorization"
               and o["strategy"]["name"] == "rag")
    prompt = next(o for o in olds if o["strategy"]["name"] == "prompt")
    new = migrate(rag)
    seconds = rag["prepare"]["build_seconds"]
    assert new["index"]["cost_usd"] == pytest.approx(seconds / 3600 * 0.10)
    assert "wall" in new["index"]["cost_basis"] and "older rvf" in new["index"]["cost_basis"]
    # few-shot rag retrieves from the labelled train split: all of it is labelled data
    assert new["labelled_examples"] == rag["prepare"]["n_documents"] == 2400
    assert migrate(prompt)["labelled_examples"] == len(prompt["prepare"]["few_shot_ids"]) == 5
    assert "index" not in migrate(prompt)


def test_a_record_whose_predictions_are_cut_short_is_left_out_naming_the_file(tmp_path):
    from harness.records import read_records

    write_record(tmp_path, make_record("k1", "prompt", 0.3), ROWS)
    write_record(tmp_path, make_record("k2", "prompt", 0.4), ROWS[:60])
    (tmp_path / "cells" / "k3.json").write_text("{}")  # not a record at all
    write_record(tmp_path, make_record("k4", "prompt", 0.5), ROWS)
    with (tmp_path / "cells" / "k4.predictions.jsonl").open("a") as fh:
        fh.write('{"sample_id": "s100", "raw": "cut off mid-wr')
    records, skipped = read_records(tmp_path)
    assert [r.cell_key for r in records] == ["k1"]
    assert "k2.predictions.jsonl: 60 rows, its record says 100 (truncated?)" in skipped[0]
    assert "k3.json: cell record schema_version None" in skipped[1]
    assert "k4.predictions.jsonl, line 101: not a JSON row" in skipped[2]
    assert all("--force" in s for s in (skipped[0], skipped[2]))


def test_atomic_write_takes_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "a.md", "x")
        os.umask(0o002)
        atomic_write(tmp_path / "b.md", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.md").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "b.md").stat().st_mode & 0o777 == 0o664


def test_atomic_write_leaves_old_content_on_failure(tmp_path):
    target = tmp_path / "x.json"
    atomic_write(target, "old")
    with pytest.raises(TypeError):  # fails mid-write, after the temp file exists
        atomic_write(target, 12345)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
