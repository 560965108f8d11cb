"""Gradient descent on K ranks (or on one, out of core): a Stepper for gd_torch.train.loop.run_loop.

Every rank holds the same W and applies the same update, W <- W - alpha dL/dW with the
all-reduced gradient, so the weights stay identical on all ranks (checked by
:meth:`Stepper.assert_identical`: a rank that drifts is an error).  The epochs, the stop rules
and divergence detection are gd_torch.train.loop.run_loop's own, on the all-reduced loss, so every
rank decides alike.

Full batch: one step per epoch, the gradient of the whole data; for a method with ``from_z``
(analytic, tutorial) the loss of W and its gradient come from one pass over the rows.
Mini-batch: each epoch reshuffles one global permutation of the N rows, drawn exactly as
gd_torch.fit draws it (numpy's Generator on SeedSequence(seed, spawn_key=(1,))), so that K
ranks follow one process's trajectory; each step's batch is the next b indices of it, each
rank summing over those of its own rows.  The permutation is the one O(N) allocation: 8 bytes
per row on every rank.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._errors import GdTorchError, bad_value
from ..base import validate as _validate
from ..gradients import Method
from ..model.activations import Activation
from ..model.losses import Loss
from ..train.fit_args import FitArgs
from ..train.loop import StopReason, run_loop
from . import ops
from .comm import RankFailure


class Stepper:
    """Steps of gradient descent on this rank's Part (``loss(W)``, ``step(W, alpha)``: the
    protocol of gd_torch.train.steppers); every rank must build one alike."""

    def __init__(
        self,
        p: ops.Part,
        lo: Loss,
        act: Activation,
        method: Method,
        exact: ops.Exact | None,
        batch_size: int | None = None,
        seed: int | None = None,
    ) -> None:
        """``exact``: the method split over row blocks (ops.exact), None for a finite difference."""
        self.p, self.lo, self.act, self.method, self.exact = p, lo, act, method, exact
        self.scheme = ops.SCHEMES.get(method.name)  # the finite difference's scheme, or None
        self.batch_size = batch_size
        self.epoch = 0
        self._checked = False
        self._cached: np.ndarray | None = None
        if batch_size is not None:
            if seed is None and p.comm.world > 1:
                raise GdTorchError("seed must be an integer for mini-batches on several ranks; got None", param="seed")
            self._rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
            self._order = np.arange(p.n)

    def loss(self, W: np.ndarray) -> float:
        """L(W) on all the data, the same float on every rank (NaN or inf when training diverged)."""
        self.p.comm.context = f"epoch {self.epoch + 1}"
        if not self._checked:  # a NaN or inf in X, named by its row, before it reads as a divergence
            ops.objective(self.p, W, self.lo, self.act)
            self._checked = True
        if self.batch_size is None and self.exact is not None and self.method.from_z is not None:
            L, g = ops.loss_and_gradient(self.p, W, self.lo, self.act, self.exact)
            self._cached = g
            return L
        return float(ops.loss_values(self.p, W[None, :], self.lo, self.act)[0])

    def step(self, W: np.ndarray, alpha: float) -> None:
        """One epoch: W <- W - alpha dL/dW, once (full batch) or once per mini-batch; in place.

        Called after ``loss(W)`` on the same W (as run_loop does), a full-batch step takes the
        gradient that pass computed.
        """
        self.epoch += 1
        comm = self.p.comm
        if self.batch_size is None:
            comm.context = f"epoch {self.epoch}"
            W -= alpha * self._gradient(W)
            return
        n, b = self.p.n, self.batch_size
        self._rng.shuffle(self._order)
        for k, s in enumerate(range(0, n, b)):
            comm.context = f"epoch {self.epoch}, step {k + 1}"
            batch = self._order[s : s + b]
            mine = np.sort(batch[(batch >= self.p.start) & (batch < self.p.stop)])
            W -= alpha * self._gradient(W, mine, batch.shape[0])

    def _gradient(self, W: np.ndarray, rows: np.ndarray | None = None, n: int | None = None) -> np.ndarray:
        # the gradient the loss pass of this W computed, when this step follows it: used without
        # looking at W, since a rank that looked and recomputed alone would leave the others
        # waiting in another collective (a drifted W is caught by assert_identical instead)
        cached, self._cached = self._cached, None
        if rows is None and cached is not None:
            return cached
        if self.exact is not None:
            return ops.exact_gradient(self.p, W, self.lo, self.act, self.exact, rows, n)
        h = ops.numeric_steps(self.p, W, self.act, self.scheme, rows=rows, n=n)
        return ops.numeric_gradient(self.p, W, self.lo, self.act, h, self.scheme, rows=rows, n=n).grad

    def assert_identical(self, W: np.ndarray) -> None:
        """Raise on every rank unless W is bit for bit the same on all ranks."""
        every = self.p.comm.all_gather(W, "the final weights")
        drifted = [r for r in range(every.shape[0]) if every[r].tobytes() != every[0].tobytes()]
        if drifted:
            r = drifted[0]
            j = int(np.flatnonzero(every[r] != every[0])[0])
            raise RankFailure(
                f"the weights differ between ranks after epoch {self.epoch}: rank {r} has W[{j}] = "
                f"{float(every[r][j])!r}, rank 0 has {float(every[0][j])!r} (ranks {drifted} drifted; every rank must "
                "apply the same update)",
                report=self.p.comm.rank == 0,
                rank=r,
            )


@dataclass(frozen=True)
class Run:
    """What :func:`run` did: as gd_torch.FitResult's fields of the same names (the accuracy is
    the final weights' only: the history's would be one more pass over the data per epoch)."""

    weights: np.ndarray
    loss_history: np.ndarray
    weights_history: np.ndarray
    epochs_run: int
    stop_reason: StopReason
    final_accuracy: float


def run(
    st: Stepper,
    W0: np.ndarray,
    *,
    alpha: float = 0.01,
    epochs: int = 100,
    tol: float | None = None,
    patience: int | None = None,
    callback: Callable[[int, np.ndarray, float], bool | None] | None = None,
) -> Run:
    """gd_torch.train.loop.run_loop on the stepper's ranks from W0; the final weights are compared
    over the ranks (a drift raises on every rank).  A divergence (gd_torch.TrainingDiverged) is
    raised on every rank alike (see comm.failure_line)."""
    if callback is not None and not callable(callback):
        raise bad_value("callback", callback, "None or a callable callback(epoch, weights, loss)")
    a = FitArgs(
        X=None,  # type: ignore[arg-type]  # the data are row blocks on the ranks: run_loop reads neither
        y=None,  # type: ignore[arg-type]
        method=st.method,
        lo=st.lo,
        act=st.act,
        # the scalars validated as gd_torch.train.fit_args.fit_args validates them
        alpha=_validate.number("alpha", alpha, above=0, accepted="a finite number > 0 (the learning rate)"),
        epochs=_validate.integer("epochs", epochs, minimum=1),
        batch_size=st.batch_size,
        tol=_validate.number(
            "tol", tol, none_ok=True, accepted="a finite number (stop once the loss is at or below it)"
        ),
        patience=_validate.integer(
            "patience", patience, minimum=1, none_ok=True, accepted="a positive integer (epochs without improvement)"
        ),
        init="given",
        seed=None,
        device=st.p.comm.device,
        callback=callback,
    )
    weights, losses, k, reason = run_loop(W0, st, a)
    W = weights[k].copy()
    st.assert_identical(W)
    return Run(W, losses, weights, k, reason, ops.accuracy(st.p, W, st.act))
