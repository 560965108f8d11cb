"""The machine a run is on: CPU model, cores, memory, the BLAS environment, the load."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from .contention import run_level
from .options import cores
from .report import read_result
from .timing import load_average

#: this checkout's committed CPU results: their calibration is the idle reference by default
COMMITTED = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "cpu.json"


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


def idle_reference(path_text: str | None, threads: int) -> dict:
    """The calibration kernel's time on this machine idle, from a result (--reference FILE.json;
    by default this checkout's committed cpu.json): ``{"file", "calibration_s", "why_not"}``.
    The result's ``machine.calibration_s``, else the median calibration of its uncontended rows
    (contention.run_level).  ``calibration_s`` is None, with ``why_not``, when there is no
    committed result, or it comes from another CPU model, core count or thread count."""
    path = Path(path_text) if path_text is not None else COMMITTED
    if path_text is None and not path.is_file():
        return {"file": None, "calibration_s": None, "why_not": f"no committed result at {path}; pass --reference"}
    data, _ = read_result(str(path), "--reference")
    theirs, here = data.get("machine", {}), machine()
    for name, mine, ref in (
        ("CPU", here["cpu"], theirs.get("cpu")),
        ("cores", here["cores"], theirs.get("cores")),
        ("threads", threads, data.get("config", {}).get("threads")),
    ):
        if mine != ref:
            why = f"{path} was timed with {name} {ref!r}, this run with {mine!r}"
            return {"file": str(path), "calibration_s": None, "why_not": why}
    level = theirs.get("calibration_s") or run_level(data["rows"])
    why = None if level else f"{path} has no calibrated rows"
    return {"file": str(path), "calibration_s": level, "why_not": why}
