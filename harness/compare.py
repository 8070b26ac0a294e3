"""Compare two results directories cell by cell, with pass/fail gates (`rvf compare`, and the
pytest plugin's `--rvf-compare-fail`).

A gate is `<figure>:<tolerance>`: how much *worse* the new value may be than the baseline, absolute
(`macro_f1:0.02`) or relative (`macro_f1:2%`; a leading `+` as in `cost_per_1k_queries_usd:+10%`
reads the same). A figure is a metric of the record (its own direction) or a number on the record
or its usage (`cost_per_1k_queries_usd`, `latency_p50_s`, ...), where lower is better.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from harness.errors import UsageError
from harness.records import CellRecord, UsageInfo, read_records

COST_FIGURES = ("cost_per_1k_queries_usd", "latency_p50_s", "latency_p95_s",
                "input_tokens_per_query", "output_tokens_per_query")


def record_label(record: CellRecord) -> str:
    return f"{record.task.name}/{record.strategy.name}/{record.model.spec}/seed {record.seed}"


def _numbers(record: CellRecord) -> dict[str, float | None]:
    """The record's cost and usage numbers a gate may name (lower is better for all of them)."""
    usage = record.usage.model_dump()
    numbers = {name: usage[name] for name in USAGE_FIGURES}
    numbers.update(cost_usd=record.cost_usd, cost_per_1k_queries_usd=record.cost_per_1k_queries_usd)
    return numbers


def _is_number(annotation: object) -> bool:
    """int, float, or either of them or None."""
    return annotation in (int, float) or bool(get_args(annotation)) and \
        set(get_args(annotation)) <= {int, float, type(None)}


USAGE_FIGURES = tuple(name for name, f in UsageInfo.model_fields.items()
                      if _is_number(f.annotation))


def known_figures(records: list[CellRecord]) -> list[str]:
    """Every figure name a gate may use with these records: their metrics and the numbers."""
    metrics = {name for r in records for name in r.metrics}
    return sorted(metrics) + ["cost_usd", "cost_per_1k_queries_usd", *USAGE_FIGURES]


def has_figure(record: CellRecord, name: str) -> bool:
    return name in record.metrics or name in _numbers(record)


def figure(record: CellRecord, name: str) -> tuple[float, bool] | None:
    """(value, higher_is_better) of a quality metric or a cost/usage figure; None when absent.

    Quality metrics carry their own direction. The other numbers (`cost_per_1k_queries_usd`,
    usage fields such as `latency_p50_s`) are costs: lower is better.
    """
    if name in record.metrics:
        metric = record.metrics[name]
        return None if metric.value is None else (metric.value, metric.higher_is_better)
    value = _numbers(record).get(name)
    return None if value is None else (float(value), False)


@dataclass(frozen=True)
class Gate:
    """`metric:tolerance`: how much worse than the baseline a figure may get."""

    metric: str
    tolerance: float
    relative: bool
    text: str

    @classmethod
    def parse(cls, text: str, option: str = "--fail-on") -> Gate:
        metric, sep, tol = text.rpartition(":")
        tol = tol.strip()
        relative = tol.endswith("%")
        try:
            value = float(tol.rstrip("%"))
        except ValueError:
            value = -1.0
        if not sep or not metric or value < 0:
            raise UsageError(
                f"{option} expects <metric>:<tolerance> with a tolerance >= 0, absolute "
                f"(macro_f1:0.05) or relative (cost_per_1k_queries_usd:+10%), got {text!r}")
        return cls(metric, value / 100 if relative else value, relative, text)

    def check(self, record: CellRecord, baseline: CellRecord) -> tuple[str, str]:
        """("ok", ""), ("breach", what), ("missing", why) when either record lacks a value, or
        ("n/a", why) when the figure is not one of this task's (another task's metric)."""
        new, old = figure(record, self.metric), figure(baseline, self.metric)
        if not (has_figure(record, self.metric) or has_figure(baseline, self.metric)):
            return "n/a", f"{self.metric} is not a figure of this cell's task"
        if new is None or old is None:
            which = "new record" if new is None else "baseline record"
            return "missing", f"{self.metric} has no value in the {which}"
        (new_value, higher_is_better), (old_value, _) = new, old
        worse_by = old_value - new_value if higher_is_better else new_value - old_value
        allowed = abs(old_value) * self.tolerance if self.relative else self.tolerance
        if worse_by <= allowed + 1e-12:
            return "ok", ""
        direction = "dropped" if higher_is_better else "rose"
        return "breach", (f"{record_label(record)}: {self.metric} {direction} from {old_value:.4g} "
                          f"(baseline {baseline.cell_key}) to {new_value:.4g}, worse by "
                          f"{worse_by:.4g}; tolerance {self.text.rpartition(':')[2]} = "
                          f"{allowed:.4g}")


