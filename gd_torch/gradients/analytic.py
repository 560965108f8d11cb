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
stay in the cache (gd_torch.base.rowblocks, the one row-block sum); each block is read from
memory once and used twice while cached, for z_b = X_b @ W and for X_b^T dL/dz_b.  Large
problems split the blocks' fixed groups between the cores (BLAS and numpy release the GIL;
BLAS runs one thread inside each), each group adding into its own accumulator; the groups'
sums are added in order at the end.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ..base import blas as _blas
from ..base import rowblocks
from ..base import validate as _validate
from ..model.activations import Activation
from ..model.forward import delta
from ..model.losses import Loss

FORMULA = "X^T (dL/da * da/dz), dL/da and da/dz written by hand"
#: bytes of X per block: sized to stay in a core's share of the cache while it is used twice
_BLOCK_BYTES = 2 << 20
#: rows per block at most, so that the per-block vectors (z, a, dL/dz) stay under 128 KiB (no mmap)
_MAX_ROWS = 12288
#: below this many bytes of X one thread and two plain passes are faster than the machinery
_THREADED_BYTES = 4 << 20
#: at most this many entries, BLAS runs on one thread anyway (OpenBLAS's gemv threshold)
_TINY = 9216


def grad(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation) -> np.ndarray:
    """dL/dW = X^T dL/dz, reading X once in row blocks; returns an array of W's shape and dtype."""
    if X.shape[0] <= rows_per_block(X):  # one block: no plan to make
        return _one_block(W, X, y, lo, act)
    return _Plan(X, y, lo, act)(W)


def rows_per_block(X: np.ndarray) -> int:
    """Rows of X per block (gd_torch.base.rowblocks.block_rows): about 2 MiB of X, 64 to 12288 rows."""
    return rowblocks.block_rows(X.shape[1] * X.itemsize, _BLOCK_BYTES, least=64, most=_MAX_ROWS)


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

    The block plan and the thread count are decided once here.  ``d(z_b, y_b, n=N)``, when
    given, replaces dL/dz as the per-sample vector summed (g = X^T d; the tutorial's rule).
    """
    return _Plan(X, y, lo, act, d)


class _NotFinite(Exception):
    # a block's z = X_b W is not finite: ``stop`` is the row where that block ends
    def __init__(self, stop: int) -> None:
        super().__init__(stop)
        self.stop = stop


class _Plan:
    # dL/dW on one fixed (X, y) as gd_torch.base.rowblocks.grouped_sum of X_b^T dL/dz_b: the
    # row blocks, their fixed groups and the threads decided once (a seeded result is bit for
    # bit the same on 1 or 16 cores).  ``d(z_b, y_b, n)``: the per-sample vector summed as
    # X_b^T d (default dL/dz; the tutorial's rule passes its own (f(z) - y) / N)
    def __init__(self, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation, d=None) -> None:
        self.X, self.y, self.lo, self.act = X, y, lo, act
        self.d = d if d is not None else partial(delta, lo=lo, act=act)
        self.n = X.shape[0]
        self.plan = rowblocks.plan(self.n, rows_per_block(X))
        workers = max(1, min(_blas.workers() if X.nbytes >= _THREADED_BYTES else 1, self.plan.groups))
        self.run = partial(_blas.parallel, n_workers=workers)

    def __call__(self, W: np.ndarray) -> np.ndarray:
        X = self.X
        if self.plan.rows >= self.n:
            return _one_block(W, X, self.y, self.lo, self.act)
        try:
            return rowblocks.grouped_sum(partial(self._block, W), self.plan, np.zeros(X.shape[1], X.dtype), self.run)
        except _NotFinite as bad:
            # the first block whose z is not finite: name its first bad row as the one-pass check does
            _validate.z_of(X[: bad.stop], W)
            return _two_pass(W, X, self.y, self.lo, self.act)  # not reached: z_of raised

    def _block(self, W: np.ndarray, s: int, e: int) -> np.ndarray:
        # X_b^T dL/dz_b in X's dtype, from z_b = X_b W while X_b is cached
        Xb = self.X[s:e]
        with np.errstate(invalid="ignore", over="ignore"):  # what they warn of is checked next
            zb = np.matmul(Xb, W).astype(Xb.dtype, copy=False)
        if not np.isfinite(zb).all():
            raise _NotFinite(e)
        return np.matmul(Xb.T, self.d(zb, self.y[s:e], n=self.n)).astype(Xb.dtype, copy=False)
