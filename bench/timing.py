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


@dataclass
class LoadWindow:
    """The 1-minute load average when a measurement started and ended."""

    start: tuple[float, float, float] | None = field(default_factory=loadavg)
    end: tuple[float, float, float] | None = None

    def close(self) -> LoadWindow:
        self.end = loadavg()
        return self

    def text(self) -> str:
        fmt = lambda la: "?" if la is None else f"{la[0]:.1f}"  # noqa: E731
        busy = " (busy at start)" if self.busy_at_start() else ""
        return f"{fmt(self.start)} → {fmt(self.end)}{busy}"

    def busy_at_start(self) -> bool:
        """Started above QUIET_LOAD: something else shared the machine, so its times are suspect."""
        return self.start is not None and self.start[0] >= QUIET_LOAD


# A machine is quiet enough to measure on below this 1-minute load average (2 cores: 2.0 = full).
QUIET_LOAD = 0.5


def wait_for_quiet(max_wait_s: float,
                   read: Callable[[], tuple[float, float, float] | None] = loadavg,
                   sleep: Callable[[float], None] = time.sleep,
                   poll_s: float = 15.0) -> tuple[bool, float | None]:
    """Wait up to `max_wait_s` for the 1-minute load average to fall below QUIET_LOAD.

    Returns (quiet, last load read). Where the platform has no load average there is nothing to
    wait for: (True, None)."""
    waited = 0.0
    while True:
        load = read()
        if load is None or load[0] < QUIET_LOAD:
            return True, None if load is None else load[0]
        if waited >= max_wait_s:
            return False, load[0]
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
