"""Times the numpy rows: the floor, the registry's numpy methods, the per-coordinate loop, the
training runs through ``fit`` and the bare numpy loops.  Never imports torch.

Run as ``python -m gd_torch.bench.worker_numpy`` by the runner (plan on stdin, rows on stdout).
"""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from gd_torch import Loss, fit, gradient_function
from gd_torch.gradients import METHODS, analytic
from gd_torch.gradients.schemes import SCHEMES
from gd_torch.model.forward import loss_from_z, reduce, resolve

from .harness import ACTIVATION, ALPHA, EPOCHS, LOSS, Prepared, Worker, make_data, per_epoch, serve, train_data
from .plan import gradient_call


@dataclass(frozen=True)
class NumericCost:
    """How many evaluations of L a finite-difference row makes, for the budget's estimate."""

    evaluations: Callable[[int], int]
    complex: bool = False
    per_coordinate: bool = False  # one X @ W per perturbation instead of batched products


#: benchmark-only finite-difference rows: their cost model (the loop is central's, batch=1)
LOOPS: dict[str, NumericCost] = {
    "numeric:central/loop": NumericCost(SCHEMES["central"].evaluations, per_coordinate=True),
}


def numeric_cost(name: str) -> NumericCost | None:
    """The cost model of a finite-difference row (None for another row): a benchmark-only loop's,
    or the evaluations of L of a registry method's scheme, complex for an imaginary step."""
    m = METHODS.get(name)
    if m is not None and m.scheme is not None:
        return NumericCost(m.scheme.evaluations, complex=m.scheme.imaginary)
    return LOOPS.get(name)


#: rows that are a registry method with extra gradient_function options
OPTIONS: dict[str, tuple[str, dict]] = {"numeric:central/loop": ("numeric:central", {"batch": 1})}


def probes(dtype: str) -> dict:
    """Machine constants for the estimates: the loss's cost per entry (real, complex), the gemm rate."""
    from .timing import interleaved

    lo, act = resolve(LOSS, ACTIVATION)
    rng = np.random.default_rng(1)
    Z = rng.standard_normal((32768, 8)).astype(dtype)
    y = (rng.random(32768) < 0.5).astype(dtype)
    A, B = rng.standard_normal((2048, 256)).astype(dtype), rng.standard_normal((256, 64)).astype(dtype)
    t = interleaved(
        {"real": partial(loss_from_z, Z, y, lo, act), "cplx": partial(loss_from_z, Z + 1e-20j, y, lo, act), "gemm": partial(np.matmul, A, B)},
        0.02,
    )  # fmt: skip
    return {
        "elementwise_s": t["real"]["median_s"] / Z.size,
        "elementwise_complex_s": t["cplx"]["median_s"] / Z.size,
        "gemm_flops": 2 * A.shape[0] * A.shape[1] * B.shape[1] / t["gemm"]["median_s"],
    }


def estimate(cost: NumericCost, n: int, d: int, floor_s: float, p: dict) -> float:
    """Seconds one call should take: the products over X plus the loss on k N-vectors."""
    k = cost.evaluations(d)
    per_entry = p["elementwise_complex_s"] if cost.complex else p["elementwise_s"]
    reads = 2 if cost.complex else 1  # X (B.re + i B.im): two real products
    if cost.per_coordinate:
        products = k * (floor_s + 20e-6)
    else:
        products = max(floor_s, reads * 2 * n * d * k / p["gemm_flops"])
    return products + k * n * per_entry


def _floor(task: dict, X: np.ndarray, W: np.ndarray) -> Prepared:
    z = np.empty(X.shape[0], dtype=X.dtype)
    fns = {"X @ W": partial(np.matmul, X, W, out=z), "X.sum(axis=0)": partial(np.add.reduce, X, axis=0)}

    def finish(row: dict) -> dict:
        return row | {
            "matmul_s": row["ops_s"]["X @ W"],
            "bytes": X.nbytes,
            "bandwidth_GBps": X.nbytes / row["median_s"] / 1e9,
        }

    return Prepared(task, fns, finish=finish)


#: dL/dz := z: with the identity activation, analytic's plan runs its two products per row block
#: (z_b = X_b W, then X_b^T z_b) and nothing between them
_PASS_THROUGH = Loss(
    "pass-through", terms=lambda z, a, y: a, reduction="sum", dL_da=lambda a, y, n: a, dL_dz=lambda a, y, n: a,
    formula="(benchmark only)", dformula="dL/dz = z",
)  # fmt: skip


def _products(task: dict, X: np.ndarray, W: np.ndarray) -> Prepared:
    # what the blocked pass costs before any elementwise work: the bound for a numpy kernel of two
    # BLAS products per block, however its activation and dL/dz are written
    lo, act = resolve(_PASS_THROUGH, "identity")
    g = analytic.make(X, np.zeros(X.shape[0], dtype=X.dtype), lo, act)
    return Prepared(task, {task["method"]: partial(g, W)})


#: rows timed by a function of their own (the rest: a registry method through gradient_function)
SPECIAL: dict[str, Callable[[dict, np.ndarray, np.ndarray], Prepared]] = {
    "floor": _floor,
    "analytic/products": _products,
}
_PROBES: dict[str, dict] = {}


