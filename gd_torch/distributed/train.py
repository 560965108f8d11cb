"""Gradient descent on K ranks (or on one, out of core) as a Stepper: loss(W) and step(W, alpha).

Every rank holds the same W and applies the same update, W <- W - alpha dL/dW with the
all-reduced gradient, so the weights stay identical on all ranks (checked by
:meth:`Stepper.assert_identical`: a rank that drifts is an error).

Full batch: one step per epoch, the gradient of the whole data; for the methods that are a
formula in z (analytic, tutorial) the loss of W and its gradient come from one pass over
the rows.  Mini-batch: each epoch reshuffles one global permutation of the N rows, drawn
exactly as gd_torch.fit draws it (numpy's Generator on SeedSequence(seed, spawn_key=(1,))),
so that K ranks follow one process's trajectory; each step's batch is the next b indices
of it, each rank summing over those of its own rows.  The permutation is the one O(N)
allocation: 8 bytes per row on every rank.
"""

from __future__ import annotations

import numpy as np

from .._errors import GdTorchError
from ..gradients import numeric
from ..model import Activation, Loss
from . import ops
from .comm import RankFailure

#: the gradient methods a Stepper follows
METHODS = (*ops.PARTIALS, "numeric")


class Stepper:
    """Steps of gradient descent on this rank's Part; every rank must build one alike."""

    def __init__(
        self,
        p: ops.Part,
        lo: Loss,
        act: Activation,
        method: str = "analytic",
        batch_size: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.p, self.lo, self.act, self.method = p, lo, act, method
        self.batch_size = batch_size
        self.epoch = 0
        self._cached: np.ndarray | None = None
        if batch_size is not None:
            if seed is None and p.comm.world > 1:
                raise GdTorchError("seed must be an integer for mini-batches on several ranks; got None")
            self._rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
            self._order = np.arange(p.n)

    def loss(self, W: np.ndarray) -> float:
        """L(W) on all the data, the same float on every rank (NaN or inf when training diverged)."""
        self.p.comm.context = f"epoch {self.epoch + 1}"
        if self.batch_size is None and self.method in ops.FROM_Z:
            L, g = ops.loss_and_gradient(self.p, W, self.lo, self.act, self.method)
            self._cached = g
            return L
        return float(ops.loss_values(self.p, W[None, :], self.lo, self.act)[0])

    def step(self, W: np.ndarray, alpha: float) -> None:
        """One epoch: W <- W - alpha dL/dW, once (full batch) or once per mini-batch; in place.

        Called after ``loss(W)`` on the same W (as gd_torch.train's loop does), a full-batch
        step takes the gradient that pass computed.
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
        if self.method != "numeric":
            return ops.exact_gradient(self.p, W, self.lo, self.act, self.method, rows, n)
        h = numeric.check_options(W, self.act)
        return ops.numeric_gradient(self.p, W, self.lo, self.act, h, "central", rows=rows, n=n).grad

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
