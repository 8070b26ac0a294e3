"""Cell records: one JSON file per finished cell, the only input of the leaderboard.

The schema is versioned. Records of an older version are migrated when read (`migrate`: each
step rewrites one version into the next, as inspect_ai's log schema does), so results written by
an earlier rvf stay readable; a version newer than this rvf is refused instead of guessed at.
Files are written atomically (temp file + rename in the same folder), so a kill never leaves a
half-written record that a later run would mistake for a finished cell.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from harness.errors import DataError
from harness.types import IndexInfo, Metric, TrainingInfo

# 2: training facts moved from `prepare["training"]` to the typed `training`, and the backend's
# facts from `prepare["backend"]` to `model.facts` (with `model.file_bytes`).
# 3: start-up costs besides training: `index` (the rag index build) and `labelled_examples`;
# `hardware` (the rate and cores local compute was priced at); usage gains CPU seconds, load
# averages, truncated prompts and what its peak memory covers.
SCHEMA_VERSION = 3


class TaskInfo(BaseModel):
    name: str = Field(description="Registered task name.")
    version: str = Field(description="Task version; bumped when prompts, parsing or data change.")
    dataset_sha256: str = Field(description="Content hash of all splits; cells compare only "
                                            "when it matches.")
    args: dict[str, Any] = Field(description="Task factory arguments, defaults filled in.")
    split: str = Field("test", description="The split that was scored.")
    n: int = Field(description="Number of samples scored.")
    source: str = Field("", description="Where the data comes from and its licence.")
    sample_ids_sha256: str | None = Field(
        None, description="Hash of the sorted ids of the scored samples: rows are ranked together "
                          "only when it matches (None in records older than it: read from the "
                          "predictions file).")


class StrategyInfo(BaseModel):
    name: str = Field(description="Registered strategy name.")
    args: dict[str, Any] = Field(description="Strategy arguments, defaults filled in.")


class ModelInfo(BaseModel):
    spec: str = Field(description="What the user asked for, e.g. local/smollm2-135m-instruct.")
    identity: dict[str, Any] = Field(description="What makes its answers: backend, weights "
                                                 "fingerprint or endpoint, dtype. No secrets.")
    file_bytes: int | None = Field(None, description="Size of the local model's files (a GGUF "
                                                     "file, an HF folder); None for API models.")
    facts: dict[str, Any] = Field(default_factory=dict,
                                  description="What the backend reported outside the key "
                                              "(threads, shared prefix tokens, concurrency).")


class UsageInfo(BaseModel):
    input_tokens_per_query: float = Field(description="Mean prompt tokens per sample.")
    output_tokens_per_query: float = Field(description="Mean generated tokens per sample.")
    latency_p50_s: float | None = Field(description="Median per-query latency (for batched "
                                                    "backends: the wall time of the query's batch).")
    latency_p95_s: float | None = Field(description="95th percentile per-query latency.")
    wall_seconds: float = Field(description="Wall time of this cell in this run, prepare included.")
    model_calls: int = Field(description="Requests sent to the model in this run (cache misses).")
    cache_hits: int = Field(description="Requests answered from the request cache in this run.")
    errors: int = Field(description="Samples whose generation failed (recorded, not scored).")
    cached_input_tokens_per_query: float = Field(
        0.0, description="Mean prompt tokens the endpoint served from its prompt cache.")
    retries: int = Field(0, description="Request attempts beyond the first, in this run.")
    json_parse_failures: int = Field(0, description="Replies asked for as JSON that were not "
                                                    "(their raw text was parsed instead).")
    peak_rss_mb: float | None = Field(None, description="Peak resident memory while the cell "
                                                        "answered (local models run in rvf's "
                                                        "process; for API models it is rvf's).")
    peak_rss_scope: str = Field("process", description="What peak_rss_mb covers: 'cell' (the "
                                                       "window was reset after prepare, so "
                                                       "training is not in it) or 'process' "
                                                       "(the process's lifetime peak).")
    cpu_seconds: float | None = Field(None, description="Process CPU seconds of the answers "
                                                        "(cached ones: what they took when "
                                                        "computed); None = not measured.")
    load_avg_start: float | None = Field(None, description="1-minute load average when the "
                                                           "cell started.")
    load_avg_end: float | None = Field(None, description="1-minute load average when it ended.")
    truncated_prompts: int = Field(0, description="Prompts cut (from the start) to fit the "
                                                  "model's context.")
    system_fingerprints: list[str] = Field(default_factory=list,
                                           description="Distinct `system_fingerprint`s the "
                                                       "endpoint reported (backend versions).")


class Environment(BaseModel):
    python: str = Field(description="Python version.")
    platform: str = Field(description="OS and machine.")
    packages: dict[str, str] = Field(description="Versions of the packages that shape results.")
    git_sha: str | None = Field(description="Commit of the rvf checkout, when run from one.")
    machine: str = Field("", description="CPU model and cores, and the GPU when one is used.")


class CellRecord(BaseModel):
    """Everything known about one finished cell. Per-sample predictions sit beside it as JSONL."""

    schema_version: int = Field(SCHEMA_VERSION, description="Version of this schema.")
    cell_key: str = Field(description="Hash of everything that changes the cell's answers.")
    created_at: str = Field(description="UTC time the record was written (ISO 8601).")
    task: TaskInfo
    strategy: StrategyInfo
    model: ModelInfo
    seed: int = Field(description="Seed for sampling few-shot examples, training, bootstrap.")
    primary_metric: str = Field(description="The task's ranking metric, a key of `metrics`.")
    metrics: dict[str, Metric] = Field(description="Metric name -> value with 95% CI (None = not "
                                                   "scored, with the reason in its note).")
    details: dict[str, Any] = Field(default_factory=dict,
                                    description="Task-specific facts, e.g. confused label pairs.")
    audit: dict[str, Any] = Field(default_factory=dict,
                                  description="Leakage audit of the scored split against train "
                                              "(harness/audit.py): exact and near duplicates.")
    novelty: list[dict[str, Any]] = Field(
        default_factory=list, description="The primary metric per novelty bucket (similarity of "
                                          "each test item to its nearest train item), with n "
                                          "and CI; closed answer spaces only.")
    prepare: dict[str, Any] = Field(default_factory=dict,
                                    description="What the strategy's prepare step built or reused "
                                                "(few-shot ids, index facts).")
    training: TrainingInfo | None = Field(None, description="What the strategy trained (lora, "
                                                            "classifier, hosted_ft); None if none.")
    decoding: dict[str, Any] = Field(default_factory=dict, description=(
        "How answers were kept in the answer space (harness/constrain.py): the requested and "
        "used constraint, the reason when none was used, and when an unconstrained run of the "
        "same requests is cached, its invalid rate and the answers the constraint changed."))
    usage: UsageInfo
    index: IndexInfo | None = Field(None, description="The retrieval index the strategy built or "
                                                      "reused (rag); None if none.")
    labelled_examples: int | None = Field(None, description=(
        "Labelled examples the strategy used (few-shot examples, an index of labelled train "
        "items, training examples): what --label-usd-per-example prices; None = unknown."))
    hardware: dict[str, Any] = Field(default_factory=dict, description=(
        "The rate local compute was priced at: usd_per_hour, cores, usd_per_core_hour, what "
        "was measured (process CPU seconds) and the OpenMP wait policy."))
    cost_usd: float | None = Field(None, description="Inference cost of the scored queries in "
                                                     "USD; None = unknown (no price for the model).")
    cost_per_1k_queries_usd: float | None = Field(None, description="cost_usd per 1,000 queries.")
    cost_basis: str = Field("", description="How the cost was computed (price row and its date, "
                                            "or compute seconds x hardware $/h), or why unknown.")
    environment: Environment
    predictions_file: str = Field(description="Per-sample predictions, relative to this file.")

    def metric(self, name: str) -> float | None:
        return self.metrics[name].value if name in self.metrics else None


def sample_ids_sha256(ids: Iterable[str]) -> str:
    """Hash of the sorted sample ids: which items a row was scored on."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def atomic_write(path: Path, text: str) -> None:
    """Write via a temp file in the same folder and rename: readers see old or new, never half.

    The file gets the mode a plain `open()` would give it (0666 less the umask), not mkstemp's
    0600, so a CI artefact step or another user can read records and leaderboards like plots.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process umask, read without changing it (Linux); elsewhere set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def cells_dir(results: Path) -> Path:
    return results / "cells"


def write_record(results: Path, record: CellRecord, predictions: list[dict[str, Any]]) -> Path:
    """Predictions first, then the record: a record on disk always has its predictions."""
    folder = cells_dir(results)
    atomic_write(folder / record.predictions_file,
                 "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in predictions))
    path = folder / f"{record.cell_key}.json"
    atomic_write(path, record.model_dump_json(indent=2) + "\n")
    return path


# What to do about a damaged record or predictions file: the answers are in the request cache.
RECOMPUTE_HINT = ("delete it and re-run the same command (the answers come from the request "
                  "cache), or re-run with --force")


def read_record(path: Path) -> CellRecord:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable cell record ({exc}); {RECOMPUTE_HINT}") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
        raise DataError(f"{path}: cell record schema_version {version!r}; this rvf reads "
                        f"1 to {SCHEMA_VERSION}")
    try:
        record = CellRecord.model_validate(migrate(data))
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: invalid cell record ({str(exc).splitlines()[0]}); "
                        f"{RECOMPUTE_HINT}") from None
    name = record.predictions_file
    if Path(name).name != name or name.startswith("."):
        raise DataError(f"{path}: predictions_file {name!r} is not a file name in {path.parent}")
    return record


def predictions_problem(results: Path, record: CellRecord) -> str | None:
    """What is wrong with a record's predictions file, or None when it is whole: one JSON row
    per sample (answered or failed), so a file cut short by a crash or a copy is caught before
    paired tests run on the rows that remain."""
    path = cells_dir(results) / record.predictions_file
    want = record.task.n + record.usage.errors
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        return f"{path}: cannot read the predictions file ({exc.strerror or exc})"
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            return f"{path}, line {number}: not a JSON row (the file is damaged)"
        if not isinstance(row, dict) or "sample_id" not in row:
            return f"{path}, line {number}: no sample_id"
    if len(lines) != want:
        return f"{path}: {len(lines)} rows, its record says {want} (truncated?)"
    return None


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """A record of any known schema version, rewritten to the current one (a new dict)."""
    data = json.loads(json.dumps(data))
    if data["schema_version"] == 1:
        data = _v1_to_v2(data)
    if data["schema_version"] == 2:
        data = _v2_to_v3(data)
    return data


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    prepare = data.get("prepare") or {}
    facts = prepare.pop("backend", None) or {}
    data["model"]["facts"] = facts
    data["model"]["file_bytes"] = facts.get("model_file_bytes")
    training = prepare.pop("training", None)
    if training:
        if "adapter_key" in training:
            training.setdefault("kind", "lora adapter")
        elif "fine_tuned_model" in training:
            training.setdefault("kind", "hosted fine-tune")
        training.setdefault("kind", "trained")
        training["artifact"] = v1_artifact(training)
    data["training"] = training or None
    data["schema_version"] = 2
    return data


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """The start-up facts an older record holds elsewhere: the index build from the rag facts in
    `prepare` (priced by its wall time, as those records priced everything, at the rate their
    training used or the default), the labelled examples from the few-shot ids, the indexed train
    items or the training examples."""
    from harness.compute import HardwareRate
    from harness.pricing import DEFAULT_HARDWARE_USD_PER_HOUR

    prepare, training = data.get("prepare") or {}, data.get("training") or {}
    if "build_seconds" in prepare:
        rate = HardwareRate(float(training.get("hardware_usd_per_hour")
                                  or DEFAULT_HARDWARE_USD_PER_HOUR), 1)
        usd, basis = rate.price(prepare.get("cpu_seconds"), prepare["build_seconds"])
        data["index"] = {"build_seconds": prepare["build_seconds"],
                         "cpu_seconds": prepare.get("cpu_seconds"), "cost_usd": usd,
                         "cost_basis": basis, "cache_hit": bool(prepare.get("index_cache_hit"))}
    if training.get("train_examples") is not None:
        data["labelled_examples"] = training["train_examples"]
    elif prepare.get("mode") == "few_shot" and "n_documents" in prepare:
        data["labelled_examples"] = prepare["n_documents"]
    elif "few_shot_ids" in prepare:
        data["labelled_examples"] = len(prepare["few_shot_ids"])
    data["schema_version"] = 3
    return data


def v1_artifact(training: dict[str, Any]) -> str:
    """The v1 records' label of what training made, from the keys each strategy wrote."""
    if training.get("adapter_key"):
        return f"+ LoRA {training['adapter_key'][:8]}"
    if training.get("fine_tuned_model"):
        return f"-> {training['fine_tuned_model']}"
    if training.get("classifier_key"):
        return f"+ logistic regression {training['classifier_key'][:8]}"
    return f"+ {training.get('kind', 'trained')}"


