"""Render LEADERBOARD.md (and its plots) from cell records alone.

The reader's question is "prompt, RAG or fine-tune for this task?", so the page opens with a
summary per task (best quality, cheapest per query, the Pareto-optimal rows on quality versus
cost), then one table per task:

- rows are ranked by the task's primary metric in its own direction (unscored rows last);
- "vs #1" is a paired test against the top row on the samples both scored (McNemar's exact test
  for 0/1 per-sample scores, a paired bootstrap otherwise; `harness/scoring/paired.py`), with `*`
  when p < 0.05;
- cost: $/1k queries from the record; serving mem: the cell's own peak resident memory while it
  answered; model file: the size of the local model's files (a GGUF file, an HF folder);
- under it, the start-up costs, each in its own column (training, index build, labelling), and
  the break-even volume: see harness/analysis.py, where every figure of the page is derived.

Rows are ranked together only when they were scored on the same samples of the same data: each
(task, version, dataset hash, scored sample ids) is its own table (`TableKey`), labelled with n and
the sample set, and the mismatch is listed. Each table also shows the leakage audit of its split
and, for closed answer spaces, the primary metric by novelty (harness/audit.py).
"""

from __future__ import annotations

from pathlib import Path

from harness.analysis import (
    ALPHA,
    CostAssumptions,
    Row,
    break_even,
    group_rows,
    learning_curves,
    pareto,
    table_detail,
    table_title,
)
from harness.audit import Audit
from harness.formats import args_text, duration, fmt, metric_cell, model_label, usd
from harness.records import CellRecord


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


def gib(n_bytes: float | None) -> str:
    return "n/a" if not n_bytes else f"{n_bytes / 2**30:.1f} GiB"


def _serving_memory(record: CellRecord) -> str:
    """The cell's own peak while answering; an older record's is the process's lifetime peak
    (training and earlier cells included), marked so."""
    if record.model.identity.get("backend") == "openai":
        return "— (API)"
    if record.usage.model_calls == 0:
        return "— (cached)"  # every answer came from the cache: the model was never loaded
    shown = gib((record.usage.peak_rss_mb or 0) * 2**20)
    return shown if record.usage.peak_rss_scope == "cell" else f"{shown} (process)"


def _model_file(record: CellRecord) -> str:
    """Size of the model files a local backend loaded (a GGUF file, an HF folder)."""
    if record.model.identity.get("backend") == "openai":
        return "— (API)"
    size = record.model.file_bytes
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


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _header(names: list[str]) -> list[str]:
    return [_row(names), "|" + "|".join("---" for _ in names) + "|"]


