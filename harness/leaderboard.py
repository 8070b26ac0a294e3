"""Render LEADERBOARD.md (and its plots) from cell records alone.

The reader's question is "prompt, RAG or fine-tune for this task?", so the page opens with a
summary per task (best quality, cheapest per query, the Pareto-optimal rows on quality versus
cost), then one table per task:

- rows are ranked by the task's primary metric in its own direction (unscored rows last);
- "vs #1" is a paired test against the top row on the samples both scored (McNemar's exact test
  for 0/1 per-sample scores, a paired bootstrap otherwise; `harness/scoring/paired.py`), with `*`
  when p < 0.05;
- cost: $/1k queries from the record; training $ and time from the lora training record;
- peak mem: the process's peak resident memory (training included); model file: the size of the
  local model's files (a GGUF file, an HF folder), from the backend's facts in the record;
- break-even volume: the number of queries after which the row's total cost (training + queries)
  is below that of every alternative that is cheaper to start and of equal or better quality
  (higher primary metric, or not significantly different); "never" when its per-query cost is not
  lower; "—" when no such alternative exists.

Rows are ranked together only when they were scored on the same samples of the same data: each
(task, version, dataset hash, scored sample ids) is its own table (`TableKey`), labelled with n and
the sample set, and the mismatch is listed. Each table also shows the leakage audit of its split
and, for closed answer spaces, the primary metric by novelty (harness/audit.py).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from harness.audit import Audit
from harness.records import CellRecord, atomic_write, cells_dir, read_records, sample_ids_sha256
from harness.scoring.paired import PairedTest, paired_test

ALPHA = 0.05


@dataclass
class Row:
    """One cell record with what the leaderboard derives from it."""

    record: CellRecord
    scores: dict[str, float] = field(default_factory=dict)  # sample id -> per-sample score
    rank: int = 0
    versus_top: PairedTest | None = None

    @property
    def quality(self) -> float | None:
        m = self.record.metrics.get(self.record.primary_metric)
        return None if m is None else m.value

    @property
    def higher_is_better(self) -> bool:
        m = self.record.metrics.get(self.record.primary_metric)
        return True if m is None else m.higher_is_better

    @property
    def training(self) -> dict:
        return self.record.prepare.get("training") or {}

    @property
    def start_cost(self) -> float:
        """What it costs before the first query: training (0 for strategies that do not train)."""
        return float(self.training.get("training_cost_usd") or 0.0)

    @property
    def per_query(self) -> float | None:
        c = self.record.cost_per_1k_queries_usd
        return None if c is None else c / 1000

    @property
    def label(self) -> str:
        return f"#{self.rank} {self.record.strategy.name} / {model_label(self.record)}"


def model_label(record: CellRecord) -> str:
    """The model as asked for, plus what training made of it (a LoRA adapter, a hosted job)."""
    training = record.prepare.get("training") or {}
    if training.get("adapter_key"):
        return f"{record.model.spec} + LoRA {training['adapter_key'][:8]}"
    if training.get("fine_tuned_model"):
        return f"{record.model.spec} -> {training['fine_tuned_model']}"
    if training.get("classifier_key"):
        return f"{record.model.spec} + logistic regression {training['classifier_key'][:8]}"
    return record.model.spec


def fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def usd(value: float | None) -> str:
    """Dollars with enough digits to tell cheap rows apart; None is an unknown price (shared by
    `rvf cost`)."""
    if value is None:
        return "unknown"
    return f"{value:,.2f}" if value >= 1 else f"{value:.3g}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _metric_cell(record: CellRecord, name: str) -> str:
    m = record.metrics.get(name)
    if m is None or m.value is None:
        return "not scored" if m is not None else "—"
    if m.ci_low is None:
        return fmt(m.value)
    return f"{fmt(m.value)} [{fmt(m.ci_low)}, {fmt(m.ci_high)}]"


def _args(args: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(args.items())) or "defaults"


def _sort_key(row: Row) -> tuple:
    q = row.quality
    if q is None:
        return (1, 0.0)
    return (0, -q if row.higher_is_better else q)


def load_scores(results: Path, record: CellRecord) -> dict[str, float]:
    """Per-sample scores from the record's predictions file (empty when it has none)."""
    path = cells_dir(results) / record.predictions_file
    scores: dict[str, float] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return scores
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row.get("score"), int | float):
            scores[row["sample_id"]] = float(row["score"])
    return scores


