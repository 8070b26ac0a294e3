"""The local executor: run each planned cell once, skip the ones already finished.

The pieces every executor shares live here too: which cells still need running (`cells_to_run`),
computing a cell without writing it (`compute_cell`), and which errors stop a run. The Ray
executor (harness/executors.py) computes cells on workers; its driver writes their records.

Per cell: strategy.prepare -> requests -> (cached) backend.generate -> task.parse -> scorers ->
atomic cell record. Answers are committed to the request cache as they arrive, so an interrupted
run loses at most one batch, and the same command resumes where it stopped.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from harness.audit import audit_task, novelty_breakdown
from harness.cache import CachedBackend, RequestCache
from harness.cell import Cell
from harness.errors import DEFAULT_MAX_ERROR_RATE, CellSkipped, DataError, RvfError, UsageError
from harness.pricing import DEFAULT_HARDWARE_USD_PER_HOUR, PriceTable, cell_cost
from harness.progress import live_display, shared_display
from harness.records import (
    CellRecord,
    MetricRecord,
    ModelInfo,
    StrategyInfo,
    TaskInfo,
    UsageInfo,
    cells_dir,
    environment,
    read_record,
    sample_ids_sha256,
    write_record,
)
from harness.training import peak_rss_bytes
from harness.types import Generation, Prediction


@dataclass
class RunSummary:
    finished: list[CellRecord] = field(default_factory=list)  # computed in this run
    reused: list[CellRecord] = field(default_factory=list)  # record already on disk
    failed: list[tuple[Cell, str]] = field(default_factory=list)
    model_calls: int = 0

    def add(self, record: CellRecord) -> None:
        """A cell computed in this run."""
        self.finished.append(record)
        self.model_calls += record.usage.model_calls


class CellFailed(RvfError):
    """Too many samples of a cell failed to generate; its answers so far stay in the cache."""


@dataclass
class CellResult:
    """A computed cell before it is written: the record and its per-sample prediction rows.

    Computing and writing are separate so that an executor can compute a cell anywhere (a Ray
    worker on another machine) and write it in one place (the driver, into its results dir).
    """

    record: CellRecord
    rows: list[dict[str, Any]]


def run_cell(cell: Cell, results: Path, cache: RequestCache | None,
             advance: Callable[[int], None] = lambda n: None,
             on_prepare: Callable[[str], None] = lambda msg: None,
             max_error_rate: float = DEFAULT_MAX_ERROR_RATE, prices: PriceTable | None = None,
             hardware_usd_per_hour: float = DEFAULT_HARDWARE_USD_PER_HOUR) -> CellRecord:
    """Compute one cell (answers may come from the request cache) and write its record."""
    result = compute_cell(cell, cache, advance, on_prepare, max_error_rate, prices,
                          hardware_usd_per_hour, results)
    write_record(results, result.record, result.rows)
    return result.record


def compute_cell(cell: Cell, cache: RequestCache | None,
                 advance: Callable[[int], None] = lambda n: None,
                 on_prepare: Callable[[str], None] = lambda msg: None,
                 max_error_rate: float = DEFAULT_MAX_ERROR_RATE, prices: PriceTable | None = None,
                 hardware_usd_per_hour: float = DEFAULT_HARDWARE_USD_PER_HOUR,
                 results: Path | None = None) -> CellResult:
    """Compute one cell from scratch (answers may come from the request cache); write nothing.

    Samples whose generation failed are recorded as errors, not scored; above `max_error_rate`
    the cell fails without a record, and a re-run sends only those samples to the model again.
    """
    began = time.perf_counter()
    task, samples = cell.task, cell.samples
    strategy = cell.strategy()
    if results is not None and hasattr(strategy, "results_dir"):
        strategy.results_dir = results  # files left for the user (hosted_ft's training file)
    on_prepare("preparing")
    prepared = strategy.prepare(task, cell.backend, cell.seed)
    backend = CachedBackend(prepared.backend, cache)
    planned = strategy.requests(task, samples)
    gens: list[Generation | None] = [None] * len(samples)
    on_prepare("generating")
    for i, gen in backend.generate([request for request, _ in planned]):
        gens[i] = gen
        advance(1)

    predictions: list[Prediction] = []
    for sample, (_, extra), gen in zip(samples, planned, gens, strict=True):
        gen = gen or Generation(error="no generation returned")
        answer = None if gen.error else task.parse(gen.text)
        predictions.append(Prediction(
            sample.id, gen.text, answer, answer is not None, gen.error, gen.input_tokens,
            gen.output_tokens, gen.latency_s, gen.cached, extra, gen.cached_input_tokens,
            gen.compute_s, gen.retries, gen.meta))
    failed = [p for p in predictions if p.error is not None]
    if predictions and len(failed) / len(predictions) > max_error_rate:
        raise CellFailed(f"{len(failed)} of {len(predictions)} samples failed to generate (max "
                         f"error rate {max_error_rate:g}); first error: {failed[0].error}. "
                         "Answers that succeeded are cached: re-run to retry only the failed ones")

    scored = [(s, p) for s, p in zip(samples, predictions, strict=True) if p.error is None]
    scored_samples = [s for s, _ in scored]
    answers = [p.answer for _, p in scored]
    metrics: dict[str, MetricRecord] = {}
    extras = [p.extra for _, p in scored]
    for scorer in task.scorers:
        # Scorers that judge retrieval (recall@k, MRR) read what the strategy retrieved.
        kwargs: dict = {"extras": extras} if getattr(scorer, "uses_extras", False) else {}
        if getattr(scorer, "uses_judge", False):
            kwargs["judge"] = cell.judge
        for name, m in scorer(task, scored_samples, answers, cell.seed, **kwargs).items():
            metrics[name] = MetricRecord(value=m.value, ci_low=m.ci_low, ci_high=m.ci_high,
                                         higher_is_better=m.higher_is_better, note=m.note)
    details = task.details(scored_samples, answers) if task.details else {}
    audit = audit_task(task, cell.dataset_sha256, cell.split)
    novelty = novelty_breakdown(task, scored_samples, answers, audit.nearest, cell.seed)

    ok = [p for p in predictions if p.error is None]
    latencies = np.array([p.latency_s for p in ok]) if ok else None
    usage = UsageInfo(
        input_tokens_per_query=float(np.mean([p.input_tokens for p in ok])) if ok else 0.0,
        output_tokens_per_query=float(np.mean([p.output_tokens for p in ok])) if ok else 0.0,
        latency_p50_s=float(np.percentile(latencies, 50)) if ok else None,
        latency_p95_s=float(np.percentile(latencies, 95)) if ok else None,
        wall_seconds=time.perf_counter() - began,
        model_calls=backend.stats.model_calls, cache_hits=backend.stats.hits,
        errors=len(predictions) - len(ok),
        cached_input_tokens_per_query=float(np.mean([p.cached_input_tokens for p in ok]))
        if ok else 0.0,
        retries=sum(p.retries for p in predictions),
        json_parse_failures=sum(1 for p in ok if p.meta.get("json_parse_failed")),
        peak_rss_mb=round(peak_rss_bytes() / 2**20, 1),
        system_fingerprints=sorted({p.meta["system_fingerprint"] for p in ok
                                    if p.meta.get("system_fingerprint")}))
    payload = cell.key_payload()
    # Priced by the model that answered: a fine-tuned model (hosted_ft) is not its base model.
    cost = cell_cost(prepared.backend.identity(), [vars(p) for p in ok],
                     prices or PriceTable.load(), hardware_usd_per_hour)
    facts = dict(prepared.facts)
    backend_facts = getattr(prepared.backend, "facts", None)  # may walk a model folder: once
    if backend_facts:
        facts["backend"] = dict(backend_facts)
    record = CellRecord(
        cell_key=cell.key, created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        task=TaskInfo(name=task.name, version=task.version, dataset_sha256=cell.dataset_sha256,
                      args=payload["task"]["args"], split=cell.split, n=len(scored),
                      source=task.source, sample_ids_sha256=sample_ids_sha256(s.id for s in scored_samples)),
        strategy=StrategyInfo(name=cell.strategy_name, args=payload["strategy"]["args"]),
        model=ModelInfo(spec=cell.model, identity=payload["model"]),
        seed=cell.seed, primary_metric=task.primary_metric, metrics=metrics, details=details,
        audit=audit.summary(), novelty=novelty, prepare=facts, usage=usage, cost_usd=cost.usd,
        cost_per_1k_queries_usd=cost.per_1k(len(ok)),
        cost_basis=cost.basis, environment=environment(),
        predictions_file=f"{cell.key}.predictions.jsonl")
    rows = [{"sample_id": p.sample_id, "target": s.target, "answer": p.answer, "valid": p.valid,
             "raw": p.raw, "error": p.error,
             # per-sample score for paired significance tests (None when not scored)
             "score": None if p.error else task.score_item(s, p.answer),
             "input_tokens": p.input_tokens,
             "output_tokens": p.output_tokens, "cached_input_tokens": p.cached_input_tokens,
             "latency_s": round(p.latency_s, 4),
             "compute_s": None if p.compute_s is None else round(p.compute_s, 4),
             "retries": p.retries, "cached": p.cached,
             **({"meta": p.meta} if p.meta else {}), **({"extra": p.extra} if p.extra else {})}
            for s, p in zip(samples, predictions, strict=True)]
    return CellResult(record, rows)


def check_results_writable(results: Path) -> None:
    """Fail before any compute when the results dir cannot take records (exit 2, naming it).

    Creates `<results>/cells` and a throw-away file in it: a read-only folder, a path under a
    regular file or a full disk show up here instead of after an hour of generation.
    """
    folder = cells_dir(results)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-check.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"cannot write cell records under {folder}: "
                         f"{exc.strerror or exc} ({type(exc).__name__})") from None


def cells_to_run(cells: Sequence[Cell], results: Path, summary: RunSummary, console: Console,
                 force: bool = False) -> list[Cell]:
    """The cells without a complete record (every executor schedules exactly these).

    A complete record (no failed samples) is reused and added to `summary.reused`. A record with
    failed samples is not complete: the cell runs again, its good answers come from the request
    cache, and only the failed samples go to the model.
    """
    todo = []
    for cell in cells:
        path = cells_dir(results) / f"{cell.key}.json"
        if path.exists() and not force:
            previous = read_record(path)
            if previous.usage.errors == 0:
                summary.reused.append(previous)
                console.print(f"[dim]reused[/] {cell.label} [dim]({path.name})[/]")
                continue
            console.print(f"retrying the {previous.usage.errors} failed samples of {cell.label}")
        todo.append(cell)
    return todo


def stops_the_run(exc: BaseException) -> bool:
    """Bad usage or bad data stop the whole run (exit 2); any other error fails one cell."""
    return isinstance(exc, UsageError | DataError | KeyboardInterrupt)


def describe_failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def run_plan(cells: Sequence[Cell], results: Path, cache: RequestCache | None,
             console: Console | None = None, force: bool = False,
             max_error_rate: float = DEFAULT_MAX_ERROR_RATE, prices: PriceTable | None = None,
             hardware_usd_per_hour: float = DEFAULT_HARDWARE_USD_PER_HOUR) -> RunSummary:
    """Run every cell that has no complete record yet (`cells_to_run`); errors fail that cell
    only, except bad usage or data, which stop the run."""
    console = console or Console(stderr=True)
    summary = RunSummary()
    prices = prices or PriceTable.load()
    check_results_writable(results)
    todo = cells_to_run(cells, results, summary, console, force)
    with live_display(console) as progress, shared_display(progress):
        for cell in todo:
            bar = progress.add_task(cell.label, total=len(cell.samples))
            try:
                record = run_cell(
                    cell, results, cache, advance=lambda n, b=bar: progress.advance(b, n),
                    on_prepare=lambda msg, b=bar, c=cell: progress.update(
                        b, description=f"{c.label} [dim]{msg}[/]"),
                    max_error_rate=max_error_rate, prices=prices,
                    hardware_usd_per_hour=hardware_usd_per_hour)
            except CellSkipped as exc:  # a dry run: it says what it did; nothing to record
                console.print(str(exc), markup=False, highlight=False)
                progress.update(bar, description=f"[yellow]skipped[/] {cell.label}")
                continue
            except Exception as exc:  # noqa: BLE001 - one failing cell must not sink the plan
                if stops_the_run(exc):
                    raise
                summary.failed.append((cell, describe_failure(exc)))
                progress.update(bar, description=f"[red]failed[/] {cell.label}")
                continue
            summary.add(record)
            progress.update(bar, description=f"[green]done[/] {cell.label}")
    return summary
