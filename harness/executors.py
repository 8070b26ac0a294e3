"""The Ray executor: every unfinished cell becomes a Ray task; the driver writes the records.

`rvf run --executor ray` schedules the same cells the local executor would run
(`runner.cells_to_run`), one Ray task per cell, and collects what the workers compute:

- A worker rebuilds its cell from a small picklable spec (names and arguments, never the loaded
  task or model), checks that it gets the driver's cell key (a node with another rvf version or
  other task data would otherwise produce records under a wrong key), and computes the cell with
  `runner.compute_cell`. It returns the record and its prediction rows and writes nothing into
  the results dir.
- The driver writes each record as it arrives (`records.write_record`, atomic). So the results
  dir only has to exist on the driver's machine, and two workers never race on it.
- A worker process that dies (killed, out of memory, node lost) is retried by Ray up to
  `MAX_RETRIES` times; an exception raised by the cell itself is not retried and fails that cell
  only, with its message in the run summary. Bad usage or bad data stop the run, as locally.

Workers use the request cache, adapters and indexes under their own `RVF_CACHE_DIR` (see
docs/ray.md for which paths a cluster should share and what happens when it does not).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.cache import RequestCache
from harness.cell import Cell
from harness.errors import DEFAULT_MAX_ERROR_RATE, RvfError, UsageError
from harness.paths import request_cache_path
from harness.pricing import DEFAULT_HARDWARE_USD_PER_HOUR, PriceTable
from harness.records import write_record
from harness.runner import (
    CellResult,
    RunSummary,
    cells_to_run,
    check_results_writable,
    compute_cell,
    describe_failure,
    stops_the_run,
)

INSTALL_HINT = "pip install 'rvf[ray]'"
# Times Ray restarts a cell whose worker process died; an exception in the cell is never retried.
MAX_RETRIES = 2
# Backends that run the model inside the worker process: only their cells ask for GPUs.
IN_PROCESS_BACKENDS = ("hf", "local")
# Environment variables that tell a worker where rvf's caches are; forwarded when the driver has
# them, so every worker of a local Ray or a cluster with a shared filesystem uses the same caches.
FORWARDED_ENV = ("RVF_CACHE_DIR", "RVF_MODELS_DIR", "RVF_REQUEST_CACHE")


class CellMismatch(RvfError):
    """A worker computed a different cell key than the driver (another rvf or other data)."""


def require_ray() -> Any:
    """The `ray` module, or a UsageError (exit 2) that says how to install it."""
    try:
        import ray
    except ImportError:
        raise UsageError(f"the ray executor needs Ray, which is not installed: {INSTALL_HINT}"
                         ) from None
    return ray


# -- the worker side --------------------------------------------------------------------------------

def cell_spec(cell: Cell) -> dict[str, Any]:
    """Everything needed to rebuild the cell elsewhere: its fields without the registry.

    The spec holds names and arguments only, so a task's data and a model's weights are loaded
    on the worker, from the worker's own installation and caches.
    """
    return {f.name: getattr(cell, f.name) for f in dataclasses.fields(cell) if f.name != "registry"}


def compute_on_worker(spec: dict[str, Any], expected_key: str, use_cache: bool,
                      max_error_rate: float, prices: PriceTable,
                      hardware_usd_per_hour: float) -> CellResult:
    """Rebuild the cell, check its key, compute it. Runs in a Ray worker; writes no record."""
    from harness.registry import default_registry

    cell = Cell(default_registry(), **spec)
    if cell.key != expected_key:
        raise CellMismatch(
            f"this worker computes cell key {cell.key} for {cell.label}, the driver planned "
            f"{expected_key}: the node runs another rvf version or sees other task data")
    cache = RequestCache(request_cache_path()) if use_cache else None
    try:
        return compute_cell(cell, cache, max_error_rate=max_error_rate, prices=prices,
                            hardware_usd_per_hour=hardware_usd_per_hour)
    finally:
        if cache is not None:
            cache.close()


# -- the driver side --------------------------------------------------------------------------------

def connect(ray: Any, address: str | None, num_cpus: int | None = None) -> tuple[str, bool]:
    """Join a Ray cluster (address, else $RAY_ADDRESS) or start a local one for this run.

    Returns a description for the user and whether this call initialised Ray (and so must shut
    it down). A Ray already initialised in this process (a script or notebook) is used as is.
    """
    if ray.is_initialized():
        return "the Ray this process is already connected to", False
    env = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
    common = {"log_to_driver": False, "logging_level": "warning",
              "runtime_env": {"env_vars": env} if env else None}
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, **common)
        return f"Ray cluster at {address}", True
    cpus = num_cpus or os.cpu_count() or 1
    ray.init(num_cpus=cpus, include_dashboard=False, **common)
    return f"a local Ray with {cpus} CPUs", True


def task_options(cell: Cell, gpus_per_cell: float) -> dict[str, Any]:
    """Ray resource requests of one cell: a CPU, plus GPUs for in-process models when asked."""
    options: dict[str, Any] = {"num_cpus": 1, "max_retries": MAX_RETRIES,
                               "retry_exceptions": False}
    if gpus_per_cell and cell.model.partition("/")[0] in IN_PROCESS_BACKENDS:
        options["num_gpus"] = gpus_per_cell
    return options


def warn_if_infeasible(ray: Any, console: Console, gpus_per_cell: float) -> None:
    """Tasks asking for GPUs a cluster does not have wait forever: say so up front."""
    have = ray.cluster_resources().get("GPU", 0)
    if gpus_per_cell and have < gpus_per_cell:
        console.print(f"[yellow]warning:[/] cells ask for {gpus_per_cell:g} GPU(s) but the Ray "
                      f"cluster has {have:g}; they wait until an autoscaler adds GPU nodes")


def unwrap(exc: BaseException) -> BaseException:
    """The cell's own exception inside Ray's RayTaskError (a dead worker stays as it is)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def run_plan_ray(cells: Sequence[Cell], results: Path, use_cache: bool = True,
                 console: Console | None = None, force: bool = False,
                 max_error_rate: float = DEFAULT_MAX_ERROR_RATE, prices: PriceTable | None = None,
                 hardware_usd_per_hour: float = DEFAULT_HARDWARE_USD_PER_HOUR,
                 address: str | None = None, gpus_per_cell: float = 0,
                 num_cpus: int | None = None) -> RunSummary:
    """Run every cell without a complete record as a Ray task; write records as they arrive."""
    ray = require_ray()
    console = console or Console(stderr=True)
    summary = RunSummary()
    prices = prices or PriceTable.load()
    check_results_writable(results)
    todo = cells_to_run(cells, results, summary, console, force)
    if not todo:
        return summary
    began = time.perf_counter()
    where, started = connect(ray, address, num_cpus)
    console.print(f"ray: {where} (connected in {time.perf_counter() - began:.1f} s); "
                  f"{len(todo)} cells to run")
    try:
        warn_if_infeasible(ray, console, gpus_per_cell)
        remote = ray.remote(compute_on_worker)
        pending = {remote.options(**task_options(cell, gpus_per_cell)).remote(
            cell_spec(cell), cell.key, use_cache, max_error_rate, prices, hardware_usd_per_hour
        ): cell for cell in todo}
        try:
            collect(ray, pending, results, summary, console)
        finally:
            for ref in pending:  # an interrupt or a run-stopping error: drop what is left
                ray.cancel(ref, force=True)
    finally:
        if started:
            ray.shutdown()
    return summary


def collect(ray: Any, pending: dict[Any, Cell], results: Path, summary: RunSummary,
            console: Console) -> None:
    """Write each cell's record as soon as its task returns; failures go to the summary."""
    total = len(pending)
    while pending:
        [ref], _ = ray.wait(list(pending), num_returns=1)
        cell = pending.pop(ref)
        count = f"({total - len(pending)}/{total})"
        try:
            result: CellResult = ray.get(ref)
            write_record(results, result.record, result.rows)
        except Exception as exc:  # noqa: BLE001 - one failing cell must not sink the plan
            cause = unwrap(exc)
            if stops_the_run(cause):
                raise cause from None
            summary.failed.append((cell, describe_failure(cause)))
            console.print(f"[red]failed[/] {cell.label} {count}")
            continue
        summary.add(result.record)
        console.print(f"[green]done[/] {cell.label} {count}")
