"""harness/compute.py: CPU-time metering, the hardware rate, and the per-cell peak-memory window."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from harness.compute import HardwareRate, Meter, peak_rss_bytes, reset_peak_rss, rss_bytes


def test_cpu_time_counts_work_not_waiting() -> None:
    with Meter() as busy:
        end = time.perf_counter() + 0.3
        while time.perf_counter() < end:
            pass
    with Meter() as idle:
        time.sleep(0.3)
    assert busy.cpu > 0.2 and busy.wall >= 0.3
    assert idle.cpu < 0.05 and idle.wall >= 0.3


def test_a_cpu_second_costs_the_rate_per_core() -> None:
    rate = HardwareRate(usd_per_hour=0.36, cores=2)
    # Both cores busy for an hour is 7,200 CPU seconds: the machine's hourly rate.
    assert rate.cpu_cost(7200) == pytest.approx(0.36)
    usd, basis = rate.price(cpu_seconds=None, wall_seconds=3600)
    assert usd == pytest.approx(0.36) and "older rvf" in basis
    assert rate.price(None, None) == (None, "unknown: no compute time recorded")
    assert rate.describe()["usd_per_core_hour"] == pytest.approx(0.18)


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="Linux only")
def test_the_peak_memory_window_starts_again_after_a_reset() -> None:
    big = np.ones(400 * 2**20 // 8)  # 400 MiB, touched
    lifetime = peak_rss_bytes()
    del big
    assert reset_peak_rss()
    window = peak_rss_bytes()
    assert lifetime - window > 300 * 2**20
    assert window >= rss_bytes() * 0.9


def test_importing_rvf_makes_openmp_threads_wait_passively_unless_told_otherwise() -> None:
    script = "import harness, os; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "PASSIVE", done.stderr
    mine = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**env, "OMP_WAIT_POLICY": "ACTIVE"})
    assert mine.stdout.strip() == "ACTIVE", mine.stderr
