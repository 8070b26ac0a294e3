"""`rvf report`: one self-contained HTML page per results dir, for looking rather than publishing.

Built from the cell records and their predictions files alone, like LEADERBOARD.md, and grouped
into the same tables (`analysis.group_rows`). The page holds:

- per task table: the leaderboard's figures (`leaderboard.task_cells`), sortable by any column,
  its plots inline, and the most confused label pairs of each row;
- a per-sample view of one table: a row per test sample, a column per strategy/model, each cell
  the parsed answer marked right, wrong or invalid; filters ("any strategy wrong", "strategies
  disagree", "invalid"); pages of 50; a click opens the sample's raw answer, retrieved context,
  tokens and latency.

Everything is inline (data as JSON, script, style, plots as data URIs): the file opens from disk
with no server and no network. Untrusted text (answers, data, model specs) reaches the page only
as JSON data that the script inserts with `textContent`, never as markup.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
from pathlib import Path
from typing import Any

from harness.analysis import Row, group_rows, table_title
from harness.leaderboard import task_cells
from harness.records import atomic_write, cells_dir, read_records

REPORT_NAME = "report.html"
# A right answer: a per-sample score of at least this (1/0 for labels and codes; token-F1 for
# free text, where half the reference's tokens is the usual "mostly right" line).
RIGHT = 0.5


def sample_cell(row: dict[str, Any]) -> dict[str, Any]:
    """What the page shows of one prediction row (short keys: a page may hold 30,000)."""
    score = row.get("score")
    state = ("error" if row.get("error") else "invalid" if not row.get("valid")
             else "right" if isinstance(score, int | float) and score >= RIGHT else "wrong")
    return {"a": row.get("answer"), "raw": row.get("raw", ""), "st": state, "s": score,
            "err": row.get("error"), "it": row.get("input_tokens"), "ot": row.get("output_tokens"),
            "lat": row.get("latency_s"), "x": row.get("extra") or {}, "f": row.get("fields") or {}}


def read_predictions(results: Path, row: Row) -> list[dict[str, Any]]:
    path = cells_dir(results) / row.record.predictions_file
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def table_data(results: Path, key, rows: list[Row], keys: list) -> dict[str, Any]:
    header, cells = task_cells(rows)
    columns = [{"label": r.label, "key": r.record.cell_key} for r in rows]
    samples: dict[str, dict[str, Any]] = {}
    for i, row in enumerate(rows):
        for pred in read_predictions(results, row):
            sample = samples.setdefault(pred["sample_id"], {
                "id": pred["sample_id"], "target": pred.get("target", ""), "input": "",
                "cells": [None] * len(rows)})
            sample["input"] = sample["input"] or pred.get("input", "")
            sample["cells"][i] = sample_cell(pred)
    confusion = [{"row": r.label, "pairs": r.record.details.get("confused_pairs", [])}
                 for r in rows if r.record.details.get("confused_pairs")]
    return {"title": table_title(key, keys), "primary": rows[0].record.primary_metric,
            "header": header, "rows": cells, "columns": columns, "confusion": confusion,
            "plots": plots_of(results, key), "samples": list(samples.values())}


def plots_of(results: Path, key) -> list[dict[str, str]]:
    """The leaderboard's PNG plots of one table, as data URIs (the page needs no other file)."""
    from harness.plots import plot_files

    out = []
    for title, path in plot_files(results, key):
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode()
            out.append({"title": title, "src": f"data:image/png;base64,{data}"})
    return out


def report_data(results: Path) -> dict[str, Any]:
    records, skipped = read_records(results)
    groups = group_rows(records, results)
    keys = list(groups)
    return {"results": str(results), "skipped": skipped,
            "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "tables": [table_data(results, key, rows, keys) for key, rows in groups.items()]}


def json_for_script(data: Any) -> str:
    """JSON that cannot end its <script> element or open another: <, > and & are escaped as
    JSON unicode escapes (the parsed data is unchanged), and so are the two JavaScript line
    separators."""
    text = json.dumps(data, ensure_ascii=False, default=str)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def render_report(data: dict[str, Any]) -> str:
    page = (Path(__file__).parent / "data" / "report.html").read_text(encoding="utf-8")
    before, _, after = page.partition("{{data}}")  # one substitution each, never into the data
    before = before.replace("{{title}}", html.escape(f"rvf report: {data['results']}"))
    return before + json_for_script(data) + after


def write_report(results: Path, out: Path | None = None) -> Path:
    """Write the page (atomically); returns its path."""
    path = out or results / REPORT_NAME
    atomic_write(path, render_report(report_data(results)))
    return path