def rank_rows(rows: list[Row], seed: int = 0) -> None:
    """Rank in place by quality and test every row against the top one."""
    rows.sort(key=_sort_key)
    for i, row in enumerate(rows, 1):
        row.rank = i
    top = rows[0]
    for row in rows[1:]:
        row.versus_top = paired_test(top.scores, row.scores, seed) if top.scores and row.scores \
            else None


def equal_or_better(alt: Row, row: Row) -> bool:
    """Is `alt` at least as good as `row`: better primary metric, or no significant difference."""
    if alt.quality is None or row.quality is None:
        return False
    better = alt.quality >= row.quality if row.higher_is_better else alt.quality <= row.quality
    if better:
        return True
    test = paired_test(alt.scores, row.scores) if alt.scores and row.scores else None
    return test is not None and test.p_value >= ALPHA


def break_even(row: Row, rows: list[Row]) -> str:
    """Queries after which `row` costs less in total than every cheaper-to-start, as-good row."""
    rivals = [a for a in rows if a is not row and a.start_cost < row.start_cost
              and equal_or_better(a, row)]
    if not rivals:
        return "—"
    worst: tuple[float, Row] | None = None
    for alt in rivals:
        if row.per_query is None or alt.per_query is None:
            return "unknown (no price)"
        if row.per_query >= alt.per_query:
            return f"never (vs {alt.label})"
        volume = (row.start_cost - alt.start_cost) / (alt.per_query - row.per_query)
        if worst is None or volume > worst[0]:
            worst = (volume, alt)
    assert worst is not None
    return f"{math.ceil(worst[0]):,} q (vs {worst[1].label})"


def pareto(rows: list[Row]) -> list[Row]:
    """Rows with a known cost that no other row beats on both quality and $/1k queries."""
    known = [r for r in rows if r.quality is not None and r.per_query is not None]

    def beats(a: Row, b: Row) -> bool:
        qa, qb = (a.quality, b.quality) if a.higher_is_better else (-a.quality, -b.quality)
        return qa >= qb and a.per_query <= b.per_query and (qa > qb or a.per_query < b.per_query)

    return [r for r in known if not any(beats(o, r) for o in known if o is not r)]


def _significance(row: Row) -> str:
    if row.rank == 1:
        return "—"
    t = row.versus_top
    if t is None:
        return "n/a"
    # A bootstrap p of 0 means "below its resolution" (1 / 1000 resamples), not zero.
    shown = "p<0.001" if t.p_value < 0.001 and t.test == "paired bootstrap" else f"p={t.p_value:.3g}"
    if t.p_value == 0 and t.test != "paired bootstrap":
        shown = "p<1e-300"  # an exact test's p below what a float holds, not zero
    return f"{shown}{' *' if t.p_value < ALPHA else ''}"


def _peak_memory(record: CellRecord) -> str:
    if record.model.identity.get("backend") == "openai":
        return "— (API)"
    if record.usage.model_calls == 0 and not record.prepare.get("training"):
        return "— (cached)"  # every answer came from the cache: the model was never loaded
    peaks = [record.usage.peak_rss_mb or 0.0,
             ((record.prepare.get("training") or {}).get("peak_rss_bytes") or 0) / 2**20]
    return f"{max(peaks) / 1024:.1f} GiB" if max(peaks) else "n/a"


def _model_file(record: CellRecord) -> str:
    """Size of the model files a local backend loaded (a GGUF file, an HF folder)."""
    if record.model.identity.get("backend") == "openai":
        return "— (API)"
    size = (record.prepare.get("backend") or {}).get("model_file_bytes")
    if not size:
        return "—"
    return f"{size / 2**20:.0f} MiB" if size < 2**30 else f"{size / 2**30:.1f} GiB"


def _error_rate(record: CellRecord) -> str:
    total = record.task.n + record.usage.errors
    return fmt(record.usage.errors / total if total else None)


