"""Numbers and labels as every renderer shows them (the markdown leaderboard, the plots, the
`rvf cost` table), so that a figure reads the same everywhere."""

from __future__ import annotations

from harness.records import CellRecord


def fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def usd(value: float | None) -> str:
    """Dollars with enough digits to tell cheap rows apart; None is an unknown price."""
    if value is None:
        return "unknown"
    return f"{value:,.2f}" if value >= 1 else f"{value:.3g}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def metric_cell(record: CellRecord, name: str) -> str:
    m = record.metrics.get(name)
    if m is None or m.value is None:
        return "not scored" if m is not None else "—"
    if m.ci_low is None:
        return fmt(m.value)
    return f"{fmt(m.value)} [{fmt(m.ci_low)}, {fmt(m.ci_high)}]"


def args_text(args: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(args.items())) or "defaults"


def model_label(record: CellRecord) -> str:
    """The model as asked for, plus what training made of it (a LoRA adapter, a hosted job) and
    the decoding constraint, when one kept its answers in the answer space."""
    label = record.model.spec
    if record.training is not None:
        label += f" {record.training.artifact}"
    mode = record.decoding.get("mode", "none")
    return label + (f" [constrained: {mode}]" if mode != "none" else "")
