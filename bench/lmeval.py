"""Row 2's lm-evaluation-harness side: the default cell's exact prompts as a local generate-until
task (no dataset hub), run through `lm-eval run` on the bundled model's HF folder.

The prompts are exported already rendered with the chat template (as rvf's hf backend renders
them), so both tools generate from identical strings; lm-eval's own chat templating stays off.
Both answers are scored by the task's own parser, so the accuracies compare like for like.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TASK_NAME = "rvf_ticket_categorization"


def available() -> bool:
    return importlib.util.find_spec("lm_eval") is not None


def export_task(folder: Path, ids: Sequence[str], prompts: Sequence[str], targets: Sequence[str],
                max_new_tokens: int, stop: str) -> Path:
    """Write `<folder>/prompts.jsonl` and `<folder>/<task>.yaml`; the folder is lm-eval's
    --include_path. Greedy, `max_new_tokens` (rvf's max_answer_tokens), stop at end-of-turn."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "prompts.jsonl"
    with data.open("w", encoding="utf-8") as fh:
        for i, p, t in zip(ids, prompts, targets, strict=True):
            fh.write(json.dumps({"id": i, "prompt": p, "target": t}, ensure_ascii=False) + "\n")
    # JSON is valid YAML: no quoting questions for the stop string or the path.
    config = {
        "task": TASK_NAME,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data)}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "{{prompt}}",
        "doc_to_target": "{{target}}",
        "target_delimiter": "",
        "generation_kwargs": {"until": [stop], "max_gen_toks": max_new_tokens, "do_sample": False},
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0},
    }
    (folder / f"{TASK_NAME}.yaml").write_text(json.dumps(config, indent=2) + "\n")
    return data


def command(python: str, model_dir: Path, include: Path, out: Path, batch_size: int) -> list[str]:
    return [python, "-m", "lm_eval", "run", "--model", "hf",
            "--model_args", f"pretrained={model_dir},dtype=float32",
            "--tasks", TASK_NAME, "--include_path", str(include), "--batch_size", str(batch_size),
            "--device", "cpu", "--output_path", str(out), "--log_samples"]


def read_outputs(out: Path) -> dict[str, str]:
    """Sample id -> raw generated text, from lm-eval's samples_<task>_*.jsonl under `out`."""
    files = sorted(out.rglob(f"samples_{TASK_NAME}_*.jsonl"))
    if not files:
        raise RuntimeError(f"lm-eval wrote no samples file under {out}")
    found: dict[str, str] = {}
    for line in files[-1].read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row: dict[str, Any] = json.loads(line)
        resps = row.get("resps") or [[""]]
        text = resps[0][0] if isinstance(resps[0], list) else resps[0]
        found[row["doc"]["id"]] = text
    return found
