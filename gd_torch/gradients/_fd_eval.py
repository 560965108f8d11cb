"""L(W) at many weight vectors at once: the evaluation behind the finite differences.

All perturbed weight vectors are stacked into a (k, D) matrix and evaluated together:
X is read once, in row blocks, each block meeting all k perturbations in one matrix
product Z_b = X_b @ Wb^T small enough to stay in the cache; fixed groups of blocks are
spread over the cores (the same bits whatever the thread count).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ..base import blas as _blas
from ..base import rowblocks
from ..model.activations import ACTIVATIONS, Activation
from ..model.forward import loss_from_z
from ..model.losses import LOSSES, Loss

#: Z = X @ Wb^T near this size per product when X is not cut into row blocks
_CHUNK_BYTES = 32 << 20
#: multiply-adds per product below which BLAS runs on one thread
_SMALL_PRODUCT = 1 << 22
#: bytes of one block Z_b = X_b Wb^T in the blocked evaluation (stays in the cache)
_Z_BYTES = 256 << 10
_MAX_ROWS = 8192
#: entries of Z below which the blocked evaluation runs on one thread
_PARALLEL_ENTRIES = 1 << 17
#: (k, rows) arrays one group of the blocked evaluation holds at once: Z_b^T, f(Z_b^T), the
#: loss terms and the loss's own temporaries (tracemalloc over every registered loss and
#: activation: 4 for sse, at most 6, logcosh; one spare)
BLOCK_ARRAYS = 7


def blocked_bytes() -> tuple[int, int]:
    """(fixed, per point): an upper bound on the bytes :func:`evaluate` allocates for k points
    with row blocks (registered loss and activation), fixed + k * per point, besides Wb.

    Each group in flight (at most min(workers, 8) at once) holds BLOCK_ARRAYS float64 arrays of
    k x rows, rows = max(16, _Z_BYTES // (8 k)): at most 16 * 8 k + _Z_BYTES bytes each; then
    the groups' sums (8 x k), their total and the k results.
    """
    flight = min(_blas.workers(), rowblocks.GROUPS) * BLOCK_ARRAYS
    return flight * _Z_BYTES, flight * 16 * 8 + (rowblocks.GROUPS + 2) * 8


def evaluate(
    Wb: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation, batch: int | None = None
) -> np.ndarray:
    """L at each row of Wb (shape (k, D), real or complex): k values.

    batch=None: X is read once, in row blocks X_b; each block meets all k perturbations in
    one product Z_b = X_b Wb^T, sized so that Z_b stays in the cache while the loss terms
    are computed from it; the blocks fall into at most 8 fixed groups of contiguous rows,
    spread over the cores, and the groups' column sums are added in order at the end (the
    same bits whatever the thread count).  batch=b: b perturbations per product over the whole of X (b=1: one
    matrix-vector product per perturbation).
    """
    if batch is None and _per_sample(lo, act):
        return _evaluate_blocked(Wb, X, y, lo, act)
    k = Wb.shape[0]
    if batch is None:  # whole-N chunks of Z near 32 MiB
        per_row = X.shape[0] * X.itemsize * (2 if np.iscomplexobj(Wb) else 1)
        batch = max(1, _CHUNK_BYTES // per_row)
    out = np.empty(k, dtype=Wb.dtype)
    if X.size * min(batch, k) <= _SMALL_PRODUCT:  # too small for BLAS's threads to pay
        with _blas.single_thread():
            _evaluate_chunks(Wb, X, y, lo, act, batch, out)
    else:
        _evaluate_chunks(Wb, X, y, lo, act, batch, out)
    return out


def _per_sample(lo: Loss, act: Activation) -> bool:
    # row blocks need a loss and activation that work sample by sample, as the registered
    # ones do; a caller's own (gd_torch.check's shifted pair closes over all N offsets) may
    # look at every sample at once, so it gets whole-N chunks
    return LOSSES.get(lo.name) is lo and ACTIVATIONS.get(act.name) is act


def _product(Xb: np.ndarray, B: np.ndarray) -> np.ndarray:
    # Z = X_b B^T; for complex B keep X real: X (B.re + i B.im) = X B.re + i X B.im
    if np.iscomplexobj(B):
        return Xb @ B.real.T + 1j * (Xb @ B.imag.T)
    return Xb @ B.T


def _product_t(B: np.ndarray, Xb: np.ndarray) -> np.ndarray:
    # Z^T = B X_b^T, of shape (k, rows)
    if np.iscomplexobj(B):
        return B.real @ Xb.T + 1j * (B.imag @ Xb.T)
    return B @ Xb.T


def _evaluate_chunks(Wb, X, y, lo, act, chunk, out):
    for s in range(0, Wb.shape[0], chunk):
        out[s : s + chunk] = loss_from_z(_product(X, Wb[s : s + chunk]), y, lo, act)


def _evaluate_blocked(Wb, X, y, lo, act):
    # gd_torch.base.rowblocks.grouped_sum of each block's column sums: at most 8 fixed groups of
    # contiguous blocks, decided by N and k only, the same bits on 1 or 16 threads
    n, k = X.shape[0], Wb.shape[0]
    p = rowblocks.plan(n, rows_per_block(n, Wb))
    workers = min(_blas.workers(), p.groups) if n * k >= _PARALLEL_ENTRIES else 1

    def block(s: int, e: int) -> np.ndarray:
        return terms_sum(Wb, X[s:e], y[s:e], lo, act)

    total = rowblocks.grouped_sum(block, p, np.zeros(k, dtype=Wb.dtype), partial(_blas.parallel, n_workers=workers))
    return lo.from_total(total, n)


def rows_per_block(n: int, Wb: np.ndarray) -> int:
    """Rows of X per block for the k = len(Wb) points (gd_torch.base.rowblocks.block_rows): a block
    Z_b of about 256 KiB, 16 to 8192 rows, at most n."""
    return rowblocks.block_rows(Wb.shape[0] * Wb.itemsize, _Z_BYTES, least=16, most=min(n, _MAX_ROWS))


def terms_sum(Wb: np.ndarray, Xb: np.ndarray, yb: np.ndarray, lo: Loss, act: Activation) -> np.ndarray:
    """sum_i l_i over the rows of one block X_b, for each row of Wb: k values (before any mean).

    Z_b is taken as the transpose of Wb X_b^T: each column contiguous, so that the sum over
    rows is numpy's pairwise summation (as for one perturbation), not a running sum.
    """
    Zt = _product_t(Wb, Xb)  # (k, rows)
    terms = lo.terms(Zt.T, act.f(Zt).T, yb)  # (rows, k); f on the C-ordered array
    return np.add.reduce(terms, axis=0)
