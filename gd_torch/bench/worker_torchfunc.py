"""Times ``torch.func.grad`` of the loss, eager: over the grid and in a training loop.

Run as ``python -m gd_torch.bench.worker_torchfunc`` by the runner (plan on stdin, rows on
stdout); ``worker_torchcompile`` times the same functions under ``torch.compile``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial

import torch

from . import _torch
from .harness import ALPHA, EPOCHS, Prepared, Worker, per_epoch, serve, train_data

Grad = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def eager() -> Grad:
    """dL/dW = torch.func.grad(L)(W, X, y)."""
    return torch.func.grad(_torch.loss)


def first_call(g: Grad, W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, device: str) -> float:
    """Seconds of the first call (tracing and compiling included), the device waited for."""
    t0 = time.perf_counter()
    g(W, X, y)
    _torch.sync(device)()
    return time.perf_counter() - t0


def loop(g: Grad, X: torch.Tensor, y: torch.Tensor, W0: torch.Tensor) -> torch.Tensor:
    """W <- W - alpha g(W), EPOCHS times."""
    W = W0.clone()
    for _ in range(EPOCHS):
        W = W - ALPHA * g(W, X, y)
    return W


def _reason(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200] if lines else ''}"


def _prepared(task: dict, W, X, y, *, make: Callable[[], Grad], compiles: bool, train: bool) -> Prepared:
    # one cell (or the training run) of one device: the gradient function, compiled first if it compiles
    g, extra = make(), {}
    if compiles:
        try:
            extra["compile_s"] = first_call(g, W, X, y, task["device"])
        except Exception as exc:  # noqa: BLE001 - a compiler missing or failing: a reason to skip, not a crash
            return Prepared(task, skip=f"torch.compile failed: {_reason(exc)}")
    if train:
        fn = partial(loop, g, X, y, W)
        return Prepared(task, {task["method"]: fn}, extra=extra | {"driver": "python loop"}, finish=per_epoch)
    return Prepared(task, {task["method"]: partial(g, W, X, y)}, extra=extra)


def worker(library: str, make: Callable[[], Grad], compiles: bool = False) -> Worker:
    """The worker timing the gradient function ``make()`` builds afresh for each cell (with
    ``compiles``, its first call is timed apart as the compile time)."""

    def prepare_cell(tasks: list[dict], plan: dict) -> list[Prepared]:
        return _torch.prepare_cell(tasks, plan, partial(_prepared, make=make, compiles=compiles, train=False))

    def prepare_train(tasks: list[dict], plan: dict) -> list[Prepared]:
        X, y, W0 = train_data(plan["seed"])
        out = []
        for t in tasks:
            Xt, yt, Wt = _torch.tensors(t["device"], X, y, W0)
            out.append(_prepared(t, Wt, Xt, yt, make=make, compiles=compiles, train=True))
        return out

    return Worker(library, _torch.meta, prepare_cell, prepare_train, _torch.sync, _torch.device_memory)


if __name__ == "__main__":
    sys.exit(serve(worker("torch.func", eager)))
