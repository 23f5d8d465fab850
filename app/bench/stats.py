"""Shared numbers of the benchmarks: percentile summaries, CPU accounting from /proc, the machine's facts.

CPU use comes straight from Linux's /proc (no extra dependency): a process's user+system ticks (all its
threads) and the whole machine's busy ticks, sampled at the start and end of a window; the difference
over the wall time is "cores busy" (2.0 = both cores of this machine, all the time).
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def summary(values: list[float] | np.ndarray) -> dict:
    """{"n", "p50", "p95", "max", "mean"} of `values` in their unit, rounded; None entries when empty."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if not len(v):
        return {"n": 0, "p50": None, "p95": None, "max": None, "mean": None}
    return {
        "n": int(len(v)),
        "p50": round(float(np.percentile(v, 50)), 1),
        "p95": round(float(np.percentile(v, 95)), 1),
        "max": round(float(v.max()), 1),
        "mean": round(float(v.mean()), 1),
    }


def ms(value: float | None) -> str:
    """A millisecond figure for a table ("-" when missing)."""
    return "-" if value is None else f"{value:.0f}"


def process_ticks(pid: int) -> int | None:
    """User + system clock ticks used so far by process `pid` (all threads); None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass
class CpuSample:
    """One reading of the CPU counters."""

    t: float
    server: int | None
    client: int | None
    busy: int
    total: int


class CpuMeter:
    """Reads CPU counters of the server (if its pid is known), this client process and the machine.

    Args:
        server_pid: the `hark serve` process, or None when measuring a server started elsewhere.
    """

    def __init__(self, server_pid: int | None):
        self.server_pid = server_pid

    def sample(self) -> CpuSample:
        """The counters now."""
        busy, total = machine_ticks()
        server = process_ticks(self.server_pid) if self.server_pid else None
        return CpuSample(time.monotonic(), server, process_ticks(os.getpid()), busy, total)

    @staticmethod
    def between(a: CpuSample, b: CpuSample) -> dict:
        """Cores busy between two readings: the server, this client, and the whole machine."""
        wall = max(b.t - a.t, 1e-9)

        def cores(x: int | None, y: int | None) -> float | None:
            return None if x is None or y is None else round((y - x) / _TICK / wall, 2)

        cpus = os.cpu_count() or 1
        machine = (b.busy - a.busy) / max(b.total - a.total, 1) * cpus
        return {
            "server_cores": cores(a.server, b.server),
            "client_cores": cores(a.client, b.client),
            "machine_busy_cores": round(machine, 2),
            "cpus": cpus,
        }


def machine_info() -> dict:
    """The machine a report was measured on, and how loaded it was when the run began."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "processor": model or platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        "time": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
