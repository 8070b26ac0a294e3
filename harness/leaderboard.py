"""Render LEADERBOARD.md from cell records alone.

One table per (task, version, dataset hash): rows from different data are never ranked together;
such groups get separate tables with the hash in the heading. Rows are ranked by the task's
primary metric in its own direction; a row whose primary metric was not scored goes last.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from harness.records import CellRecord, atomic_write, read_records


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _usd(value: float | None) -> str:
    """Dollars with enough digits to tell cheap rows apart; None is an unknown price."""
    if value is None:
        return "unknown"
    return f"{value:.2f}" if value >= 1 else f"{value:.3g}"


def _metric_cell(record: CellRecord, name: str) -> str:
    m = record.metrics.get(name)
    if m is None or m.value is None:
        return "not scored" if m is not None else "—"
    if m.ci_low is None:
        return _fmt(m.value)
    return f"{_fmt(m.value)} [{_fmt(m.ci_low)}, {_fmt(m.ci_high)}]"


def _args(args: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(args.items())) or "defaults"


def _sort_key(record: CellRecord) -> tuple:
    m = record.metrics.get(record.primary_metric)
    if m is None or m.value is None:
        return (1, 0.0)
    return (0, -m.value if m.higher_is_better else m.value)


def render(records: list[CellRecord], skipped: list[str] | None = None) -> str:
    groups: dict[tuple[str, str, str], list[CellRecord]] = defaultdict(list)
    for r in records:
        groups[(r.task.name, r.task.version, r.task.dataset_sha256)].append(r)
    lines = ["# rvf leaderboard", "",
             "Built from cell records alone (`rvf leaderboard`). Metrics on the test split with "
             "95% bootstrap confidence intervals in brackets; latency is per query; $/1k queries is "
             "tokens x the price table for hosted models, compute time x hardware $/h for local "
             "ones (each record's `cost_basis` says which), and \"unknown\" without a price.", ""]
    if not records:
        lines += ["No cell records yet: run `rvf run` first.", ""]
    names = defaultdict(int)
    for (name, _, _), _ in groups.items():
        names[name] += 1
    for (name, version, sha), rows in sorted(groups.items()):
        rows.sort(key=_sort_key)
        primary = rows[0].primary_metric
        others = sorted({m for r in rows for m in r.metrics} - {primary, "invalid_rate"})
        heading = f"## {name} (v{version})"
        if names[name] > 1:
            heading += f" — dataset {sha[:12]}"
        lines += [heading, "", f"Ranked by **{primary}**. n = test samples scored.", ""]
        header = (["#", "strategy", "model", f"{primary} [95% CI]"] + others +
                  ["n", "invalid", "errors", "in tok/q", "out tok/q", "p50 latency s", "$/1k queries",
                   "seed", "args"])
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---" for _ in header) + "|")
        for rank, r in enumerate(rows, 1):
            invalid = r.metrics.get("invalid_rate")
            cells = [str(rank), r.strategy.name, r.model.spec, _metric_cell(r, primary)]
            cells += [_metric_cell(r, m) for m in others]
            cells += [str(r.task.n), _fmt(invalid.value if invalid else None),
                      str(r.usage.errors), f"{r.usage.input_tokens_per_query:.0f}",
                      f"{r.usage.output_tokens_per_query:.1f}", _fmt(r.usage.latency_p50_s, 2),
                      _usd(r.cost_per_1k_queries_usd), str(r.seed), _args(r.strategy.args)]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    if skipped:
        lines += ["## Left out", ""] + [f"- {s}" for s in skipped] + [""]
    return "\n".join(lines)


def write_leaderboard(results: Path) -> tuple[Path, int, list[str]]:
    """Render `<results>/LEADERBOARD.md`; returns its path, rows rendered, and records skipped."""
    records, skipped = read_records(results)
    path = results / "LEADERBOARD.md"
    atomic_write(path, render(records, skipped))
    return path, len(records), skipped
