"""How every worker times: interleaved blocks, a calibration kernel around them, peak memory.

numpy only (the numpy worker must never load torch).  A *block* is ``number`` back-to-back
calls of one function, with ``number`` chosen so that a block lasts at least BLOCK_S; the
time per call is the block's time over ``number``.  The methods of one cell are timed in
rounds, one block of each per round (A B C A B C ...), so that a burst of load elsewhere
hits all of them and their ratios survive it.
"""

from __future__ import annotations

import math
import os
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

#: one timed block lasts at least this long (many calls per block when they are short), or a
#: fifth of the run time asked per method when that is shorter
BLOCK_S = 0.01
#: every method of a cell gets at least this many blocks
MIN_BLOCKS = 5


def stats(per_call: list[float], number: int) -> dict:
    """Median and spread of per-call times (seconds), from blocks of ``number`` calls each."""
    t = np.asarray(per_call, dtype=np.float64)
    q25, med, q75 = np.percentile(t, [25, 50, 75])
    return {
        "median_s": float(med),
        "q25_s": float(q25),
        "q75_s": float(q75),
        "iqr_s": float(q75 - q25),
        "min_s": float(t.min()),
        "blocks": len(t),
        "number_per_block": int(number),
    }


def no_sync() -> None:
    return None


def _block(fn: Callable[[], object], number: int, sync: Callable[[], None]) -> float:
    # seconds per call over one block; sync() waits for an accelerator before the clock is read
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    sync()
    return (time.perf_counter() - t0) / number


def block_size(fn: Callable[[], object], block_s: float = BLOCK_S, sync: Callable[[], None] = no_sync) -> int:
    """Calls per block of ``block_s`` seconds: one warm-up call estimates the cost, a block of
    that size refines it (the first call pays cold caches)."""
    first = _block(fn, 1, sync)
    number = max(1, math.ceil(block_s / max(first, 1e-9)))
    est = _block(fn, number, sync)
    return max(1, math.ceil(block_s / max(est, 1e-9)))


def interleaved(
    fns: dict[str, Callable[[], object]], min_run_time: float, sync: Callable[[], None] = no_sync
) -> dict[str, dict]:
    """Time every function of ``fns`` in rounds of one block each, until each has MIN_BLOCKS
    blocks and the rounds have run ``min_run_time`` seconds per function; stats per name."""
    block_s = min(BLOCK_S, min_run_time / MIN_BLOCKS)
    number = {k: block_size(fn, block_s, sync) for k, fn in fns.items()}
    times: dict[str, list[float]] = {k: [] for k in fns}
    start = time.perf_counter()
    rounds = 0
    while rounds < MIN_BLOCKS or time.perf_counter() - start < min_run_time * len(fns):
        for k, fn in fns.items():
            times[k].append(_block(fn, number[k], sync))
        rounds += 1
    return {k: stats(times[k], number[k]) for k in fns}


# ---- contention ------------------------------------------------------------------------

_RNG = np.random.default_rng(12345)
#: the calibration kernel's fixed inputs: a 512 x 512 product (compute, on BLAS's threads) and a
#: sum over 32 MiB (memory), ~4 ms together here.  Measured on this 2-core machine, idle, between
#: cells of 1e6 x 64: the fastest of 9 runs moved by at most 15% from one calibration to the next
#: (a 0.5 ms kernel's median of 7 moved by up to 80%, marking idle cells contended), and one busy
#: process beside it doubled it.
_A = _RNG.standard_normal((512, 512))
_M = _RNG.standard_normal(4 << 20)
#: runs of the kernel per calibration (--calibration-repeats): the fastest counts
CALIBRATION_REPEATS = 9


def _kernel() -> float:
    return float((_A @ _A).sum() + np.add.reduce(_M))


def calibrate(repeats: int = CALIBRATION_REPEATS) -> float:
    """Seconds of the fixed calibration kernel: the fastest of ``repeats`` runs (a moment's
    interruption does not count; work running beside it slows every run).  Timed before and
    after each cell: on an idle machine the two agree; when other work starts or stops they move
    apart."""
    _kernel()
    t = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _kernel()
        t.append(time.perf_counter() - t0)
    return min(t)


def load_average() -> float | None:
    """The 1-minute load average (None where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover
        return None


# ---- memory ------------------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    # Linux: writing 5 to clear_refs resets the process's peak resident set size (VmHWM)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_memory(fn: Callable[[], object]) -> dict:
    """Peak memory of one call of ``fn``: the worker's resident set before it and at its peak
    (VmHWM, reset before the call where Linux allows; otherwise ru_maxrss, the process's
    peak so far) and the peak of Python/numpy allocations during it (tracemalloc)."""
    import resource

    reset = _reset_peak_rss()
    before = _status_kib("VmRSS")
    tracemalloc.start()
    try:
        fn()
        _, traced_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    hwm = _status_kib("VmHWM") if reset else None
    peak_kib = hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "peak_rss_bytes": peak_kib * 1024,
        "rss_before_bytes": None if before is None else before * 1024,
        "peak_rss_source": "VmHWM reset before the call" if hwm is not None else "ru_maxrss (process peak so far)",
        "peak_traced_bytes": int(traced_peak),
    }
