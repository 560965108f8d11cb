"""The gradient derived by hand with the chain rule, in numpy.

For z = X @ W, a = f(z), L = loss(a, y):

    dL/dz_i = dL/da_i * da_i/dz_i          (chain rule, per sample)
    dL/dW_j = sum_i X_ij * dL/dz_i          i.e.  dL/dW = X^T dL/dz

with dL/da from the loss and da/dz from the activation (their formulas live beside
them in gd_torch.model).  Written out for the tutorial's pair, sigmoid + sse:

    dL/da = 2 (a - y),   da/dz = a (1 - a),   dL/dz = 2 (a - y) a (1 - a)

and for sigmoid + mean cross-entropy the product simplifies to dL/dz = (a - y) / N,
which is exactly the tutorial's update direction.

How it reads X: dL/dW is a sum over rows, so X is cut into row blocks small enough to
stay in the cache; each block is read from memory once and used twice while cached,
for z_b = X_b @ W and for X_b^T dL/dz_b.  Large problems split the blocks between the
cores (BLAS and numpy release the GIL; BLAS runs one thread inside each), each thread
adding into its own accumulator; the partial sums are added at the end.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from ..base import validate as _validate
from ..model.activations import Activation
from ..model.forward import delta
from ..model.losses import Loss
from . import _blas

FORMULA = "X^T (dL/da * da/dz), dL/da and da/dz written by hand"
#: bytes of X per block: sized to stay in a core's share of the cache while it is used twice
_BLOCK_BYTES = 2 << 20
#: rows per block at most, so that the per-block vectors (z, a, dL/dz) stay under 128 KiB (no mmap)
_MAX_ROWS = 12288
#: below this many bytes of X one thread and two plain passes are faster than the machinery
_THREADED_BYTES = 4 << 20
#: groups of row blocks summed apart (fixed: the result must not depend on the thread count)
_GROUPS = 8
#: at most this many entries, BLAS runs on one thread anyway (OpenBLAS's gemv threshold)
_TINY = 9216


def grad(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation) -> np.ndarray:
    """dL/dW = X^T dL/dz, reading X once in row blocks; returns an array of W's shape and dtype."""
    if X.shape[0] <= _rows(X):  # one block: no plan to make
        return _one_block(W, X, y, lo, act)
    return _Plan(X, y, lo, act)(W)


def _rows(X: np.ndarray) -> int:
    # rows per block: about _BLOCK_BYTES of X, at most _MAX_ROWS
    return int(min(_MAX_ROWS, max(64, _BLOCK_BYTES // (X.shape[1] * X.itemsize))))


def _one_block(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation) -> np.ndarray:
    # two plain passes, the second from the cache; BLAS on one thread unless it would anyway
    if X.size > _TINY:
        with _blas.single_thread():
            return _two_pass(W, X, y, lo, act)
    return _two_pass(W, X, y, lo, act)


def _two_pass(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation) -> np.ndarray:
    z = _validate.z_of(X, W)  # z = X W, (N,), checked finite
    return from_z(X.T, z, act.f(z), y, lo, act)


def from_z(XT: np.ndarray, z: np.ndarray, a: np.ndarray, y: np.ndarray, lo: Loss, act: Activation) -> np.ndarray:
    """dL/dW = X^T dL/dz from a z = X W and a = f(z) the caller already has (training reuses
    the z of its loss evaluation: one pass over X per step)."""
    return XT @ delta(z, y, lo, act, a=a)  # (D,)


def make(X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation, d=None):
    """g(W) -> dL/dW on fixed, validated X and y (training loops call this every step).

    The block plan and the per-thread work arrays are made once here.  ``d(z_b, y_b, n=N)``, when
    given, replaces dL/dz as the per-sample vector summed (g = X^T d; the tutorial's rule).
    """
    return _Plan(X, y, lo, act, d)


class _Plan:
    # dL/dW on one fixed (X, y): row blocks, fixed groups of blocks and their accumulators
    # decided once.  The groups do not depend on the number of threads, and each group's
    # blocks are added in order, so a seeded result is bit for bit the same on 1 or 16 cores.
    # ``d(z_b, y_b, n)``: the per-sample vector summed as X_b^T d (default dL/dz; the tutorial's
    # rule passes its own (f(z) - y) / N)
    def __init__(self, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation, d=None) -> None:
        self.X, self.y, self.lo, self.act = X, y, lo, act
        self.d = d if d is not None else partial(delta, lo=lo, act=act)
        n, d = X.shape
        self.n = n
        self.rows = _rows(X)
        blocks = math.ceil(n / self.rows)
        groups = max(1, min(_GROUPS, blocks))
        self.workers = max(1, min(_blas.workers() if X.nbytes >= _THREADED_BYTES else 1, groups))
        # contiguous ranges of whole blocks, one per group
        cuts = [round(i * blocks / groups) * self.rows for i in range(groups + 1)]
        self.ranges = [(cuts[i], min(cuts[i + 1], n)) for i in range(groups)]
        self.acc = np.zeros((groups, d), dtype=X.dtype)  # one accumulator per group
        self.part = np.empty((self.workers, d), dtype=X.dtype)  # X_b^T dL/dz_b before it is added
        self.z = np.empty((self.workers, self.rows), dtype=X.dtype)
        self.finite = np.empty((self.workers, self.rows), dtype=bool)

    def __call__(self, W: np.ndarray) -> np.ndarray:
        X = self.X
        if self.rows >= self.n:
            return _one_block(W, X, self.y, self.lo, self.act)
        bad = _blas.parallel(partial(self._run, W), len(self.ranges), self.workers)
        bad = [b for b in bad if b is not None]
        if bad:
            # some z_b was not finite: name the first bad row as the one-pass check does
            _validate.z_of(X[: min(bad)], W)
            return _two_pass(W, X, self.y, self.lo, self.act)  # not reached: finite_z raised
        return self.acc.sum(axis=0)

    def _run(self, W: np.ndarray, g: int) -> int | None:
        # group g's rows in blocks: z_b = X_b W, then acc += X_b^T dL/dz_b while X_b is cached;
        # stops at the first block whose z is not finite and returns the row where it ends.
        # Job g runs on thread g % workers (gd_torch.gradients._blas.parallel): its buffers.
        X, y, rows, n = self.X, self.y, self.rows, self.n
        t = g % self.workers
        acc, part, zbuf, fin = self.acc[g], self.part[t], self.z[t], self.finite[t]
        acc[:] = 0
        start, stop = self.ranges[g]
        for s in range(start, stop, rows):
            e = min(s + rows, stop)
            Xb, zb = X[s:e], zbuf[: e - s]
            with np.errstate(invalid="ignore", over="ignore"):  # what they warn of is checked next
                np.matmul(Xb, W, out=zb)
            if not np.isfinite(zb, out=fin[: e - s]).all():
                return e
            np.matmul(Xb.T, self.d(zb, y[s:e], n=n), out=part)
            acc += part
        return None
