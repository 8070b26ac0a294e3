"""The Ray executor: every unfinished cell becomes a Ray task; the driver writes the records.

`rvf run --executor ray` schedules the same cells the local executor would run
(`runner.run_cells` decides which), one Ray task per cell, and collects what the workers compute:

- A worker rebuilds its cell from its `CellSpec` (names and arguments, never the loaded task
  or model), checks that it gets the driver's cell key (a node with another rvf version or
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

import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.cache import RequestCache
from harness.cell import Cell, CellSpec
from harness.errors import CellMismatch, UsageError
from harness.paths import request_cache_path
from harness.records import write_record
from harness.runner import (
    CellResult,
    RunOptions,
    RunSummary,
    compute_cell,
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


def require_ray() -> Any:
    """The `ray` module, or a UsageError (exit 2) that says how to install it."""
    try:
        import ray
    except ImportError:
        raise UsageError(f"the ray executor needs Ray, which is not installed: {INSTALL_HINT}"
                         ) from None
    return ray


# -- the worker side --------------------------------------------------------------------------------

def compute_on_worker(spec: dict[str, Any], expected_key: str, options: RunOptions) -> CellResult:
    """Rebuild the cell from its spec, check its key, compute it. Runs in a Ray worker; writes
    no record. The spec holds names and arguments only, so a task's data and a model's weights
    are loaded on the worker, from the worker's own installation and caches."""
    from harness.registry import default_registry

    cell = Cell(default_registry(), CellSpec.from_dict(spec))
    if cell.key != expected_key:
        raise CellMismatch(
            f"this worker computes cell key {cell.key} for {cell.label}, the driver planned "
            f"{expected_key}: the node runs another rvf version or sees other task data")
    cache = RequestCache(request_cache_path()) if options.use_cache else None
    try:
        return compute_cell(cell, options, cache)
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
    if gpus_per_cell and cell.spec.model.partition("/")[0] in IN_PROCESS_BACKENDS:
        options["num_gpus"] = gpus_per_cell
    return options


def warn_if_infeasible(ray: Any, console: Console, gpus_per_cell: float) -> None:
    """Tasks asking for GPUs a cluster does not have wait forever: say so up front."""
    have = ray.cluster_resources().get("GPU", 0)
    if gpus_per_cell and have < gpus_per_cell:
        console.print(f"[yellow]warning:[/] cells ask for {gpus_per_cell:g} GPU(s) but the Ray "
                      f"cluster has {have:g}; they wait until an autoscaler adds GPU nodes")


def unwrap(ray: Any, exc: BaseException) -> BaseException:
    """The cell's own exception inside Ray's RayTaskError (a dead worker stays as it is)."""
    if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(exc.cause, BaseException):
        return exc.cause
    return exc


class RayExecutor:
    """Every cell `run_cells` hands it becomes a Ray task; records are written as they arrive."""

    def __init__(self, address: str | None = None, gpus_per_cell: float = 0,
                 num_cpus: int | None = None) -> None:
        self.address, self.gpus_per_cell, self.num_cpus = address, gpus_per_cell, num_cpus

    def run(self, todo: list[Cell], options: RunOptions, summary: RunSummary,
            console: Console) -> None:
        ray = require_ray()
        began = time.perf_counter()
        where, started = connect(ray, self.address, self.num_cpus)
        console.print(f"ray: {where} (connected in {time.perf_counter() - began:.1f} s); "
                      f"{len(todo)} cells to run")
        try:
            warn_if_infeasible(ray, console, self.gpus_per_cell)
            remote = ray.remote(compute_on_worker)
            pending = {remote.options(**task_options(cell, self.gpus_per_cell)).remote(
                cell.spec.to_dict(), cell.key, options): cell for cell in todo}
            try:
                collect(ray, pending, options.results, summary, console)
            finally:
                for ref in pending:  # an interrupt or a run-stopping error: drop what is left
                    ray.cancel(ref, force=True)
        finally:
            if started:
                ray.shutdown()


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
            cause = unwrap(ray, exc)
            if stops_the_run(cause):
                raise cause from None
            summary.fail(cell, cause)
            console.print(f"[red]failed[/] {cell.label} {count}")
            continue
        summary.add(result.record)
        console.print(f"[green]done[/] {cell.label} {count}")
