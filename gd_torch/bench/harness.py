"""What every worker shares: the plan it reads, the data, the rows it writes, the serving loop.

A worker is ``python -m gd_torch.bench.worker_<library>``: it reads the plan (JSON) on
stdin and writes one JSON line per row on stdout as each finishes.  numpy only here: the
numpy worker must never load torch.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import contention, timing

#: the problem every row times: the tutorial's pair
LOSS, ACTIVATION = "sse", "sigmoid"
#: the tutorial's learning rate and epoch count, and its size for the training rows
ALPHA, EPOCHS = 0.01, 100
TRAIN_N, TRAIN_D = 250, 3

Sync = Callable[[], None]


@dataclass
class Prepared:
    """One task made ready to time: its function(s) (label -> fn; the floor has two and keeps the
    faster), or the reason it is skipped; ``extra`` fields for its row; ``finish`` adds derived
    fields (bandwidth, us per epoch) to the timed row."""

    task: dict
    fns: dict[str, Callable[[], object]] = field(default_factory=dict)
    skip: str | None = None
    extra: dict = field(default_factory=dict)
    finish: Callable[[dict], dict] | None = None


@dataclass(frozen=True)
class Worker:
    """A library's worker: its description, how it prepares a cell's gradient tasks and its
    training tasks, and per device how to wait for the device and measure its memory."""

    library: str
    meta: Callable[[dict], dict]
    prepare_cell: Callable[[list[dict], dict], list[Prepared]]
    prepare_train: Callable[[list[dict], dict], list[Prepared]]
    sync: Callable[[str], Sync] = lambda device: timing.no_sync
    device_memory: Callable[[str, Callable[[], object]], dict] | None = None


def make_data(n: int, d: int, dtype: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X uniform with columns scaled so that z = X W is O(1); labels 0/1; W normal.

    Written in place (no temporary the size of X); the same (n, d, dtype, seed) gives the
    same arrays in every worker.
    """
    rng = np.random.default_rng([seed, n, d])
    X = np.empty((n, d), dtype=dtype)
    rng.random(out=X, dtype=X.dtype.type)  # U[0, 1)
    X -= 0.5
    X *= math.sqrt(12.0 / d)  # Var(z) = sum_j Var(X_ij W_j) ~ 1 for W ~ N(0, 1)
    y = (rng.random(n) < 0.5).astype(dtype)
    W = rng.standard_normal(d).astype(dtype)
    return X, y, W


def train_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tutorial's data (250 x 3, bias column first) and its uniform [0, 1) start."""
    from gd_torch import init_weights, tutorial_data

    X, y = tutorial_data()
    return X, y, init_weights(X.shape[1], "uniform", seed)


def emit(row: dict) -> None:
    """One row as a JSON line on stdout (the runner reads it as it comes)."""
    sys.stdout.write(json.dumps(row) + "\n")
    sys.stdout.flush()


def base_row(task: dict) -> dict:
    keys = ("kind", "method", "library", "device", "n", "d", "dtype")
    return {k: task[k] for k in keys if k in task}


def calibrated(fns: dict[str, Callable[[], object]], plan: dict, sync: Sync) -> tuple[dict, dict, float | None, dict]:
    """timing.interleaved between two runs of the calibration kernel, again (up to ``retries``
    times) while the kernel's time moved by ``calibration_tolerance`` or more; the last
    attempt's times, its calibration, the load average at its start and the timing thread's
    wall, CPU and run-queue seconds over it (contention.since)."""
    tol = plan["calibration_tolerance"]
    attempts = 0
    while True:
        attempts += 1
        load = timing.load_average()
        start = contention.thread_times()
        before = timing.calibrate(plan["calibration_repeats"])
        measured = timing.interleaved(fns, plan["min_run_time"], sync)
        after = timing.calibrate(plan["calibration_repeats"])
        sched = contention.since(start)
        change = after / before - 1.0
        if abs(change) < tol or attempts > plan["retries"]:
            break
    calibration = {"before_s": before, "after_s": after, "change": change, "tolerance": tol, "attempts": attempts}
    return measured, calibration, load, sched


def judged(calibration: dict, sched: dict, load: float | None, plan: dict) -> dict:
    """A cell's contention fields: ``contended`` and ``contended_by`` (contention.judge's reasons)
    against the plan's idle reference (``idle_calibration_s``, None: none) and ``cores``."""
    e = contention.evidence(calibration, sched, load, plan.get("idle_calibration_s"), plan["cores"])
    why = contention.judge(e, plan["calibration_tolerance"])
    return {"contended": bool(why), "contended_by": why, "descheduled": e.descheduled, "sched": sched}


def time_group(prepared: list[Prepared], plan: dict, sync: Sync, memory: Callable | None = None) -> None:
    """Time the runnable tasks of one group interleaved, between two calibrations; retry the
    group when the calibration moved by ``calibration_tolerance`` or more; mark its rows
    ``contended`` when any contention signal is at its limit (see :func:`judged`); emit one
    row per task (skipped ones first)."""
    for p in prepared:
        if p.skip is not None:
            emit({**base_row(p.task), "status": "skipped", "reason": p.skip, **p.extra})
    runnable = [p for p in prepared if p.skip is None]
    if not runnable:
        return
    keyed = {f"{i}:{label}": fn for i, p in enumerate(runnable) for label, fn in p.fns.items()}
    t_start = time.perf_counter()
    measured, calibration, load, sched = calibrated(keyed, plan, sync)
    wall = time.perf_counter() - t_start
    verdict = judged(calibration, sched, load, plan)
    for i, p in enumerate(runnable):
        ops = {label: measured[f"{i}:{label}"] for label in p.fns}
        best = min(ops, key=lambda label: ops[label]["median_s"])
        row = {**base_row(p.task), "status": "ok", **ops[best], **p.extra}
        if len(ops) > 1:
            row |= {"best_op": best, "ops_s": {label: s["median_s"] for label, s in ops.items()}}
        row |= {"calibration": calibration, "loadavg_1m": load, "wall_s": wall, **verdict}
        row |= timing.peak_memory(p.fns[best])
        if memory is not None:
            row |= memory(p.fns[best])
        emit(p.finish(row) if p.finish else row)


def per_epoch(row: dict) -> dict:
    """A training row's time per epoch (its functions run EPOCHS epochs per call)."""
    return row | {"epochs": EPOCHS, "us_per_epoch": row["median_s"] / EPOCHS * 1e6}


def serve(worker: Worker) -> int:
    """A worker's main: read the plan, describe the library, time each cell's tasks per device,
    then the training tasks; an ``end`` row last (a worker that dies never writes it)."""
    import threadpoolctl

    import gd_torch

    plan = json.load(sys.stdin)
    threadpoolctl.threadpool_limits(plan["threads"])  # numpy's BLAS, the calibration kernel's too
    emit({"kind": "meta", "library": worker.library, "gd_torch": gd_torch.__file__, **worker.meta(plan)})
    groups: dict[tuple, list[dict]] = {}
    for t in plan["tasks"]:
        cell = (t["n"], t["d"], t["dtype"]) if t["kind"] == "gradient" else ("train",)
        groups.setdefault((*cell, t["device"]), []).append(t)
    for key, tasks in groups.items():
        device = key[-1]
        memory = None if worker.device_memory is None else lambda fn, dev=device: worker.device_memory(dev, fn)
        prepare = worker.prepare_train if key[0] == "train" else worker.prepare_cell
        time_group(prepare(tasks, plan), plan, worker.sync(device), memory)
    emit({"kind": "end", "library": worker.library, "torch_loaded": "torch" in sys.modules})
    return 0
