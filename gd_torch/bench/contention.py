"""Whether a cell was timed on a busy machine: four measurements, each held to a limit (:data:`SIGNALS`).

- ``calibration moved``: the calibration kernel's time after the cell over before it, minus 1
  (load that started or stopped during the cell);
- ``calibration slow``: the cell's calibration (the faster of before and after) over the idle
  reference kept with the machine's committed results, minus 1 (load throughout the cell);
- ``descheduled``: the share of the timing thread's wall time spent runnable but waiting for a
  core (Linux's schedstat run delay; elsewhere 1 - its CPU time / its wall time);
- ``load``: the 1-minute load average at the cell's start minus the cores.

numpy only, like :mod:`.timing` (the numpy worker judges its own cells).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

#: a timing thread that waited for a core this share of its wall time or more was contended.
#: Idle, the worker's thread waits well under 1% (its BLAS/OpenMP threads fit the cores); with
#: three busy processes beside it on 2 cores it waits about half of the time.
DESCHEDULED_LIMIT = 0.2
#: a 1-minute load average this much above the cores or more: more runnable work than cores.
#: Idle, the benchmark's own threads give 1.0-1.6 on 2 cores (the committed run).
LOAD_MARGIN = 0.5


@dataclass(frozen=True)
class Evidence:
    """What one cell's timing saw; None where it was not measured."""

    change: float | None = None  # calibration after / before - 1
    slowdown: float | None = None  # calibration / idle reference - 1
    descheduled: float | None = None  # share of wall time waiting for a core
    load_excess: float | None = None  # 1-minute load average - cores


@dataclass(frozen=True)
class Signal:
    """One measurement of :class:`Evidence` and its limit (None: the run's calibration tolerance)."""

    name: str
    value: Callable[[Evidence], float | None]
    limit: float | None
    text: str  # formatted with value= and limit=

    def verdict(self, e: Evidence, tolerance: float) -> str | None:
        """'name: text' when the value is at or over its limit, else None."""
        value = self.value(e)
        limit = tolerance if self.limit is None else self.limit
        if value is None or value < limit:
            return None
        return f"{self.name}: " + self.text.format(value=value, limit=limit)


SIGNALS: tuple[Signal, ...] = (
    Signal(
        "calibration moved",
        lambda e: None if e.change is None else abs(e.change),
        None,
        "the calibration kernel's time changed by {value:.0%} across the cell (limit {limit:.0%})",
    ),
    Signal(
        "calibration slow",
        lambda e: e.slowdown,
        None,
        "the calibration kernel ran {value:.0%} slower than on the idle machine (limit {limit:.0%})",
    ),
    Signal(
        "descheduled",
        lambda e: e.descheduled,
        DESCHEDULED_LIMIT,
        "the timing thread waited for a core {value:.0%} of its wall time (limit {limit:.0%})",
    ),
    Signal(
        "load",
        lambda e: e.load_excess,
        LOAD_MARGIN,
        "the 1-minute load average was {value:.1f} above the cores (limit {limit:.1f})",
    ),
)


def judge(e: Evidence, tolerance: float) -> list[str]:
    """The signals of ``e`` at or over their limits, one 'name: why' each (empty: not contended).
    ``tolerance``: the limit of the two calibration signals (--calibration-tolerance)."""
    return [v for s in SIGNALS if (v := s.verdict(e, tolerance)) is not None]


def evidence(
    calibration: dict, sched: dict | None, loadavg: float | None, reference_s: float | None, cores: int
) -> Evidence:
    """A cell's Evidence from its calibration (before_s, after_s), the timing thread's times
    (:func:`thread_times` differences: wall_s, cpu_s, waited_s), the load average at its start,
    the idle reference's calibration (None: none for this machine) and the cores."""
    return Evidence(
        change=calibration["after_s"] / calibration["before_s"] - 1.0,
        slowdown=None if reference_s is None else level(calibration) / reference_s - 1.0,
        descheduled=None if sched is None else descheduled(sched),
        load_excess=None if loadavg is None else loadavg - cores,
    )


def level(calibration: dict) -> float:
    """A cell's calibration: the faster of the kernel's times before and after it (seconds)."""
    return min(calibration["before_s"], calibration["after_s"])


def descheduled(sched: dict) -> float:
    """Share of the wall time the thread was runnable but off the cores: waited_s / wall_s
    (schedstat), or 1 - cpu_s / wall_s where the run delay is unknown."""
    if sched["wall_s"] <= 0:
        return 0.0
    if sched.get("waited_s") is not None:
        return sched["waited_s"] / sched["wall_s"]
    return max(0.0, 1.0 - sched["cpu_s"] / sched["wall_s"])


def run_level(rows: list[dict]) -> float | None:
    """The calibration of a run: the median of :func:`level` over its finished rows not marked
    contended (None when none has a calibration); kept as the machine's ``calibration_s``."""
    levels = [level(r["calibration"]) for r in rows if r.get("calibration") and not r.get("contended")]
    return statistics.median(levels) if levels else None


def _run_delay() -> float | None:
    # seconds this thread has waited on a run queue (Linux schedstat's second field, in ns)
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) * 1e-9
    except (OSError, IndexError, ValueError):
        return None


def thread_times() -> dict:
    """This thread's clocks now: wall (perf_counter), CPU (thread_time), run-queue wait (or None)."""
    return {"wall_s": time.perf_counter(), "cpu_s": time.thread_time(), "waited_s": _run_delay()}


def since(start: dict) -> dict:
    """The differences of :func:`thread_times` from ``start`` to now."""
    now = thread_times()
    waited = None if start["waited_s"] is None or now["waited_s"] is None else now["waited_s"] - start["waited_s"]
    return {"wall_s": now["wall_s"] - start["wall_s"], "cpu_s": now["cpu_s"] - start["cpu_s"], "waited_s": waited}
