"""What CPU a figure was measured on: read once from /proc/cpuinfo (Linux), for the records'
machine line, the hf backend's bf16 choice and the benchmark report."""

from __future__ import annotations

import functools
import platform
from pathlib import Path


@functools.cache
def _cpuinfo_field(name: str) -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name ("AMD EPYC ..."), or the platform's processor where /proc is absent."""
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def cpu_flags() -> frozenset[str]:
    """The first core's feature flags (avx512_bf16, amx_bf16, ...); empty where unknown."""
    return frozenset((_cpuinfo_field("flags") or "").split())