def task_cells(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    """The main table of one task as header and cells: the markdown leaderboard and the HTML
    report show the same figures."""
    primary = rows[0].record.primary_metric
    header = ["#", "strategy", "model", f"{primary} [95% CI]", "vs #1", "n", "invalid",
              "errors", "in tok/q", "out tok/q", "$/1k queries", "p50 s", "p95 s",
              "serving mem", "model file"]
    cells = []
    for row in rows:
        r = row.record
        truncated = r.usage.truncated_prompts
        cells.append([
            str(row.rank), r.strategy.name, model_label(r), metric_cell(r, primary),
            _significance(row), str(r.task.n) + (f" ({truncated} truncated)" if truncated else ""),
            _invalid(r), _error_rate(r), f"{r.usage.input_tokens_per_query:.0f}",
            f"{r.usage.output_tokens_per_query:.1f}", usd(r.cost_per_1k_queries_usd),
            fmt(r.usage.latency_p50_s, 2), fmt(r.usage.latency_p95_s, 2), _serving_memory(r),
            _model_file(r)])
    return header, cells


def task_table(rows: list[Row]) -> list[str]:
    header, cells = task_cells(rows)
    return _header(header) + [_row(c) for c in cells]


def start_up_table(rows: list[Row]) -> list[str]:
    """Every cost a row pays before its first query, each in its own column, and break-even."""
    label_price = rows[0].assumptions.label_usd_per_example
    lines = _header(["#", "strategy", "model", "training $", "training time", "training mem",
                     "index $", "labelled examples", f"labelling $ (${label_price:g} each)",
                     "start-up $", "$/1k queries", "break-even volume"])
    for row in rows:
        r, t, start = row.record, row.training, row.start_costs
        lines.append(_row([
            str(row.rank), r.strategy.name, model_label(r),
            usd(start.training) if t else "—", duration(t.wall_seconds if t else None),
            gib(t.peak_rss_bytes) if t else "—", usd(start.index) if r.index else "—",
            "n/a" if start.labelled_examples is None else f"{start.labelled_examples:,}",
            usd(start.labelling), usd(start.total) + (" + unknown" if start.unknown else ""),
            usd(r.cost_per_1k_queries_usd), break_even(row, rows)]))
    return lines


def secondary_table(rows: list[Row]) -> list[str]:
    primary = rows[0].record.primary_metric
    names = sorted({m for row in rows for m in row.record.metrics} - {primary})
    if not names:
        return []
    lines = _header(["#", "strategy", "model", *names, "seed", "args"])
    for row in rows:
        r = row.record
        lines.append(_row([str(row.rank), r.strategy.name, model_label(r),
                           *[metric_cell(r, m) for m in names], str(r.seed),
                           args_text(r.strategy.args)]))
    return lines


def curve_table(curves: list[list[Row]]) -> list[str]:
    primary = curves[0][0].record.primary_metric
    lines = [f"| train examples | examples seen | steps | model | {primary} [95% CI] | "
             "training time | training $ |", "|---|---|---|---|---|---|---|"]
    for row in (r for curve in curves for r in curve):
        t = row.training
        lines.append(f"| {t.train_examples:,} | {count(t.examples_seen)} | {count(t.steps)} | "
                     f"{model_label(row.record)} | {metric_cell(row.record, primary)} | "
                     f"{duration(t.wall_seconds)} | {usd(t.training_cost_usd)} |")
    return lines


def count(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def summary_lines(name: str, rows: list[Row]) -> list[str]:
    scored = [r for r in rows if r.quality is not None]
    if not scored:
        return [f"- **{name}**: no scored rows yet."]
    best = scored[0]
    priced = [r for r in rows if r.per_query is not None]
    cheapest = min(priced, key=lambda r: r.per_query) if priced else None
    primary = best.record.primary_metric
    out = [f"- **{name}** — best {primary}: {best.label} ({metric_cell(best.record, primary)})"]
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
                   f"({metric_cell(best.record, best.record.primary_metric)})")
    else:
        return []
    return [f"  - classifier baseline: {base.label} ({fmt(base.quality)}, "
            f"${usd(base.record.cost_per_1k_queries_usd)} per 1k queries) is {verdict}"]


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
           results: Path | None = None, plots: dict[tuple, dict[str, str]] | None = None,
           assumptions: CostAssumptions | None = None) -> str:
    groups = group_rows(records, results, assumptions)
    lines = ["# rvf leaderboard", "",
             "Built from cell records alone (`rvf leaderboard`). Metrics on the test split with 95% "
             "bootstrap confidence intervals in brackets. \"vs #1\": paired test against the top row "
             "on the samples both scored (McNemar's exact test for right/wrong per sample, paired "
             "bootstrap for continuous scores), `*` = significant at 0.05. $/1k queries: tokens x "
             "the price table for hosted models, process CPU seconds x the hardware rate per core "
             "for local ones (each record's `cost_basis` says which); \"unknown\" without a price. "
             "Serving mem: the cell's own peak resident memory while it answered. Start-up costs: "
             "training and index-build compute at the same hardware rate, and labelling at "
             "`--label-usd-per-example`. Break-even volume: queries after which the row's "
             "start-up + query cost falls below every cheaper-to-start row of equal or better "
             "quality.", ""]
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
        lines += ["**Start-up costs and break-even:**", ""] + start_up_table(rows) + [""]
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
    return "\n".join(one_line(line) for line in lines)


def one_line(text: str) -> str:
    """Each entry of `lines` is one markdown line. Record fields (a model spec, a task name, a
    data path in a message) are not trusted to be: a line break inside one would start a line
    of its own, such as a heading."""
    return " ".join(part for part in text.splitlines() if part)
