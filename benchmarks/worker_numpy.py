"""Times the numpy methods; run by run.py in a process of its own.  Never imports torch.

Reads the plan (JSON) on stdin, writes one JSON line per row on stdout.
"""

from __future__ import annotations

import math
import platform
import sys
import time
from functools import partial

import numpy as np
import threadpoolctl
from _harness import ACTIVATION, ALPHA, EPOCHS, LOSS, base_row, blocked_autorange, emit, make_data, read_plan, skip
from _harness import train_loop as loop

from gd_torch import fit, gradient_function, tutorial_data
from gd_torch.model import loss_from_z, resolve, sigmoid

#: numeric methods: gradient_function options
NUMERIC = {
    "central-batched": ("numeric:central", {}),
    "central-loop": ("numeric:central", {"batch": 1}),
    "complex": ("numeric:complex", {}),
}
_CHUNK_BYTES = 32 << 20  # as gd_torch.gradients.numeric


def probes(dtype: str) -> dict:
    """Machine constants for the cost estimates: elementwise loss cost per entry, real and complex; gemm rate."""
    lo, act = resolve(LOSS, ACTIVATION)
    rng = np.random.default_rng(1)
    Z = rng.standard_normal((32768, 8)).astype(dtype)
    y = (rng.random(32768) < 0.5).astype(dtype)
    Zc = Z + 1e-20j
    A = rng.standard_normal((2048, 256)).astype(dtype)
    B = rng.standard_normal((256, 64)).astype(dtype)
    real = blocked_autorange(lambda: loss_from_z(Z, y, lo, act), 0.05)["median_s"] / Z.size
    cplx = blocked_autorange(lambda: loss_from_z(Zc, y, lo, act), 0.05)["median_s"] / Z.size
    gemm = 2 * A.shape[0] * A.shape[1] * B.shape[1] / blocked_autorange(lambda: A @ B, 0.05)["median_s"]
    return {"elementwise_s": real, "elementwise_complex_s": cplx, "gemm_flops": gemm}


