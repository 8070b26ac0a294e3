"""Timing helpers: warm-up, interleaved repetitions, median/min/max, and the machine's facts.

The machines these run on are shared, so a ratio is measured pairwise: the two sides of a ratio
alternate (A B A B ...), each pair gives one ratio, and the row reports the median, min and max
of those ratios. Both sides of a pair see about the same load from other processes.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.machine import cpu_flags, cpu_model


@dataclass(frozen=True)
class Stats:
    """Median, min, max and count of a list of numbers."""

    median: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Stats:
        if not values:
            raise ValueError("no samples")
        return cls(statistics.median(values), min(values), max(values), len(values))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(wall seconds, result) of one call."""
    began = time.perf_counter()
    result = fn()
    return time.perf_counter() - began, result


def interleaved(a: Callable[[], float], b: Callable[[], float], n: int,
                warmup: Callable[[], Any] | None = None) -> list[tuple[float, float]]:
    """`n` pairs (a, b), run A B A B ...; each callable returns its own measured seconds.

    The callables time themselves (so setup that is not part of the measurement, such as making a
    fresh folder, stays out). `warmup` runs once first, untimed (loads models, fills OS caches).
    """
    if warmup is not None:
        warmup()
    return [(a(), b()) for _ in range(n)]


def ratios(pairs: list[tuple[float, float]]) -> list[float]:
    """a/b per pair."""
    return [x / y for x, y in pairs]


def loadavg() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:  # not on every platform
        return None


@dataclass(frozen=True)
class CpuSample:
    """A moment's CPU counters: the busy seconds of the CPUs this process may run on (all
    processes together, from /proc/stat) and this process's own (its threads and its children
    that have exited and been waited for)."""

    at: float  # time.monotonic()
    busy: float | None  # None: no /proc/stat (not Linux)
    own: float

    @classmethod
    def now(cls) -> CpuSample:
        t = os.times()
        return cls(time.monotonic(), _busy_seconds(),
                   t.user + t.system + t.children_user + t.children_system)

    def others_since(self, earlier: CpuSample) -> float | None:
        """Mean CPU cores that other processes used between `earlier` and this sample."""
        if self.busy is None or earlier.busy is None or self.at <= earlier.at:
            return None
        used = (self.busy - earlier.busy) - (self.own - earlier.own)
        return max(used, 0.0) / (self.at - earlier.at)


def _busy_seconds() -> float | None:
    """Seconds the CPUs in this process's affinity have spent busy since boot: user, nice, system,
    irq and softirq ticks of /proc/stat (idle, iowait and the hypervisor's steal left out)."""
    try:
        lines = Path("/proc/stat").read_text(encoding="ascii").splitlines()
        mine = os.sched_getaffinity(0)
    except (OSError, AttributeError):
        return None
    ticks = 0
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in mine:
            user, nice, system, _idle, _iowait, irq, softirq = map(int, fields[:7])
            ticks += user + nice + system + irq + softirq
    return ticks / os.sysconf("SC_CLK_TCK")


# Other processes may use less than this many CPU cores on average during a row (2 cores: 2.0 is
# the whole machine); a row where they used more says so, and the bench waits for less before it.
QUIET_LOAD = 0.5


@dataclass
class LoadWindow:
    """How busy the machine was during one measurement.

    `others` is what matters: the mean CPU cores used by processes outside the bench (its own
    process and the children it ran and waited for excluded) from start to close. The 1-minute
    load average at start and end is kept for reference; after a heavy row it stays high for a
    minute or two from the bench's own work, so it cannot tell that from another job."""

    start: tuple[float, float, float] | None = field(default_factory=loadavg)
    end: tuple[float, float, float] | None = None
    others: float | None = None
    _began: CpuSample = field(default_factory=CpuSample.now, repr=False, compare=False)

    def close(self) -> LoadWindow:
        self.end = loadavg()
        self.others = CpuSample.now().others_since(self._began)
        return self

    def text(self) -> str:
        fmt = lambda la: "?" if la is None else f"{la[0]:.1f}"  # noqa: E731
        others = "" if self.others is None else f"; others {self.others:.2f}"
        busy = f" ({self.busy_reason()})" if self.busy_reason() else ""
        return f"{fmt(self.start)} → {fmt(self.end)}{others}{busy}"

    def busy_reason(self) -> str | None:
        """Why this row's times are suspect (another job shared the machine), or None. Rows from
        before `others` was measured fall back to the 1-minute load average at their start."""
        if self.others is not None:
            return "busy: other processes" if self.others >= QUIET_LOAD else None
        if self.start is not None and self.start[0] >= QUIET_LOAD:
            return "busy at start"
        return None


def others_now(window_s: float = 5.0, sleep: Callable[[float], None] = time.sleep
               ) -> float | None:
    """Mean CPU cores used by other processes over the next `window_s` seconds (None: unknown)."""
    began = CpuSample.now()
    sleep(window_s)
    return CpuSample.now().others_since(began)


def wait_for_quiet(max_wait_s: float, read: Callable[[], float | None] = others_now,
                   sleep: Callable[[float], None] = time.sleep,
                   poll_s: float = 10.0) -> tuple[bool, float | None]:
    """Wait up to about `max_wait_s` for other processes to use less than QUIET_LOAD cores.

    `read` gives their mean cores over a short window (it takes that window). Returns (quiet, the
    last reading). Where the platform cannot tell there is nothing to wait for: (True, None)."""
    waited = 0.0
    while True:
        others = read()
        if others is None or others < QUIET_LOAD:
            return True, others
        if waited >= max_wait_s:
            return False, others
        sleep(poll_s)
        waited += poll_s


def machine_facts() -> dict[str, Any]:
    """Cores, CPU, the flags that decide bf16 speed, memory, torch threads, versions, date."""
    flags = cpu_flags()
    wanted = ["avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "amx_int8"]
    facts: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(), "cores": os.cpu_count(),
        "flags": ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in wanted),
        "python": platform.python_version(), "platform": f"{platform.system()} {platform.machine()}",
        "gpu": "none",
    }
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        facts["memory"] = f"{pages * size / 2**30:.1f} GiB"
    except (ValueError, OSError):
        pass
    try:
        import torch

        facts["torch"] = torch.__version__
        facts["torch threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            facts["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    for name in ("transformers", "peft", "sentence-transformers", "lm-eval"):
        try:
            from importlib.metadata import version

            facts[name] = version(name)
        except Exception:  # noqa: BLE001 - not installed: leave it out
            pass
    return facts