def _benchmark(record: CellRecord) -> tuple:
    return (record.task.name, record.task.version, record.task.dataset_sha256,
            record.strategy.name, json.dumps(record.strategy.args, sort_keys=True, default=str),
            record.model.spec, record.seed)


class Baseline:
    """The records of a baseline results directory, matched to new records.

    By cell key first (same everything); else by what makes two cells the same benchmark even if
    the model's fingerprint or the endpoint changed: task name, version and dataset hash,
    strategy and its arguments, model spec, seed (the newest such record wins).
    """

    def __init__(self, folder: Path, option: str = "baseline") -> None:
        if not (folder / "cells").is_dir():
            raise UsageError(f"{option} {folder}: no cells/ folder of cell records there (give "
                             "the results directory of the baseline run)")
        self.folder = folder
        self._records: list[CellRecord] | None = None

    @property
    def records(self) -> list[CellRecord]:
        if self._records is None:
            self._records, _ = read_records(self.folder)
        return self._records

    def find(self, record: CellRecord) -> CellRecord | None:
        for candidate in self.records:
            if candidate.cell_key == record.cell_key:
                return candidate
        same = [r for r in self.records if _benchmark(r) == _benchmark(record)]
        return max(same, key=lambda r: r.created_at) if same else None


@dataclass(frozen=True)
class Delta:
    cell: str
    figure: str
    old: float
    new: float

    @property
    def change(self) -> float:
        return self.new - self.old

    @property
    def relative(self) -> float | None:
        return None if self.old == 0 else self.change / abs(self.old)


def unknown_gates(gates: list[Gate], records: list[CellRecord]) -> list[str]:
    """A breach for every gate whose figure no record has (a misspelt name must not pass)."""
    known = known_figures(records)
    return [f"gate {g.text}: no figure named {g.metric!r} in these records; known figures: "
            f"{', '.join(known)}" for g in gates if g.metric not in known]


def gate_record(record: CellRecord, baseline: CellRecord | None, gates: list[Gate],
                where: Path, allow_missing: bool) -> tuple[list[str], list[str]]:
    """(breaches, notes) of one new record. Gates fail closed: a missing baseline cell or a
    figure without a value is a breach, unless `allow_missing` makes it a note."""
    breaches, notes = [], []
    missing = breaches if gates and not allow_missing else notes
    if baseline is None:
        missing.append(f"{record_label(record)}: no matching cell in {where}"
                       + ("" if allow_missing or not gates else " (--allow-missing to skip it)"))
        return breaches, notes
    for gate in gates:
        status, message = gate.check(record, baseline)
        if status == "breach":
            breaches.append(message)
        elif status == "missing":
            missing.append(f"{record_label(record)}: gate {gate.text}: {message}")
        elif status == "n/a":
            notes.append(f"{record_label(record)}: gate {gate.text} not applied: {message}")
    return breaches, notes


def compare_dirs(baseline_dir: Path, new_dir: Path, gates: list[Gate],
                 allow_missing: bool = False) -> tuple[list[Delta], list[str], list[str]]:
    """Deltas of every shared figure, gate breaches, and notes (what was not compared)."""
    baseline = Baseline(baseline_dir, "rvf compare")
    if not (new_dir / "cells").is_dir():
        raise UsageError(f"rvf compare {new_dir}: no cells/ folder of cell records there")
    new_records, _ = read_records(new_dir)
    deltas: list[Delta] = []
    breaches, notes = unknown_gates(gates, new_records + baseline.records), []
    known = known_figures(new_records + baseline.records)
    gates = [g for g in gates if g.metric in known]  # an unknown one is a breach already
    for record in sorted(new_records, key=record_label):
        old = baseline.find(record)
        if old is not None:
            names = sorted(set(record.metrics) | set(old.metrics)) + list(COST_FIGURES)
            for name in names:
                a, b = figure(old, name), figure(record, name)
                if a is not None and b is not None:
                    deltas.append(Delta(record_label(record), name, a[0], b[0]))
        more_breaches, more_notes = gate_record(record, old, gates, baseline_dir, allow_missing)
        breaches += more_breaches
        notes += more_notes
    return deltas, breaches, notes