def estimate(method: str, n: int, d: int, itemsize: int, floor_s: float, p: dict) -> float:
    """Seconds one call of a numeric method should take: products over X plus the elementwise loss."""
    if method == "complex":
        k, per_row, c = d, 2 * n * itemsize, p["elementwise_complex_s"]
    else:
        k, per_row, c = 2 * d, n * itemsize, p["elementwise_s"]
    chunk = 1 if method == "central-loop" else max(1, _CHUNK_BYTES // per_row)
    chunk = min(chunk, k)
    products = math.ceil(k / chunk) * (2 if method == "complex" else 1)
    per_product = max(floor_s, 2 * n * d * chunk / p["gemm_flops"]) + 20e-6
    return products * per_product + k * n * c


def floor_row(task: dict, X: np.ndarray, W: np.ndarray, min_run_time: float) -> dict:
    z = np.empty(X.shape[0], dtype=X.dtype)
    mm = blocked_autorange(lambda: np.matmul(X, W, out=z), min_run_time)
    red = blocked_autorange(lambda: np.add.reduce(X, axis=0), min_run_time)
    best = mm if mm["median_s"] <= red["median_s"] else red
    return {
        **base_row(task),
        "status": "ok",
        **best,
        "floor_op": "X @ W" if best is mm else "X.sum(axis=0)",
        "matmul_s": mm["median_s"],
        "reduce_s": red["median_s"],
        "bytes": X.nbytes,
        "bandwidth_GBps": X.nbytes / best["median_s"] / 1e9,
    }


def gradient_rows(cell: list[dict], plan: dict, p: dict) -> None:
    t0 = cell[0]
    n, d, dtype = t0["n"], t0["d"], t0["dtype"]
    X, y, W = make_data(n, d, dtype, plan["seed"])
    floor_s = None
    for task in cell:
        t_start = time.perf_counter()
        if task["method"] == "floor":
            row = floor_row(task, X, W, plan["min_run_time"])
            floor_s = row["median_s"]
        else:
            est = None
            if task["method"] in NUMERIC:
                est = estimate(task["method"], n, d, X.itemsize, floor_s or 0.0, p)
                if est > plan["budget_s"]:
                    emit(
                        skip(
                            task,
                            f"estimated {est:.3g} s per call ({'2D' if task['method'] != 'complex' else 'D'} "
                            f"evaluations of L, each over N x D) > budget {plan['budget_s']:g} s",
                        )
                        | {"estimate_s": est}
                    )
                    continue
            method, options = NUMERIC.get(task["method"], (task["method"], {}))
            g = gradient_function(X, y, method=method, loss=LOSS, activation=ACTIVATION, **options)
            row = {**base_row(task), "status": "ok", **blocked_autorange(lambda g=g: g(W), plan["min_run_time"])}
            if est is not None:
                row["estimate_s"] = est
        row["wall_s"] = time.perf_counter() - t_start
        emit(row)


def bare_numpy_loop(X: np.ndarray, y: np.ndarray, W0: np.ndarray, epochs: int, alpha: float) -> np.ndarray:
    # the tutorial's loop without its print: the loss it records each epoch (as fit does)
    # and its update W <- W - alpha X^T (sigmoid(X W) - y) / N
    W = W0.copy()
    n = X.shape[0]
    history = []
    for _ in range(epochs):
        error = sigmoid(X @ W) - y
        history.append(np.sum(error**2))
        W -= alpha * (X.T @ error) / n
    return W


def train_rows(tasks: list[dict], plan: dict) -> None:
    X, y = tutorial_data()
    W0 = np.random.default_rng(plan["seed"]).uniform(size=X.shape[1])
    for task in tasks:
        t_start = time.perf_counter()
        m = task["method"]
        driver = "loop"
        if m == "numpy-loop":
            fn = lambda: bare_numpy_loop(X, y, W0, EPOCHS, ALPHA)  # noqa: E731
            driver = "bare numpy"
        elif m in ("analytic", "central-batched"):
            method = "numeric" if m == "central-batched" else m
            fn = partial(fit, X, y, method=method, loss=LOSS, activation=ACTIVATION, alpha=ALPHA, epochs=EPOCHS, seed=0)
            driver = "gd_torch.train.fit"
        else:
            method, options = NUMERIC.get(m, (m, {}))
            g = gradient_function(X, y, method=method, loss=LOSS, activation=ACTIVATION, **options)
            fn = lambda g=g: loop(g, W0, EPOCHS, ALPHA)  # noqa: E731
        r = blocked_autorange(fn, plan["min_run_time"])
        row = {**base_row(task), "status": "ok", **r, "epochs": EPOCHS, "driver": driver}
        row["us_per_epoch"] = r["median_s"] / EPOCHS * 1e6
        row["wall_s"] = time.perf_counter() - t_start
        emit(row)


def machine() -> dict:
    info = threadpoolctl.threadpool_info()
    return {
        "kind": "meta",
        "library": "numpy",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "threadpools": info,
    }


def main() -> int:
    plan = read_plan()
    threadpoolctl.threadpool_limits(plan["threads"])
    emit(machine())
    tasks = plan["tasks"]
    p = probes("float64")
    probe_by_dtype = {"float64": p, "float32": probes("float32")}
    cells: dict[tuple, list[dict]] = {}
    for t in tasks:
        if t["kind"] == "gradient":
            cells.setdefault((t["n"], t["d"], t["dtype"]), []).append(t)
    for key, cell in cells.items():
        cell.sort(key=lambda t: t["method"] != "floor")  # the floor first: the estimates use it
        gradient_rows(cell, plan, probe_by_dtype[key[2]])
    train = [t for t in tasks if t["kind"] == "train"]
    if train:
        train_rows(train, plan)
    emit({"kind": "end", "library": "numpy", "torch_loaded": "torch" in sys.modules, "probes": p})
    return 0


if __name__ == "__main__":
    sys.exit(main())
