"""Running cells: the one run API (`run_cells`) and the pipeline of one cell (`compute_cell`).

`run_cells` is what the CLI, the pytest plugin and `rvf run --executor ray` all call. It applies
the reuse rule (`cells_to_run`: a complete record is reused, a record with failed samples is
retried), the error-rate limit, the price table and the hardware rate in one place, and hands the
cells that still need computing to an executor: `LocalExecutor` (one after another in this
process) or the Ray executor (harness/executors.py).

One cell is a pipeline of stages with one owner each:

    prepare (strategy)  ->  generate (backend, through the request cache)  ->  parse and score
    each answer (`Prediction.of`)  ->  score the cell (task's scorers)  ->  assemble the record

Answers are committed to the request cache as they arrive, so an interrupted run loses at most
one batch, and the same command resumes where it stopped. Computing and writing are separate, so
that a cell can be computed anywhere (a Ray worker) and written in one place (the driver).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
from rich.console import Console
from rich.markup import escape

from harness import constrain
from harness.audit import audit_task, novelty_breakdown
from harness.cache import CachedBackend, RequestCache
from harness.cell import Cell
from harness.compute import HardwareRate, load_average, machine_cores, peak_rss_bytes, reset_peak_rss
from harness.errors import (
    DEFAULT_MAX_ERROR_RATE,
    CellFailed,
    CellSkipped,
    DataError,
    UsageError,
)
from harness.paths import request_cache_path
from harness.pricing import PriceTable, cell_cost, default_hardware_usd_per_hour
from harness.progress import live_display, shared_display
from harness.records import (
    CellRecord,
    ModelInfo,
    StrategyInfo,
    TaskInfo,
    UsageInfo,
    cells_dir,
    environment,
    predictions_problem,
    read_record,
    sample_ids_sha256,
    write_record,
)
from harness.types import Generation, Metric, Prediction, PrepareContext, Prepared, ReportsFacts, ScoreInput


@dataclass(frozen=True)
class RunOptions:
    """How a run computes and records cells; the same for every executor and entry point."""

    results: Path  # the results dir: cells/<key>.json records and LEADERBOARD.md
    use_cache: bool = True  # read and write the request cache
    force: bool = False  # recompute cells that have a complete record
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE  # share of failed samples that fails a cell
    prices: PriceTable = field(default_factory=PriceTable.load)
    # The one hardware rate: prices local inference, training and index builds.
    hardware_usd_per_hour: float = field(default_factory=default_hardware_usd_per_hour)

    @property
    def hardware(self) -> HardwareRate:
        return HardwareRate(self.hardware_usd_per_hour, machine_cores())


@dataclass
class RunSummary:
    finished: list[CellRecord] = field(default_factory=list)  # computed in this run
    reused: list[CellRecord] = field(default_factory=list)  # record already on disk
    failed: list[tuple[Cell, str]] = field(default_factory=list)
    model_calls: int = 0  # sent by this run: finished cells and cells that failed after sending

    def add(self, record: CellRecord) -> None:
        """A cell computed in this run."""
        self.finished.append(record)
        self.model_calls += record.usage.model_calls

    def fail(self, cell: Cell, exc: BaseException) -> None:
        """A cell that failed; the calls it sent before failing still count."""
        self.failed.append((cell, describe_failure(exc)))
        if isinstance(exc, CellFailed):
            self.model_calls += exc.model_calls


@dataclass
class CellResult:
    """A computed cell before it is written: the record and its per-sample prediction rows."""

    record: CellRecord
    rows: list[dict]


class Executor(Protocol):
    """Computes the cells `run_cells` hands it and writes their records as they finish."""

    def run(self, todo: list[Cell], options: RunOptions, summary: RunSummary,
            console: Console) -> None: ...


def run_cells(cells: Sequence[Cell], options: RunOptions, console: Console | None = None,
              executor: Executor | None = None) -> RunSummary:
    """Run every cell that has no complete record yet. Errors fail that cell only, except bad
    usage or data, which stop the run."""
    console = console or Console(stderr=True)
    summary = RunSummary()
    check_results_writable(options.results)
    todo = cells_to_run(cells, options.results, summary, console, options.force)
    for cell in todo:  # an impossible constraint is bad usage: say so before any compute
        constrain.resolve(cell.task, cell.backend, cell.spec.constrain)
    if todo:
        (executor or LocalExecutor()).run(todo, options, summary, console)
    return summary


# -- the pipeline of one cell ------------------------------------------------------------------------

def compute_cell(cell: Cell, options: RunOptions, cache: RequestCache | None,
                 advance: Callable[[int], None] = lambda n: None,
                 on_stage: Callable[[str], None] = lambda msg: None) -> CellResult:
    """Compute one cell (answers may come from the request cache); write nothing.

    Samples whose generation failed are recorded as errors, not scored; above the error-rate
    limit the cell fails without a record, and a re-run sends only those samples to the model.
    """
    began, load_start = time.perf_counter(), load_average()
    task, samples = cell.task, cell.samples
    on_stage("preparing")
    prepared = cell.strategy.prepare(task, cell.backend, PrepareContext(
        seed=cell.spec.seed, results_dir=options.results,
        hardware_usd_per_hour=options.hardware_usd_per_hour))
    # The cell's own serving memory: training in prepare has its own peak in the training record.
    peak_scope = "cell" if reset_peak_rss() else "process"
    backend = CachedBackend(prepared.backend, cache)
    planned = cell.strategy.requests(task, samples)
    constraint, decoding = constrain.resolve(task, prepared.backend, cell.spec.constrain)
    if constraint is not None:
        free = [request for request, _ in planned]
        planned = [(replace(r, constraint=constraint), extra) for r, extra in planned]
    on_stage("generating")
    gens: list[Generation | None] = [None] * len(samples)
    for i, gen in backend.generate([request for request, _ in planned]):
        gens[i] = gen
        advance(1)
    predictions = [Prediction.of(task, s, g or Generation(error="no generation returned"), extra)
                   for s, (_, extra), g in zip(samples, planned, gens, strict=True)]
    check_error_rate(predictions, options.max_error_rate, backend.stats.model_calls)
    if constraint is not None:
        cached_free = [g.text if g else None for g in backend.peek(free)]
        decoding |= constrain.compare_unconstrained(
            task, constraint, [p.answer for p in predictions], cached_free)
    record = assemble_record(cell, prepared, predictions, options, backend.stats.model_calls,
                             backend.stats.hits, time.perf_counter() - began)
    record.decoding = decoding
    record.usage.peak_rss_scope = peak_scope
    record.usage.load_avg_start, record.usage.load_avg_end = load_start, load_average()
    return CellResult(record, [p.row() for p in predictions])


def check_error_rate(predictions: Sequence[Prediction], max_error_rate: float,
                     model_calls: int = 0) -> None:
    failed = [p for p in predictions if p.error is not None]
    if predictions and len(failed) / len(predictions) > max_error_rate:
        raise CellFailed(f"{len(failed)} of {len(predictions)} samples failed to generate (max "
                         f"error rate {max_error_rate:g}); first error: {failed[0].error}. "
                         "Answers that succeeded are cached: re-run to retry only the failed ones",
                         model_calls)


def score_cell(cell: Cell, predictions: Sequence[Prediction]) -> dict[str, Metric]:
    """Every scorer of the task on the answered samples (failed generations are not scored)."""
    by_id = {s.id: s for s in cell.samples}
    ok = [p for p in predictions if p.error is None]
    inp = ScoreInput(cell.task, [by_id[p.sample_id] for p in ok], [p.answer for p in ok],
                     [p.extra for p in ok], cell.spec.seed, cell.judge)
    metrics: dict[str, Metric] = {}
    for scorer in cell.task.scorers:
        metrics.update(scorer(inp))
    return metrics


def usage_info(ok: Sequence[Prediction], errors: int, model_calls: int, cache_hits: int,
               wall_seconds: float) -> UsageInfo:
    """Per-query tokens and latency of the answered samples, and what this run sent."""
    def mean(values: list[float]) -> float:
        return float(np.mean(values)) if values else 0.0

    latencies = [p.latency_s for p in ok]
    return UsageInfo(
        input_tokens_per_query=mean([p.input_tokens for p in ok]),
        output_tokens_per_query=mean([p.output_tokens for p in ok]),
        latency_p50_s=float(np.percentile(latencies, 50)) if ok else None,
        latency_p95_s=float(np.percentile(latencies, 95)) if ok else None,
        wall_seconds=wall_seconds, model_calls=model_calls, cache_hits=cache_hits,
        errors=errors, cached_input_tokens_per_query=mean([p.cached_input_tokens for p in ok]),
        retries=sum(p.retries for p in ok),
        json_parse_failures=sum(1 for p in ok if p.meta.get("json_parse_failed")),
        peak_rss_mb=round(peak_rss_bytes() / 2**20, 1),
        cpu_seconds=(None if not ok or any(p.cpu_s is None for p in ok)
                     else round(sum(p.cpu_s for p in ok), 3)),
        truncated_prompts=sum(1 for p in ok if p.meta.get("truncated_tokens")),
        system_fingerprints=sorted({p.meta["system_fingerprint"] for p in ok
                                    if p.meta.get("system_fingerprint")}))


def assemble_record(cell: Cell, prepared: Prepared, predictions: Sequence[Prediction],
                    options: RunOptions, model_calls: int, cache_hits: int,
                    wall_seconds: float) -> CellRecord:
    """The cell record: metrics, audit, usage, cost and provenance."""
    task, payload = cell.task, cell.key_payload()
    ok = [p for p in predictions if p.error is None]
    by_id = {s.id: s for s in cell.samples}
    scored = [by_id[p.sample_id] for p in ok]
    audit = audit_task(task, cell.dataset_sha256, cell.spec.split)
    # Priced by the model that answered: a fine-tuned model (hosted_ft) is not its base model.
    cost = cell_cost(prepared.backend.identity(), [p.row() for p in ok], options.prices,
                     options.hardware)
    facts = dict(prepared.backend.facts) if isinstance(prepared.backend, ReportsFacts) else {}
    usage = usage_info(ok, len(predictions) - len(ok), model_calls, cache_hits, wall_seconds)
    usage.retries = sum(p.retries for p in predictions)
    return CellRecord(
        cell_key=cell.key, created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        task=TaskInfo(name=task.name, version=task.version, dataset_sha256=cell.dataset_sha256,
                      args=payload["task"]["args"], split=cell.spec.split, n=len(ok),
                      source=task.source, sample_ids_sha256=sample_ids_sha256(s.id for s in scored)),
        strategy=StrategyInfo(name=cell.spec.strategy, args=payload["strategy"]["args"]),
        model=ModelInfo(spec=cell.spec.model, identity=payload["model"], facts=facts,
                        file_bytes=facts.get("model_file_bytes")),
        seed=cell.spec.seed, primary_metric=task.primary_metric,
        metrics=score_cell(cell, predictions),
        details=task.details(scored, [p.answer for p in ok]) if task.details else {},
        audit=audit.summary(),
        novelty=novelty_breakdown(task, scored, [p.answer for p in ok], audit.nearest,
                                  cell.spec.seed),
        prepare=dict(prepared.facts), training=prepared.training, index=prepared.index,
        labelled_examples=prepared.labelled_examples, usage=usage,
        hardware=options.hardware.describe(),
        cost_usd=cost.usd, cost_per_1k_queries_usd=cost.per_1k(len(ok)), cost_basis=cost.basis,
        environment=environment(), predictions_file=f"{cell.key}.predictions.jsonl")


# -- which cells run, and the local executor --------------------------------------------------------

def check_results_writable(results: Path) -> None:
    """Fail before any compute when a run's outputs cannot be written (exit 2, naming the folder).

    Probes every folder a run writes: the results dir (LEADERBOARD.md), `cells/` (records) and
    `plots/`. A read-only folder, a path under a regular file or a full disk show up here
    instead of after an hour of generation. Folders made only for the probe are removed again,
    so a run that stops on a later usage error leaves no empty folders behind.
    """
    for folder in (results, cells_dir(results), results / "plots"):
        for attempt in range(PROBE_ATTEMPTS):
            try:
                probe_folder(folder)
                break
            except FileNotFoundError:  # a run starting beside this one removed its probe folder
                if attempt == PROBE_ATTEMPTS - 1:
                    raise UsageError(f"cannot write the run's outputs under {folder}: it keeps "
                                     "disappearing while it is being checked") from None
            except OSError as exc:
                raise UsageError(f"cannot write the run's outputs under {folder}: "
                                 f"{exc.strerror or exc} ({type(exc).__name__})") from None


PROBE_ATTEMPTS = 5


def probe_folder(folder: Path) -> None:
    """Make `folder` (and its parents), write and delete a file in it, then remove again the
    folders that this made: deepest first, stopping at one that is not empty (another run's)."""
    made = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-check.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    finally:
        for path in made:
            try:
                path.rmdir()
            except OSError:
                break


def cells_to_run(cells: Sequence[Cell], results: Path, summary: RunSummary, console: Console,
                 force: bool = False) -> list[Cell]:
    """The cells without a complete record (every executor schedules exactly these).

    A complete record (no failed samples) is reused and added to `summary.reused`. A record with
    failed samples is not complete: the cell runs again, its good answers come from the request
    cache, and only the failed samples go to the model. A record whose predictions file is
    damaged (cut short, not JSON) is recomputed the same way, from the cache.
    """
    todo = []
    for cell in cells:
        path = cells_dir(results) / f"{cell.key}.json"
        if path.exists() and not force:
            previous = read_record(path)
            damaged = predictions_problem(results, previous)
            if damaged:
                console.print(f"[yellow]recomputing[/] {escape(cell.label)}: {escape(damaged)}")
            elif previous.usage.errors == 0:
                summary.reused.append(previous)
                console.print(f"[dim]reused[/] {cell.label} [dim]({path.name})[/]")
                continue
            else:
                console.print(f"retrying the {previous.usage.errors} failed samples of "
                              f"{cell.label}")
        todo.append(cell)
    return todo


def stops_the_run(exc: BaseException) -> bool:
    """Bad usage or bad data stop the whole run (exit 2); any other error fails one cell."""
    return isinstance(exc, UsageError | DataError | KeyboardInterrupt)


def describe_failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class LocalExecutor:
    """One cell after another in this process, with a progress bar per cell."""

    def run(self, todo: list[Cell], options: RunOptions, summary: RunSummary,
            console: Console) -> None:
        cache = RequestCache(request_cache_path()) if options.use_cache else None
        try:
            with live_display(console) as progress, shared_display(progress):
                for cell in todo:
                    bar = progress.add_task(cell.label, total=len(cell.samples))
                    status = self.run_one(cell, options, cache, summary, console, progress, bar)
                    progress.update(bar, description=f"{status} {cell.label}")
                    cell.release()
        finally:
            if cache is not None:
                cache.close()

    @staticmethod
    def run_one(cell: Cell, options: RunOptions, cache: RequestCache | None,
                summary: RunSummary, console: Console, progress, bar) -> str:
        """Compute and write one cell; the status word for its bar."""
        try:
            result = compute_cell(
                cell, options, cache, advance=lambda n: progress.advance(bar, n),
                on_stage=lambda msg: progress.update(bar, description=f"{cell.label} [dim]{msg}[/]"))
            write_record(options.results, result.record, result.rows)
        except CellSkipped as exc:  # a dry run: it says what it did; nothing to record
            console.print(str(exc), markup=False, highlight=False)
            return "[yellow]skipped[/]"
        except Exception as exc:  # noqa: BLE001 - one failing cell must not sink the plan
            if stops_the_run(exc):
                raise
            summary.fail(cell, exc)
            return "[red]failed[/]"
        summary.add(result.record)
        return "[green]done[/]"