def read_records(results: Path) -> tuple[list[CellRecord], list[str]]:
    """All readable records under a results dir, and a message for each one skipped."""
    records, skipped = [], []
    for path in sorted(cells_dir(results).glob("*.json")):
        try:
            record = read_record(path)
        except (DataError, ValueError) as exc:
            skipped.append(str(exc).splitlines()[0])
            continue
        problem = predictions_problem(results, record)
        if problem:
            skipped.append(f"{problem}; its record {path.name} is left out: {RECOMPUTE_HINT}")
        else:
            records.append(record)
    return records, skipped


def environment() -> Environment:
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in ("rvf", "torch", "transformers", "peft", "sentence-transformers", "chromadb",
                 "llama-index-core", "openai", "ragas", "numpy"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            pass
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        sha = None
    return Environment(python=platform.python_version(),
                       platform=f"{platform.system()} {platform.machine()}",
                       packages=packages, git_sha=sha, machine=machine_summary())


def machine_summary() -> str:
    """"<CPU model>, <n> cores[, GPU <name>]": enough to tell where a timing came from."""
    from harness.machine import cpu_model

    out = f"{cpu_model()}, {os.cpu_count()} cores"
    import sys

    if "torch" in sys.modules:  # only ask when torch is already loaded (API-only runs stay light)
        torch = sys.modules["torch"]
        if torch.cuda.is_available():
            out += f", GPU {torch.cuda.get_device_name(0)}"
    return out
