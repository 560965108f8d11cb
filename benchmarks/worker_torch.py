"""Times the torch methods (CPU and CUDA); run by run.py in a process of its own.

Built on torch.utils.benchmark.Timer.blocked_autorange, whose timer synchronises the
accelerator before reading the clock.  Reads the plan (JSON) on stdin, writes one JSON
line per row on stdout.
"""

from __future__ import annotations

import platform
import sys
import time
from functools import partial

import numpy as np
import torch
from _harness import ACTIVATION, ALPHA, EPOCHS, LOSS, base_row, emit, make_data, read_plan, skip, stats
from torch.utils.benchmark import Timer

from gd_torch import _validate, fit, tutorial_data
from gd_torch.gradients import autograd
from gd_torch.model import resolve


def measure(fn, min_run_time: float, min_blocks: int = 5) -> dict:
    """torch's blocked_autorange, topped up to ``min_blocks`` blocks for calls longer than a block."""
    timer = Timer(stmt="fn()", globals={"fn": fn})
    m = timer.blocked_autorange(min_run_time=min_run_time)
    times = list(m.times)
    while len(times) < min_blocks:
        times.extend(timer.timeit(m.number_per_run).times)
    return stats(times, m.number_per_run)


def formula(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The hand-derived gradient in torch, no autograd: X^T [2 (a - y) a (1 - a)], a = sigmoid(X W).

    Same products (same kernels) as the autograd method, so that the difference is autograd's own cost.
    """
    with torch.no_grad():
        z = X @ W
        _validate.finite_z(z)
        a = torch.sigmoid(z)
        return X.T @ (2 * (a - y) * a * (1 - a))  # dL/dz = dL/da * da/dz


def cuda_needs(n: int, d: int, itemsize: int) -> int:
    # X and y on the device plus a few N-vectors of intermediates (z, a, dL/dz, grads)
    return (n * d + 8 * n) * itemsize


def gradient_rows(cell: list[dict], plan: dict) -> None:
    t0 = cell[0]
    n, d, dtype = t0["n"], t0["d"], t0["dtype"]
    X, y, W = make_data(n, d, dtype, plan["seed"])
    lo, act = resolve(LOSS, ACTIVATION)
    on: dict[torch.device, tuple] = {}  # X, y, W on each device, copied once per cell
    for task in cell:
        t_start = time.perf_counter()
        dev = torch.device(task["device"])
        if dev.type == "cuda" and dev not in on:
            free, _ = torch.cuda.mem_get_info(dev)
            need = cuda_needs(n, d, X.itemsize)
            if need > 0.9 * free:
                name = torch.cuda.get_device_name(dev)
                emit(skip(task, f"needs {need / 2**30:.2f} GiB on {name}, {free / 2**30:.2f} GiB free"))
                continue
        try:
            row = _gradient_row(task, on, dev, X, y, W, lo, act, plan)
        except torch.cuda.OutOfMemoryError as exc:  # the estimate above was too low: say so, go on
            on.pop(dev, None)
            torch.cuda.empty_cache()
            emit(skip(task, f"out of GPU memory: {str(exc).splitlines()[0]}"))
            continue
        row["wall_s"] = time.perf_counter() - t_start
        emit(row)
    on.clear()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _gradient_row(task, on, dev, X, y, W, lo, act, plan) -> dict:
    # one row: X, y, W copied to the device once per cell, then the method timed there
    n = X.shape[0]
    if dev not in on:
        on[dev] = tuple(torch.from_numpy(a).to(dev) for a in (X, y, W))
    Xt, yt, Wt = on[dev]
    m = task["method"]
    if m == "floor":
        z = torch.empty(n, dtype=Xt.dtype, device=dev)
        mm = measure(partial(torch.matmul, Xt, Wt, out=z), plan["min_run_time"])
        red = measure(partial(Xt.sum, dim=0), plan["min_run_time"])
        best = mm if mm["median_s"] <= red["median_s"] else red
        row = {
            **base_row(task),
            "status": "ok",
            **best,
            "floor_op": "X @ W" if best is mm else "X.sum(dim=0)",
            "matmul_s": mm["median_s"],
            "reduce_s": red["median_s"],
            "bytes": X.nbytes,
            "bandwidth_GBps": X.nbytes / best["median_s"] / 1e9,
        }
    elif m == "autograd":
        row = {
            **base_row(task),
            "status": "ok",
            **measure(partial(autograd.grad_tensor, Wt, Xt, yt, lo, act), plan["min_run_time"]),
        }
    else:
        row = {**base_row(task), "status": "ok", **measure(partial(formula, Wt, Xt, yt), plan["min_run_time"])}
    return row


def train_rows(tasks: list[dict], plan: dict) -> None:
    X, y = tutorial_data()
    W0 = np.random.default_rng(plan["seed"]).uniform(size=X.shape[1])
    for task in tasks:
        t_start = time.perf_counter()
        dev = torch.device(task["device"])
        if task["method"] == "autograd":
            fn = partial(
                fit,
                X,
                y,
                method="autograd",
                loss=LOSS,
                activation=ACTIVATION,
                alpha=ALPHA,
                epochs=EPOCHS,
                seed=0,
                device=str(dev),
            )
            driver = "gd_torch.train.fit"
        else:  # formula-torch: the whole loop on tensors, on the device
            Xt, yt, Wt0 = (torch.from_numpy(a).to(dev) for a in (X, y, W0))

            def fn(Xt=Xt, yt=yt, Wt0=Wt0):
                W = Wt0.clone()
                for _ in range(EPOCHS):
                    W -= ALPHA * formula(W, Xt, yt)
                return W

            driver = "torch loop"
        r = measure(fn, plan["min_run_time"])
        row = {**base_row(task), "status": "ok", **r, "epochs": EPOCHS, "driver": driver}
        row["us_per_epoch"] = r["median_s"] / EPOCHS * 1e6
        row["wall_s"] = time.perf_counter() - t_start
        emit(row)


def machine() -> dict:
    info = {
        "kind": "meta",
        "library": "torch",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_parallel": torch.__config__.parallel_info().strip().splitlines(),
        "torch_mkl": torch.backends.mkl.is_available(),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        clock, bus = getattr(p, "memory_clock_rate", 0), getattr(p, "memory_bus_width", 0)
        info["gpu"] = {
            "name": p.name,
            "memory_GiB": p.total_memory / 2**30,
            "sms": p.multi_processor_count,
            # DDR/HBM: two transfers per clock; clock in kHz, bus in bits
            "peak_bandwidth_GBps": 2 * clock * 1e3 * bus / 8 / 1e9 if clock and bus else None,
            "cuda": torch.version.cuda,
        }
    return info


def main() -> int:
    plan = read_plan()
    torch.set_num_threads(plan["threads"])
    emit(machine())
    cells: dict[tuple, list[dict]] = {}
    for t in plan["tasks"]:
        if t["kind"] == "gradient":
            cells.setdefault((t["n"], t["d"], t["dtype"]), []).append(t)
    for cell in cells.values():
        cell.sort(key=lambda t: (t["device"], t["method"] != "floor"))
        gradient_rows(cell, plan)
    train = [t for t in plan["tasks"] if t["kind"] == "train"]
    if train:
        train_rows(train, plan)
    emit({"kind": "end", "library": "torch"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
