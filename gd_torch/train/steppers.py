"""One epoch of gradient descent, full batch or mini-batch, for :func:`gd_torch.train.loop.run_loop`.

A stepper knows the data.  ``loss(W)`` is L at W on all the data; ``step(W, alpha)`` runs
one epoch from W, updating it in place.  A method that is a formula in z = X W (its
``from_z``) reuses the z and a = f(z) of the loss just evaluated: one pass over X per
full-batch step instead of two.  Both run under run_loop's ``np.errstate(all="ignore")``
(set once per run, not per call): an overflow is a divergence, which the loop reports.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from .._errors import GdTorchError
from ..base import validate as _validate
from ..gradients import GradFn
from ..model.forward import reduce
from .fit_args import FitArgs


class Stepper(Protocol):
    """What run_loop calls each epoch, under ``np.errstate(all="ignore")``: loss(W), then
    step on a copy of that W."""

    def loss(self, W: np.ndarray) -> float: ...

    def step(self, W: np.ndarray, alpha: float) -> None: ...


class FullBatch:
    """W <- W - alpha dL/dW(W) on all the data, once per epoch."""

    def __init__(self, a: FitArgs) -> None:
        self.a = a
        self.X, self.XT, self.y = a.X, a.X.T, a.y
        self.z = np.empty(a.X.shape[0], dtype=a.X.dtype)
        self.fz = self.z  # a = f(z) of the last loss(W)
        self.checked = False
        self.g = None if a.method.from_z is not None else _gradient_function(a, a.X, a.y)

    def loss(self, W: np.ndarray) -> float:
        a, z = self.a, self.z
        np.matmul(self.X, W, out=z)  # z = X W
        if not self.checked:  # a NaN or inf in X shows in z at the (finite) initial weights
            _validate.finite_z(z)
            self.checked = True
        elif not math.isfinite(np.add.reduce(z)) and not np.isfinite(z).all():  # z.sum(), without its wrappers
            return math.nan  # X was finite: W has blown up (z = X W overflows); the loop says diverged
        self.fz = fz = a.act.f(z)  # a = f(z)
        return float(reduce(a.lo, a.lo.terms(z, fz, self.y)))

    def step(self, W: np.ndarray, alpha: float) -> None:
        # the run loop calls loss(W) before step on a copy of the same W
        a = self.a
        if self.g is None:
            g = a.method.from_z(self.XT, self.z, self.fz, self.y, a.lo, a.act)
        else:
            g = _guarded(self.g, W, self.X)
        W -= alpha * g


class MiniBatch(FullBatch):
    """One pass over a reshuffled copy of the data per epoch, one step per batch of b rows."""

    def __init__(self, a: FitArgs) -> None:
        super().__init__(a)
        self.rng = np.random.default_rng(np.random.SeedSequence(a.seed, spawn_key=(1,)))
        self.order = np.arange(a.X.shape[0])
        self.Xs, self.ys = np.empty_like(a.X), np.empty_like(a.y)
        self.batch = None if a.method.from_z is not None else _batch_gradient(a)

    def step(self, W: np.ndarray, alpha: float) -> None:
        a, b = self.a, self.a.batch_size
        self.rng.shuffle(self.order)
        np.take(a.X, self.order, axis=0, out=self.Xs)
        np.take(a.y, self.order, out=self.ys)
        for s in range(0, a.X.shape[0], b):
            Xb, yb = self.Xs[s : s + b], self.ys[s : s + b]
            if self.batch is None:
                zb = Xb @ W
                W -= alpha * a.method.from_z(Xb.T, zb, a.act.f(zb), yb, a.lo, a.act)
            else:
                W -= alpha * _guarded(lambda V, Xb=Xb, yb=yb: self.batch(V, Xb, yb), W, Xb)


def make_stepper(a: FitArgs) -> Stepper:
    """The stepper for fit's arguments: full batch or mini-batch."""
    return FullBatch(a) if a.batch_size is None else MiniBatch(a)


def _gradient_function(a: FitArgs, X: np.ndarray, y: np.ndarray) -> GradFn:
    return a.method.function(X, y, a.lo, a.act, **a.method.bind(a.device, {}))


def _batch_gradient(a: FitArgs):
    # the method's one-shot gradient on a batch's rows (already validated as part of X and y)
    kw = a.method.bind(a.device, {})
    return lambda W, Xb, yb: a.method.grad(W, Xb, yb, a.lo, a.act, **kw)


def _guarded(g, W: np.ndarray, X: np.ndarray) -> np.ndarray:
    # a method's own check refused z = X W: X was finite at epoch 0, so if W or X W is not
    # finite now, W blew up (the loop reports the divergence); anything else is re-raised
    try:
        return g(W)
    except GdTorchError:
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(W).all() and np.isfinite(X @ W).all():
                raise
        return np.full_like(W, np.nan)
