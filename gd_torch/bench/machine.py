"""The machine a run is on: CPU model, cores, memory, the BLAS environment, the load."""

from __future__ import annotations

import os
import platform

from .options import cores
from .timing import load_average


def _meminfo(field: str) -> int:
    # bytes of one /proc/meminfo field (0 when unknown)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def memory_available() -> int:
    """MemAvailable in bytes (0 when unknown: nothing is then skipped for memory)."""
    return _meminfo("MemAvailable")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """CPU model, cores, memory, platform, the BLAS environment variables and the load at the start."""
    env = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")
    return {
        "cpu": _cpu_model(),
        "cores": cores(),
        "memory_GiB": _meminfo("MemTotal") / 2**30,
        "platform": platform.platform(),
        "env": {k: os.environ.get(k) for k in env},
        "loadavg_at_start": load_average(),
    }
