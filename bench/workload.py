"""What the benchmarks run: the embedded default cell (ticket_categorization x prompt on the bundled
SmolLM2), its exact requests and rendered prompts, and rvf's CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TASK, STRATEGY, MODEL = "ticket_categorization", "prompt", "local/smollm2-135m-instruct"
ALIAS = MODEL.split("/", 1)[1]
OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}


def go_offline() -> None:
    """No hub: every model and data set comes from a local folder (set before any HF import)."""
    os.environ.update(OFFLINE)


@dataclass
class Workload:
    """The default cell's scored samples, requests and the prompts the hf backend renders."""

    cell: Any
    task: Any
    samples: list[Any]
    requests: list[Any]
    prompts: list[str]
    backend: Any  # harness.backends.local.LocalBackend, loaded


def default_workload(limit: int | None) -> Workload:
    """The embedded default cell, as `rvf run --limit <limit>` plans it (same samples, same
    few-shot draw), with its requests rendered by the backend exactly as generate() renders them."""
    from harness.cell import plan
    from harness.registry import default_registry

    cells = plan(default_registry(), [TASK], [STRATEGY], [MODEL], [MODEL], [0], {}, {}, {}, limit)
    cell = cells[0]
    from harness.types import PrepareContext

    strategy = cell.strategy
    prepared = strategy.prepare(cell.task, cell.backend, PrepareContext(seed=cell.spec.seed))
    requests = [r for r, _ in strategy.requests(cell.task, cell.samples)]
    backend = prepared.backend
    backend.load()
    return Workload(cell, cell.task, list(cell.samples), requests,
                    [backend.render(r) for r in requests], backend)


def rvf_command(args: Sequence[str], profile_to: Path | None = None) -> list[str]:
    """`rvf ARGS` with this interpreter (optionally under pyinstrument, text profile to a file)."""
    if profile_to is not None:
        return [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(profile_to),
                "-m", "harness", *args]
    return [sys.executable, "-m", "harness", *args]


@dataclass
class Completed:
    seconds: float
    peak_rss_bytes: int  # of the whole process tree, sampled (0 when psutil is missing)
    stdout: str
    stderr: str
    timed_out: bool = False  # stopped at `timeout` (only when the caller allowed it)


def run_measured(cmd: Sequence[str], env: dict[str, str], cwd: Path | None = None,
                 timeout: float | None = None, stop_at_timeout: bool = False) -> Completed:
    """Run a command, timing it and sampling its process tree's resident memory every 0.2 s.

    Fails (RuntimeError with the tail of stderr) on a non-zero exit: a failed run must not be
    reported as a fast one. Past `timeout` the command is killed; that is an error too, unless
    `stop_at_timeout`, which returns what was measured up to then (`timed_out` set).
    """
    began = time.perf_counter()
    proc = subprocess.Popen(list(cmd), env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        try:
            import psutil
        except ImportError:
            return
        try:
            root = psutil.Process(proc.pid)
        except psutil.Error:
            return
        while not stop.is_set():
            total = 0
            try:
                for p in [root, *root.children(recursive=True)]:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                break
            peak[0] = max(peak[0], total)
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        stop.set()
        sampler.join()
        if not stop_at_timeout:
            raise RuntimeError(f"timed out after {timeout} s: {' '.join(cmd)}\n{err[-3000:]}") from None
        return Completed(time.perf_counter() - began, peak[0], out, err, timed_out=True)
    finally:
        stop.set()
        sampler.join()
    seconds = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {' '.join(cmd)}\n{err[-3000:]}")
    return Completed(seconds, peak[0], out, err)


def bench_env(**extra: str | None) -> dict[str, str]:
    """This process's environment, offline, with `extra` set (a None value removes the name)."""
    env = {**os.environ, **OFFLINE, "COLUMNS": "120"}
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env
