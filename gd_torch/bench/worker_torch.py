"""Times the torch rows in eager mode: autograd (gd_torch's ``grad_tensor``, torch's own
autograd), the hand-derived formula in plain torch ops, the floor on CUDA; and the training
runs: ``fit(method="autograd")``, a plain torch autograd loop, the formula's loop.

Run as ``python -m gd_torch.bench.worker_torch`` by the runner (plan on stdin, rows on stdout).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from functools import partial

import torch

from gd_torch import fit
from gd_torch.base import validate as _validate
from gd_torch.gradients import autograd
from gd_torch.model.forward import resolve

from . import _torch
from .harness import ACTIVATION, ALPHA, EPOCHS, LOSS, Prepared, Worker, per_epoch, serve, train_data


def formula(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """X^T [2 (a - y) a (1 - a)], a = sigmoid(X W): the hand-derived gradient in torch, no autograd."""
    with torch.no_grad():
        z = X @ W
        if not math.isfinite(z.sum().item()):  # one sum, as autograd's check of z
            _validate.finite_z(z)
        a = torch.sigmoid(z)
        return X.T @ (2 * (a - y) * a * (1 - a))  # dL/dz = dL/da * da/dz


def _floor(task: dict, X: torch.Tensor, W: torch.Tensor) -> Prepared:
    z = torch.empty(X.shape[0], dtype=X.dtype, device=X.device)
    nbytes = X.numel() * X.element_size()
    fns = {"X @ W": partial(torch.matmul, X, W, out=z), "X.sum(dim=0)": partial(X.sum, dim=0)}

    def finish(row: dict) -> dict:
        return row | {
            "matmul_s": row["ops_s"]["X @ W"],
            "bytes": nbytes,
            "bandwidth_GBps": nbytes / row["median_s"] / 1e9,
        }

    return Prepared(task, fns, finish=finish)


#: gradient rows: name -> g() on tensors (W, X, y) already on the device
GRADIENTS: dict[str, Callable[..., Callable[[], torch.Tensor]]] = {
    "autograd": lambda W, X, y: partial(autograd.grad_tensor, W, X, y, *resolve(LOSS, ACTIVATION)),
    "formula-torch": lambda W, X, y: partial(formula, W, X, y),
}


def _cell(task: dict, W: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> Prepared:
    # one task of a cell, on tensors already on its device
    if task["method"] == "floor":
        return _floor(task, X, W)
    return Prepared(task, {task["method"]: GRADIENTS[task["method"]](W, X, y)})


def prepare_cell(tasks: list[dict], plan: dict) -> list[Prepared]:
    return _torch.prepare_cell(tasks, plan, _cell)


def autograd_loop(X: torch.Tensor, y: torch.Tensor, W0: torch.Tensor) -> torch.Tensor:
    """A plain torch autograd loop: the loss recorded each epoch (as fit does), L.backward(),
    W <- W - alpha W.grad."""
    W = W0.clone().requires_grad_(True)
    history = []
    for k in range(EPOCHS + 1):
        L = _torch.loss(W, X, y)
        history.append(L.item())
        if k < EPOCHS:
            L.backward()
            with torch.no_grad():
                W -= ALPHA * W.grad
            W.grad = None
    return W


def formula_loop(X: torch.Tensor, y: torch.Tensor, W0: torch.Tensor) -> torch.Tensor:
    """The hand-derived formula's loop on tensors: W <- W - alpha X^T [2 (a - y) a (1 - a)]."""
    W = W0.clone()
    for _ in range(EPOCHS):
        W -= ALPHA * formula(W, X, y)
    return W


def _fit(task: dict, X, y, W0, plan: dict) -> Prepared:
    # the registry method through gd_torch's training loop, on the task's device
    fn = partial(
        fit,
        X,
        y,
        method=task["method"],
        loss=LOSS,
        activation=ACTIVATION,
        alpha=ALPHA,
        epochs=EPOCHS,
        seed=plan["seed"],
        device=task["device"],
    )
    return Prepared(task, {task["method"]: fn}, extra={"driver": "gd_torch.train.loop.fit"}, finish=per_epoch)  # fmt: skip


def _loop(loop: Callable[..., torch.Tensor], driver: str) -> Callable[..., Prepared]:
    # a loop over tensors copied to the task's device once
    def build(task: dict, X, y, W0, plan: dict) -> Prepared:
        fn = partial(loop, *_torch.tensors(task["device"], X, y, W0))
        return Prepared(task, {task["method"]: fn}, extra={"driver": driver}, finish=per_epoch)

    return build


#: training rows: name -> how to make the timed function
TRAIN = {
    "autograd": _fit,
    "autograd/bare-loop": _loop(autograd_loop, "plain torch autograd loop"),
    "formula-torch": _loop(formula_loop, "torch loop"),
}


def prepare_train(tasks: list[dict], plan: dict) -> list[Prepared]:
    X, y, W0 = train_data(plan["seed"])
    return [TRAIN[t["method"]](t, X, y, W0, plan) for t in tasks]


WORKER = Worker("torch", _torch.meta, prepare_cell, prepare_train, _torch.sync, _torch.device_memory)

if __name__ == "__main__":
    sys.exit(serve(WORKER))
