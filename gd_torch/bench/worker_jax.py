"""Times JAX: ``jax.jit(jax.grad(loss))`` over the grid (compile time apart, the result waited
for with ``block_until_ready``) and a jitted training step in a loop.  JAX is the optional
extra ``gd-torch[jax]``; the runner starts this worker only where it is installed.

Run as ``python -m gd_torch.bench.worker_jax`` by the runner (plan on stdin, rows on stdout).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from functools import partial

import numpy as np

from .harness import ALPHA, EPOCHS, Prepared, Worker, make_data, per_epoch, serve, train_data


def meta(plan: dict) -> dict:
    """JAX's version and devices.  XLA sizes its CPU thread pool from the cores this process may
    use, so --threads is applied as the process's CPU affinity, before JAX starts."""
    allowed = sorted(os.sched_getaffinity(0))
    if plan["threads"] < len(allowed):
        os.sched_setaffinity(0, allowed[: plan["threads"]])
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 rows stay float64
    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jax_devices": [str(d) for d in jax.devices()],
        "cpu_affinity": len(os.sched_getaffinity(0)),
    }


def loss(W, X, y):
    """The benchmark's problem in jax.numpy: L = sum (sigmoid(X W) - y)^2."""
    import jax

    e = jax.nn.sigmoid(X @ W) - y
    return (e * e).sum()


def _device(name: str):
    # jax's device for 'cpu' or 'cuda'; a RuntimeError when JAX has no such backend
    import jax

    return jax.devices("cpu" if name == "cpu" else "gpu")[0]


def _ready(fn, *args):
    return fn(*args).block_until_ready()


def _first(fn, *args) -> float:
    t0 = time.perf_counter()
    _ready(fn, *args)
    return time.perf_counter() - t0


def _placed(task: dict, *arrays: np.ndarray):
    # the arrays on the task's device, or the reason there is none
    try:
        dev = _device(task["device"])
    except RuntimeError as exc:
        return None, f"JAX has no {task['device']} device here: {str(exc).splitlines()[0][:160]}"
    import jax

    return [jax.device_put(a, dev) for a in arrays], None


def _each_placed(tasks: list[dict], arrays: tuple[np.ndarray, ...], build) -> list[Prepared]:
    # build(task, arrays on its device) for each task, or the task skipped where JAX has no such device
    out = []
    for t in tasks:
        placed, why = _placed(t, *arrays)
        out.append(Prepared(t, skip=why) if why is not None else build(t, *placed))
    return out


def _cell(task: dict, W, X, y) -> Prepared:
    import jax

    g = jax.jit(jax.grad(loss))  # a fresh jit: the first call below compiles for this cell
    compile_s = _first(g, W, X, y)
    return Prepared(task, {task["method"]: partial(_ready, g, W, X, y)}, extra={"compile_s": compile_s})


def prepare_cell(tasks: list[dict], plan: dict) -> list[Prepared]:
    t0 = tasks[0]
    X, y, W = make_data(t0["n"], t0["d"], t0["dtype"], plan["seed"])
    return _each_placed(tasks, (W, X, y), _cell)


def _train_loop(step, W0):
    # W <- step(W) = W - alpha dL/dW, EPOCHS times; the last W waited for
    W = W0
    for _ in range(EPOCHS):
        W = step(W)
    return W.block_until_ready()


def _train(task: dict, X, y, W0) -> Prepared:
    import jax

    step = jax.jit(lambda W: W - ALPHA * jax.grad(loss)(W, X, y))
    compile_s = _first(step, W0)
    extra = {"compile_s": compile_s, "driver": "jitted step, python loop"}
    return Prepared(task, {task["method"]: partial(_train_loop, step, W0)}, extra=extra, finish=per_epoch)


def prepare_train(tasks: list[dict], plan: dict) -> list[Prepared]:
    return _each_placed(tasks, train_data(plan["seed"]), _train)


WORKER = Worker("jax", meta, prepare_cell, prepare_train)

if __name__ == "__main__":
    sys.exit(serve(WORKER))
