"""What both workers share: timing statistics, data, the problem and the training loop.

Imports numpy and gd_torch's numpy parts only: the numpy worker must never load torch.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable

import numpy as np

#: the problem every row times: the tutorial's pair
LOSS, ACTIVATION = "sse", "sigmoid"
#: the tutorial's learning rate and epoch count
ALPHA, EPOCHS = 0.01, 100
#: one timed block lasts at least this long (many calls per block when they are short)
BLOCK_S = 0.01


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


def blocked_autorange(fn: Callable[[], object], min_run_time: float, min_blocks: int = 5) -> dict:
    """Time ``fn()`` the way torch.utils.benchmark's Timer.blocked_autorange does.

    One warm-up call (also the estimate of its cost), then blocks of ``number`` calls
    (``number`` chosen so that a block lasts >= BLOCK_S) until ``min_run_time`` has passed
    and at least ``min_blocks`` blocks are in; per-call time = block time / number.
    """
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    number = max(1, math.ceil(BLOCK_S / max(first, 1e-9)))
    # a second estimate with the chosen block size, since the first call pays cold caches
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    est = (time.perf_counter() - t0) / number
    number = max(1, math.ceil(BLOCK_S / max(est, 1e-9)))
    per_call: list[float] = []
    start = time.perf_counter()
    while len(per_call) < min_blocks or time.perf_counter() - start < min_run_time:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        per_call.append((time.perf_counter() - t0) / number)
    return stats(per_call, number)


def make_data(n: int, d: int, dtype: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X uniform with unit-variance columns scaled so that z = X W is O(1); labels 0/1; W normal.

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


def emit(row: dict) -> None:
    """One result row as a JSON line on stdout (the runner reads it as it comes).

    Rows carry the 1-minute load average when they finish: on a shared machine other
    processes' load is what most often explains a slow or spread-out row.
    """
    if row.get("kind") in ("gradient", "train"):
        row["loadavg_1m"] = os.getloadavg()[0]
    sys.stdout.write(json.dumps(row) + "\n")
    sys.stdout.flush()


def base_row(task: dict) -> dict:
    keys = ("kind", "method", "library", "device", "n", "d", "dtype")
    return {k: task[k] for k in keys if k in task}


def skip(task: dict, reason: str) -> dict:
    return {**base_row(task), "status": "skipped", "reason": reason}


def memory_available() -> int:
    """MemAvailable from /proc/meminfo, in bytes (0 when unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def read_plan() -> dict:
    plan = json.load(sys.stdin)
    os.environ.setdefault("GD_TORCH_BENCH", "1")
    return plan


def train_loop(g: Callable[[np.ndarray], np.ndarray], W0: np.ndarray, epochs: int, alpha: float) -> np.ndarray:
    """Plain gradient descent W <- W - alpha dL/dW, ``epochs`` steps (no loss history)."""
    W = W0.copy()
    for _ in range(epochs):
        W -= alpha * g(W)
    return W
