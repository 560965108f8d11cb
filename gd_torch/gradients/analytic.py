"""The gradient derived by hand with the chain rule, in numpy.

For z = X @ W, a = f(z), L = loss(a, y):

    dL/dz_i = dL/da_i * da_i/dz_i          (chain rule, per sample)
    dL/dW_j = sum_i X_ij * dL/dz_i          i.e.  dL/dW = X^T dL/dz

with dL/da from the loss and da/dz from the activation (their formulas live beside
them in gd_torch.model).  Written out for the tutorial's pair, sigmoid + sse:

    dL/da = 2 (a - y),   da/dz = a (1 - a),   dL/dz = 2 (a - y) a (1 - a)

and for sigmoid + mean cross-entropy the product simplifies to dL/dz = (a - y) / N,
which is exactly the tutorial's update direction.
"""

from __future__ import annotations

import numpy as np

from .. import _validate
from ..model import Activation, Loss

#: rows of X per block: a block of 2048 x 512 float64 is 8 MiB
_BLOCK_BYTES = 4 << 20


def delta(z: np.ndarray, y: np.ndarray, lo: Loss, act: Activation, n: int | None = None) -> np.ndarray:
    """dL/dz for pre-activations z of shape (n_samples,); ``n`` is the loss's sample count
    when z and y are one block of a larger problem."""
    a = act.f(z)
    n = y.shape[0] if n is None else n
    if lo.dL_dz is not None:  # the pair where the chain rule collapses (bce with sigmoid)
        return lo.dL_dz(a, y, n)
    return lo.dL_da(a, y, n) * act.df(z, a)  # dL/dz = dL/da * da/dz


def grad(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation) -> np.ndarray:
    """dL/dW = X^T dL/dz, reading X in row blocks; returns an array of W's shape and dtype."""
    n, d = X.shape
    rows = max(256, _BLOCK_BYTES // (d * X.itemsize))
    if rows >= n:
        z = X @ W  # (N,)
        _validate.finite_z(z)
        return X.T @ delta(z, y, lo, act)  # (D,)
    g = np.zeros(d, dtype=X.dtype)
    for start in range(0, n, rows):
        Xb = X[start : start + rows]
        zb = Xb @ W
        _validate.finite_z(zb)
        g += Xb.T @ delta(zb, y[start : start + rows], lo, act, n)
    return g


def make(X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation):
    """g(W) -> dL/dW on fixed, validated X and y (training loops call this every step)."""
    return lambda W: grad(W, X, y, lo, act)
