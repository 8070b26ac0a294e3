"""How much of the machine a piece of work used: CPU seconds, wall seconds, peak memory, load.

Local compute is priced by process CPU time, not wall time. On a shared machine wall time
measures how busy the machine was; CPU time measures the work, as long as waiting threads sleep
instead of spinning. That is why `harness/__init__.py` sets `OMP_WAIT_POLICY=PASSIVE` (unless the
user set it): with libgomp's default spin-wait, a torch thread whose peer was descheduled by
another job burns CPU while it waits, and a cell beside a one-core job used twice the CPU time
of the same cell on an idle machine. Passive waits cost some wall time on an idle machine and
make the CPU figure stable under load (docs/costs.md has the measurement).

A CPU second is priced at the hardware rate per core: `cpu_s / 3600 x usd_per_hour / cores`, so
work that keeps every core busy for an hour costs `usd_per_hour`, whatever else ran beside it.
"""

from __future__ import annotations

import ctypes
import gc
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def machine_cores() -> int:
    """The cores this process may run on (its CPU affinity), which the hardware rate pays for."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def load_average() -> float | None:
    """The 1-minute load average (2.0 on 2 cores: the machine is full); None where unknown."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def omp_wait_policy() -> str:
    return os.environ.get("OMP_WAIT_POLICY", "default (spin)")


@dataclass(frozen=True)
class HardwareRate:
    """What local compute costs: the machine's $/hour, shared by its cores."""

    usd_per_hour: float
    cores: int

    @property
    def usd_per_core_hour(self) -> float:
        return self.usd_per_hour / self.cores

    def cpu_cost(self, cpu_seconds: float) -> float:
        return cpu_seconds / 3600 * self.usd_per_core_hour

    def price(self, cpu_seconds: float | None, wall_seconds: float | None = None
              ) -> tuple[float | None, str]:
        """(USD, basis) of a piece of local work: by its CPU seconds; by wall seconds x the
        machine's rate only when it was measured by an older rvf without CPU time."""
        if cpu_seconds is not None:
            return self.cpu_cost(cpu_seconds), (f"CPU {cpu_seconds:.1f} s x "
                                                f"${self.usd_per_core_hour:g}/core-h "
                                                f"(${self.usd_per_hour:g}/h, {self.cores} cores)")
        if wall_seconds is not None:
            return wall_seconds / 3600 * self.usd_per_hour, (
                f"wall {wall_seconds:.1f} s x ${self.usd_per_hour:g}/h (no CPU time: measured "
                "by an older rvf, so it moves with machine load)")
        return None, "unknown: no compute time recorded"

    def describe(self) -> dict:
        """The record's `hardware` block."""
        return {"usd_per_hour": self.usd_per_hour, "cores": self.cores,
                "usd_per_core_hour": round(self.usd_per_core_hour, 6),
                "priced_by": "process CPU seconds", "omp_wait_policy": omp_wait_policy()}


class Meter:
    """Wall and CPU seconds from its creation, or from entering a `with` block, to `stop()` or
    the block's end. CPU is the whole process's (every thread counts), or with `thread=True`
    the calling thread's alone: what one of several workers running side by side used."""

    def __init__(self, thread: bool = False) -> None:
        self.wall = self.cpu = 0.0
        self._clock = time.thread_time if thread else time.process_time
        self.start()

    def start(self) -> Meter:
        self._wall, self._cpu = time.perf_counter(), self._clock()
        return self

    def stop(self) -> Meter:
        self.wall = time.perf_counter() - self._wall
        self.cpu = self._clock() - self._cpu
        return self

    def __enter__(self) -> Meter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- peak resident memory --------------------------------------------------------------------------

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peak_rss() -> bool:
    """Start a new peak-memory window: free what can be freed, then set the process's high-water
    mark to its current size (Linux: writing 5 to /proc/self/clear_refs). False where the kernel
    does not allow it; `peak_rss_bytes` then reports the lifetime peak."""
    gc.collect()
    try:  # hand freed heap pages back to the OS, or the new window starts above them
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int:
    """Peak resident memory since the last `reset_peak_rss` (VmHWM), else over the process's life
    (ru_maxrss: Linux reports kilobytes, macOS bytes)."""
    hwm = _status_kb("VmHWM")
    if hwm is not None:
        return hwm * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def rss_bytes() -> int | None:
    """Current resident memory (VmRSS); None where /proc is absent."""
    kb = _status_kb("VmRSS")
    return None if kb is None else kb * 1024