def _invalid(record: CellRecord) -> str:
    for name in ("invalid_rate", "invalid_code_rate"):
        if name in record.metrics:
            return fmt(record.metrics[name].value)
    return "—"


def task_table(rows: list[Row]) -> list[str]:
    primary = rows[0].record.primary_metric
    header = ["#", "strategy", "model", f"{primary} [95% CI]", "vs #1", "n", "invalid", "errors",
              "in tok/q", "out tok/q", "$/1k queries", "p50 s", "p95 s", "training $",
              "training time", "peak mem", "model file", "break-even volume"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        r, t = row.record, row.training
        cells = [str(row.rank), r.strategy.name, model_label(r), _metric_cell(r, primary),
                 _significance(row), str(r.task.n), _invalid(r), _error_rate(r),
                 f"{r.usage.input_tokens_per_query:.0f}", f"{r.usage.output_tokens_per_query:.1f}",
                 usd(r.cost_per_1k_queries_usd), fmt(r.usage.latency_p50_s, 2),
                 fmt(r.usage.latency_p95_s, 2),
                 usd(t["training_cost_usd"]) if "training_cost_usd" in t else "—",
                 _duration(t.get("wall_seconds")), _peak_memory(r), _model_file(r),
                 break_even(row, rows)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def secondary_table(rows: list[Row]) -> list[str]:
    primary = rows[0].record.primary_metric
    names = sorted({m for row in rows for m in row.record.metrics} - {primary})
    if not names:
        return []
    header = ["#", "strategy", "model", *names, "seed", "args"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        r = row.record
        cells = [str(row.rank), r.strategy.name, model_label(r),
                 *[_metric_cell(r, m) for m in names], str(r.seed), _args(r.strategy.args)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def learning_curves(rows: list[Row]) -> list[list[Row]]:
    """Trained rows that differ only in training-set size, one curve per strategy, model and
    other arguments (a Q4 or differently configured row is not a point on the fp32 curve), each
    by size; a curve needs two sizes or more."""
    groups: dict[str, list[Row]] = {}
    for r in rows:
        if r.training.get("train_examples") and r.quality is not None:
            args = {k: v for k, v in r.record.strategy.args.items() if k != "train_size"}
            key = json.dumps([r.record.strategy.name, r.record.model.spec, args], sort_keys=True,
                             default=str)
            groups.setdefault(key, []).append(r)
    return [sorted(g, key=lambda r: r.training["train_examples"]) for g in groups.values()
            if len({r.training["train_examples"] for r in g}) > 1]


def curve_table(curves: list[list[Row]]) -> list[str]:
    primary = curves[0][0].record.primary_metric
    lines = [f"| train examples | model | {primary} [95% CI] | training time | training $ |",
             "|---|---|---|---|---|"]
    for row in (r for curve in curves for r in curve):
        t = row.training
        lines.append(f"| {t['train_examples']:,} | {model_label(row.record)} | "
                     f"{_metric_cell(row.record, primary)} | {_duration(t.get('wall_seconds'))} | "
                     f"{usd(t.get('training_cost_usd'))} |")
    return lines


def summary_lines(name: str, rows: list[Row]) -> list[str]:
    scored = [r for r in rows if r.quality is not None]
    if not scored:
        return [f"- **{name}**: no scored rows yet."]
    best = scored[0]
    priced = [r for r in rows if r.per_query is not None]
    cheapest = min(priced, key=lambda r: r.per_query) if priced else None
    primary = best.record.primary_metric
    out = [f"- **{name}** — best {primary}: {best.label} ({_metric_cell(best.record, primary)})"]
    if cheapest is not None:
        out.append(f"  - cheapest per query: {cheapest.label} "
                   f"(${usd(cheapest.record.cost_per_1k_queries_usd)} per 1k queries)")
    out += classifier_line(scored)
    front = pareto(rows)
    if front:
        out.append("  - Pareto-optimal on quality vs $/1k queries: "
                   + "; ".join(f"{r.label} ({fmt(r.quality)}, ${usd(r.record.cost_per_1k_queries_usd)})"
                               for r in sorted(front, key=lambda r: r.rank)))
    return out


@dataclass(frozen=True, order=True)
class TableKey:
    """What rows must share to be ranked in one table: the task, its version and data, and the
    exact set of test samples scored (a --limit 20 row and a --limit 40 row are not compared)."""

    task: str
    version: str
    dataset_sha256: str
    sample_ids_sha256: str  # "" when unknown (an old record without its predictions file)
    n: int

    @property
    def stem(self) -> str:
        """A short, file-name-safe id of the table (plot file names)."""
        return f"{self.dataset_sha256[:8]}-{self.sample_ids_sha256[:6] or 'unknown'}"


def classifier_line(scored: list[Row]) -> list[str]:
    """Name the classifier baseline when it is above the best LLM row or within its CI: then an
    LLM strategy is not needed for the quality."""
    llm = [r for r in scored if r.record.strategy.name != "classifier"]
    baselines = [r for r in scored if r.record.strategy.name == "classifier"]
    if not llm or not baselines:
        return []
    best, base = llm[0], baselines[0]
    m = best.record.metrics[best.record.primary_metric]
    if base.rank < best.rank:
        verdict = f"above the best LLM row, {best.label} ({fmt(best.quality)})"
    elif m.ci_low is not None and m.ci_high is not None and m.ci_low <= base.quality <= m.ci_high:
        verdict = (f"within the 95% CI of the best LLM row, {best.label} "
                   f"({_metric_cell(best.record, best.record.primary_metric)})")
    else:
        return []
    return [f"  - classifier baseline: {base.label} ({fmt(base.quality)}, "
            f"${usd(base.record.cost_per_1k_queries_usd)} per 1k queries) is {verdict}"]


def group_rows(records: list[CellRecord], results: Path | None = None
               ) -> dict[TableKey, list[Row]]:
    """Ranked rows per table (see TableKey); per-sample scores read from `results`."""
    groups: dict[TableKey, list[Row]] = defaultdict(list)
    for r in records:
        scores = load_scores(results, r) if results is not None else {}
        ids = r.task.sample_ids_sha256 or (sample_ids_sha256(scores) if scores else "")
        key = TableKey(r.task.name, r.task.version, r.task.dataset_sha256, ids, r.task.n)
        groups[key].append(Row(r, scores))
    for rows in groups.values():
        rank_rows(rows)
    return dict(sorted(groups.items(), key=lambda kv: (kv[0].task, -kv[0].n, kv[0])))


def table_detail(key: TableKey, keys: list[TableKey]) -> str:
    """"vN", plus what tells a task's tables apart when it has several: the data, when versions
    or datasets differ, and n with the sample set."""
    siblings = [k for k in keys if k.task == key.task]
    parts = [f"v{key.version}"]
    if len({(k.version, k.dataset_sha256) for k in siblings}) > 1:
        parts.append(f"data {key.dataset_sha256[:12]}")
    if len(siblings) > 1:
        parts.append(f"n = {key.n}, samples {key.sample_ids_sha256[:8] or 'unknown'}")
    return ", ".join(parts)


def table_title(key: TableKey, keys: list[TableKey]) -> str:
    return f"{key.task} ({table_detail(key, keys)})"


def audit_lines(rows: list[Row]) -> list[str]:
    """The leakage audit and the quality-by-novelty table of one table's rows."""
    audit = rows[0].record.audit
    if not audit:
        return []
    out = [f"**Leakage audit** ({audit['measure']}): {Audit.from_summary(audit).line()}.", ""]
    novel = [r for r in rows if r.record.novelty]
    if novel:
        buckets = [b["bucket"] for b in novel[0].record.novelty]
        primary = rows[0].record.primary_metric
        out += [f"**{primary} by novelty** (similarity of each scored test item to its nearest "
                "train item; n per bucket):", "",
                "| # | strategy | model | " + " | ".join(buckets) + " |",
                "|---|---|---|" + "---|" * len(buckets)]
        for row in novel:
            cells = [f"{fmt(b['value'])} [{fmt(b['ci_low'])}, {fmt(b['ci_high'])}] (n={b['n']})"
                     if b["value"] is not None else f"— (n={b['n']})" for b in row.record.novelty]
            out.append(f"| {row.rank} | {row.record.strategy.name} | {model_label(row.record)} | "
                       + " | ".join(cells) + " |")
        out.append("")
    return out


def render(records: list[CellRecord], skipped: list[str] | None = None,
           results: Path | None = None, plots: dict[tuple, dict[str, str]] | None = None) -> str:
    groups = group_rows(records, results)
    lines = ["# rvf leaderboard", "",
             "Built from cell records alone (`rvf leaderboard`). Metrics on the test split with 95% "
             "bootstrap confidence intervals in brackets. \"vs #1\": paired test against the top row "
             "on the samples both scored (McNemar's exact test for right/wrong per sample, paired "
             "bootstrap for continuous scores), `*` = significant at 0.05. $/1k queries: tokens x "
             "the price table for hosted models, compute time x hardware $/h for local ones (each "
             "record's `cost_basis` says which); \"unknown\" without a price. Break-even volume: "
             "queries after which the row's training + query cost falls below every "
             "cheaper-to-start row of equal or better quality.", ""]
    if not records:
        lines += ["No cell records yet: run `rvf run` first.", ""]
    else:
        dates = sorted(r.created_at[:10] for r in records)
        machines = sorted({r.environment.machine for r in records if r.environment.machine})
        lines += [f"Records dated {dates[0]}" + (f" to {dates[-1]}" if dates[-1] != dates[0] else "")
                  + (f"; measured on: {'; '.join(machines)}." if machines else "."), ""]
    keys = list(groups)
    if records:
        lines += ["## Summary", ""]
        for key, rows in groups.items():
            lines += summary_lines(table_title(key, keys), rows)
        for task in sorted({k.task for k in keys}):
            siblings = [k for k in keys if k.task == task]
            if len(siblings) > 1:
                lines += ["", f"Not compared: `{task}` has rows scored on {len(siblings)} "
                              "different task versions, datasets or sample sets ("
                          + "; ".join(table_detail(k, keys) for k in siblings)
                          + "); each gets its own table, and paired tests stay inside a table."]
        lines.append("")
    for key, rows in groups.items():
        primary = rows[0].record.primary_metric
        lines += [f"## {table_title(key, keys)}", "",
                  f"Ranked by **{primary}**; n = test samples scored (the same samples for every "
                  "row of this table).", ""]
        lines += task_table(rows) + [""]
        for title, rel in (plots or {}).get(key, {}).items():
            lines += [f"![{title}]({rel})", ""]
        lines += audit_lines(rows)
        curves = learning_curves(rows)
        if curves:
            lines += ["**Learning curve (lora):**", ""] + curve_table(curves) + [""]
        secondary = secondary_table(rows)
        if secondary:
            lines += ["<details><summary>Secondary metrics</summary>", ""] + secondary + \
                     ["", "</details>", ""]
    if skipped:
        lines += ["## Left out", ""] + [f"- {s}" for s in skipped] + [""]
    return "\n".join(lines)


def leaderboard_is_current(results: Path) -> bool:
    """Is LEADERBOARD.md newer than every cell record? Then a re-render would change nothing
    (it is built from the records alone) and a fully cached run skips it: drawing the plots is
    most of a warm run's time."""
    board = results / "LEADERBOARD.md"
    if not board.exists():
        return False
    built = board.stat().st_mtime
    records = list(cells_dir(results).glob("*.json"))
    return all(p.stat().st_mtime < built for p in records)


def write_leaderboard(results: Path, plots: bool = True) -> tuple[Path, int, list[str]]:
    """Render `<results>/LEADERBOARD.md` and its plots; returns path, rows rendered, skipped."""
    records, skipped = read_records(results)
    drawn: dict[tuple, dict[str, str]] = {}
    if plots and records:
        from harness.plots import draw_plots

        drawn, notes = draw_plots(results, group_rows(records, results))
        skipped = skipped + notes
    path = results / "LEADERBOARD.md"
    atomic_write(path, render(records, skipped, results, drawn))
    return path, len(records), skipped
