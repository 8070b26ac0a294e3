"""Leaderboard plots (PNG, matplotlib, Agg): quality versus $/1k queries, and lora learning curves.

Files go to `<results>/plots/` with names made from the task name and dataset hash, and the
markdown links them relatively, so the page renders in a GitHub preview. matplotlib is imported
only here, when plots are drawn.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.analysis import Row, TableKey, learning_curves, pareto


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", text).strip("-")


def plot_files(results: Path, key: TableKey) -> list[tuple[str, Path]]:
    """(title, path) of the plots a table may have: the names draw_plots writes."""
    stem = results / "plots" / f"{_slug(key.task)}-{key.stem}"
    return [(f"{key.task}: quality vs $/1k queries", stem.with_name(stem.name + "-quality-vs-cost.png")),
            (f"{key.task}: lora learning curve", stem.with_name(stem.name + "-learning-curve.png"))]


def draw_plots(results: Path, groups: dict[TableKey, list[Row]]
               ) -> tuple[dict[tuple, dict[str, str]], list[str]]:
    """Draw every task's plots; returns {group key: {title: relative path}} and notes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = results / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    links: dict[tuple, dict[str, str]] = {}
    notes: list[str] = []
    for key, rows in groups.items():
        name = key.task
        (cost_title, cost_path), (curve_title, curve_path) = plot_files(results, key)
        links[key] = {}
        priced = [r for r in rows if r.quality is not None and r.per_query is not None]
        unpriced = [r.label for r in rows if r.quality is not None and r.per_query is None]
        if unpriced:
            notes.append(f"plot {name}: left out rows without a price: {', '.join(unpriced)}")
        if priced:
            _quality_vs_cost(plt, priced, name, cost_path)
            links[key][cost_title] = f"plots/{cost_path.name}"
        curves = learning_curves(rows)
        if curves:
            _learning_curves(plt, curves, name, curve_path)
            links[key][curve_title] = f"plots/{curve_path.name}"
    return links, notes


def _errorbars(rows: list[Row]) -> list[list[float]]:
    low, high = [], []
    for r in rows:
        m = r.record.metrics[r.record.primary_metric]
        low.append(max(r.quality - m.ci_low, 0.0) if m.ci_low is not None else 0.0)
        high.append(max(m.ci_high - r.quality, 0.0) if m.ci_high is not None else 0.0)
    return [low, high]


def _quality_vs_cost(plt, rows: list[Row], task: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    xs = [r.record.cost_per_1k_queries_usd for r in rows]
    ys = [r.quality for r in rows]
    ax.errorbar(xs, ys, yerr=_errorbars(rows), fmt="o", capsize=4, color="tab:blue")
    front = sorted(pareto(rows), key=lambda r: r.record.cost_per_1k_queries_usd)
    if len(front) > 1:
        ax.step([r.record.cost_per_1k_queries_usd for r in front], [r.quality for r in front],
                where="post", color="tab:orange", linestyle="--", label="Pareto front")
        ax.legend(loc="lower right", fontsize=8)
    log_x = min(xs) > 0 and max(xs) / min(xs) > 20
    if log_x:
        ax.set_xscale("log")
    label_points(ax, [(f"#{r.rank} {r.record.strategy.name}", x, y)
                      for r, x, y in zip(rows, xs, ys, strict=True)])
    _finish(plt, fig, ax, path, "$ per 1k queries", rows, f"{task}: quality vs cost (95% CI)", log_x)


LABEL_W, LABEL_H = 48.0, 10.0  # a label's footprint in points (fontsize 8, "#12 prompt")


def label_points(ax, points: list[tuple[str, float, float]]) -> list[float]:
    """Label each point beside it; a label that would overlap one already placed moves up (with a
    leader line), so rows with near-equal cost and quality stay readable. Returns the vertical
    offsets in points, in the order given."""
    ax.figure.canvas.draw()  # settle the axis limits and scales the positions depend on
    scale = 72.0 / ax.figure.dpi  # display pixels -> points
    where = [tuple(ax.transData.transform((x, y)) * scale) for _, x, y in points]
    offsets = [0.0] * len(points)
    placed: list[tuple[float, float]] = []
    for i in sorted(range(len(points)), key=lambda i: (where[i][1], where[i][0])):
        px, py = where[i]
        dy = 4.0
        while any(abs(px - qx) < LABEL_W and abs(py + dy - qy) < LABEL_H for qx, qy in placed):
            dy += LABEL_H
        placed.append((px, py + dy))
        offsets[i] = dy
        text, x, y = points[i]
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(6, dy), fontsize=8,
                    arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "gray"} if dy > 4 else None)
    return offsets


def _learning_curves(plt, curves: list[list[Row]], task: str, path: Path) -> None:
    """Quality against examples seen (epochs included: with a fixed schedule, the data a point
    trained on) and against what its training cost."""
    from matplotlib.ticker import NullFormatter

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), dpi=120, sharey=True)
    for ax, xlabel, x_of in ((axes[0], "examples seen in training", seen),
                             (axes[1], "training $", lambda r: r.training.training_cost_usd)):
        for rows in curves:
            points = [r for r in rows if x_of(r)]
            ax.errorbar([x_of(r) for r in points], [r.quality for r in points],
                        yerr=_errorbars(points), fmt="o-", capsize=4,
                        label=f"{rows[0].record.strategy.name} / {rows[0].record.model.spec}")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # 2x10^-3 3x10^-3 ... overprint each other
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    if len(curves) > 1:
        axes[0].legend(fontsize=8)
    axes[0].set_ylabel(curves[0][0].record.primary_metric)
    fig.suptitle(f"{task}: lora learning curve (95% CI)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def seen(row: Row) -> int | None:
    """Examples seen; records from before it was counted give the training-set size."""
    return row.training.examples_seen or row.training.train_examples


def _finish(plt, fig, ax, path: Path, xlabel: str, rows: list[Row], title: str, log_x: bool) -> None:
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(rows[0].record.primary_metric)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