def _gradient(task: dict, X, y, W, floor_s: float, plan: dict) -> Prepared:
    name = task["method"]
    cost = numeric_cost(name)
    if cost is not None:
        if task["dtype"] not in _PROBES:  # measured once per dtype
            _PROBES[task["dtype"]] = probes(task["dtype"])
        p = _PROBES[task["dtype"]]
        est = estimate(cost, X.shape[0], X.shape[1], floor_s, p)
        if est > plan["budget_s"]:
            why = f"estimated {est:.3g} s per call ({cost.evaluations(X.shape[1])} evaluations of L over N x D) > budget {plan['budget_s']:g} s"
            return Prepared(task, skip=why, extra={"estimate_s": est})
    target, more = OPTIONS.get(name, (name, {}))
    method, options = gradient_call(target)
    g = gradient_function(X, y, method=method, loss=LOSS, activation=ACTIVATION, **options, **more)
    return Prepared(task, {name: partial(g, W)}, extra={} if cost is None else {"estimate_s": est})


def prepare_cell(tasks: list[dict], plan: dict) -> list[Prepared]:
    t0 = tasks[0]
    X, y, W = make_data(t0["n"], t0["d"], t0["dtype"], plan["seed"])
    z = np.empty(X.shape[0], dtype=X.dtype)
    floor_s = min(_once(partial(np.matmul, X, W, out=z)) for _ in range(3))  # for the estimates
    return [
        SPECIAL[t["method"]](t, X, W) if t["method"] in SPECIAL else _gradient(t, X, y, W, floor_s, plan) for t in tasks
    ]


def _once(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ---- training at the tutorial's size ----------------------------------------------------


def tutorial_loop(X: np.ndarray, y: np.ndarray, W0: np.ndarray) -> np.ndarray:
    """The tutorial's loop, bare: the loss recorded each epoch (as fit does) and
    W <- W - alpha X^T (a - y) / N, a = 1 / (1 + exp(-X W))."""
    W, n, history = W0.copy(), X.shape[0], []
    for k in range(EPOCHS + 1):
        a = 1.0 / (1.0 + np.exp(-(X @ W)))
        e = a - y
        history.append(float(e @ e))  # L = sum (a - y)^2
        if k < EPOCHS:
            W -= ALPHA * (X.T @ e) / n
    return W


def analytic_loop(X: np.ndarray, y: np.ndarray, W0: np.ndarray) -> np.ndarray:
    """The exact sse gradient's loop, bare: W <- W - alpha X^T [2 (a - y) a (1 - a)]."""
    W, history = W0.copy(), []
    for k in range(EPOCHS + 1):
        a = 1.0 / (1.0 + np.exp(-(X @ W)))
        e = a - y
        history.append(float(e @ e))
        if k < EPOCHS:
            W -= ALPHA * (X.T @ (2.0 * e * a * (1.0 - a)))  # dL/dz = dL/da * da/dz
    return W


def parts_loop(method: str, X: np.ndarray, y: np.ndarray, W0: np.ndarray) -> np.ndarray:
    """fit's own arithmetic for ``method`` (a formula in z: its ``from_z``) in a bare loop: the
    registry's f(z), the loss's terms and reduction, the loss recorded each epoch, no checks."""
    lo, act = resolve(LOSS, ACTIVATION)
    from_z, f, terms, XT = METHODS[method].from_z, act.f, lo.terms, X.T
    W, history = W0.copy(), np.empty(EPOCHS + 1)
    for k in range(EPOCHS + 1):
        z = X @ W
        a = f(z)
        history[k] = float(reduce(lo, terms(z, a, y)))
        if k < EPOCHS:
            W -= ALPHA * from_z(XT, z, a, y, lo, act)
    return W


def _plain_loop(g: Callable[[np.ndarray], np.ndarray], W0: np.ndarray) -> np.ndarray:
    W = W0.copy()
    for _ in range(EPOCHS):
        W -= ALPHA * g(W)
    return W


BARE = {
    "tutorial/bare-loop": tutorial_loop,
    "analytic/bare-loop": analytic_loop,
    "analytic/parts-loop": partial(parts_loop, "analytic"),
}


def _train(task: dict, X, y, W0, plan: dict) -> Prepared:
    name = task["method"]
    if name in BARE:
        return Prepared(
            task,
            {name: partial(np.errstate(over="ignore")(BARE[name]), X, y, W0)},
            extra={"driver": "bare numpy" if name.endswith("/bare-loop") else "fit's arithmetic, bare loop"},
            finish=per_epoch,
        )
    target, more = OPTIONS.get(name, (name, {}))
    method, options = gradient_call(target)
    if options or more:  # a row that fit cannot name: its gradient in a plain loop
        g = gradient_function(X, y, method=method, loss=LOSS, activation=ACTIVATION, **options, **more)
        return Prepared(task, {name: partial(_plain_loop, g, W0)}, extra={"driver": "loop"}, finish=per_epoch)
    fn = partial(
        fit, X, y, method=method, loss=LOSS, activation=ACTIVATION, alpha=ALPHA, epochs=EPOCHS, seed=plan["seed"]
    )
    return Prepared(task, {name: fn}, extra={"driver": "gd_torch.train.loop.fit"}, finish=per_epoch)  # fmt: skip


def prepare_train(tasks: list[dict], plan: dict) -> list[Prepared]:
    X, y, W0 = train_data(plan["seed"])
    return [_train(t, X, y, W0, plan) for t in tasks]


def meta(plan: dict) -> dict:
    import threadpoolctl

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "threadpools": threadpoolctl.threadpool_info(),
    }


WORKER = Worker("numpy", meta, prepare_cell, prepare_train)

if __name__ == "__main__":
    sys.exit(serve(WORKER))
