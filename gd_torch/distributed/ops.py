"""One rank's partial sums over its rows, all-reduced: the loss, every gradient method, the error model.

The gradient of this model is a sum over samples, dL/dW = X^T dL/dz = sum_i X_i dL/dz_i,
and the loss a sum of per-sample terms, so each rank sums over its own rows, in row blocks
(gd_torch.data.shards; the sum is gd_torch.base.rowblocks.accumulate, as every row-block sum
here), and one all-reduce gives every rank the global value:

    dL/dW = sum_ranks sum_blocks X_b^T dL/dz_b,     dL/dz_i with the global N for mean losses
    L     = reduce(sum_ranks sum_blocks sum_i l_i)  (a mean divides by the global N)

Every partial sum is accumulated in float64 and returned in X's dtype.
The rank's rows and their checks are in :mod:`.part`, the exact methods' shares in :mod:`.exact`.
"""

from __future__ import annotations

import numpy as np

from ..base.rowblocks import accumulate
from ..data.shards import row_bytes
from ..gradients import numeric, schemes, step_rules
from ..gradients._fd_eval import terms_sum
from ..model.activations import Activation
from ..model.losses import Loss
from ..precision import errormodel
from .part import VECTORS, Part, check_z

__all__ = [
    "SCHEMES",
    "accuracy",
    "column_scale",
    "error_model",
    "loss_values",
    "numeric_gradient",
    "numeric_steps",
    "objective",
]

#: the finite-difference methods of the registry and their schemes: on row blocks they are
#: differences of the all-reduced loss (schemes.differences), not the method's in-memory grad
SCHEMES: dict[str, str] = {f"numeric:{s}": s for s in schemes.SCHEMES}


def loss_values(p: Part, Wb: np.ndarray, lo: Loss, act: Activation, rows: np.ndarray | None = None, n=None):
    """L at each row of Wb (shape (k, D), real or complex) over all the data, or over the
    mini-batch whose rows on this rank are ``rows`` (n: the batch's size).  k values."""
    k, cplx = Wb.shape[0], np.iscomplexobj(Wb)
    per_row = row_bytes(p.data.d, p.dtype, per_row=4 * k * (16 if cplx else 8))

    def terms(b) -> np.ndarray:
        return terms_sum(Wb, b.X, b.y, lo, act)

    def partial() -> np.ndarray:
        return accumulate(terms, p.blocks(per_row, rows), np.zeros(k, dtype=np.complex128 if cplx else np.float64))

    like = np.zeros(k, dtype=np.complex128 if cplx else np.float64)
    total = p.comm.reduce("the loss", partial, like)
    return lo.from_total(total, p.n if n is None else n)


def objective(p: Part, W: np.ndarray, lo: Loss, act: Activation) -> float:
    """L(W) over all the data; z = X W checked finite block by block (X's NaN or inf is named)."""

    def terms(b) -> float:
        z = check_z(b, W)
        return float(lo.terms(z, act.f(z), b.y).sum())

    def partial() -> np.ndarray:
        return accumulate(terms, p.blocks(row_bytes(p.data.d, p.dtype, per_row=VECTORS)), np.zeros(1))

    total = float(p.comm.reduce("the loss", partial, np.zeros(1))[0])
    return lo.from_total(total, p.n)


def numeric_gradient(
    p: Part, W, lo, act, h: np.ndarray, scheme: str, model: errormodel.ErrorModel | None = None, rows=None, n=None
) -> schemes.NumericGradient:
    """Finite differences of the all-reduced loss: each perturbed loss a sum of the ranks'
    sums, all perturbations of a scheme batched into one pass over the rows."""

    def L(Wb: np.ndarray) -> np.ndarray:
        return loss_values(p, Wb, lo, act, rows, n)

    noise = {} if model is None else {"f_noise": model.f_noise, "f_rel": model.f_rel}
    return schemes.differences(W, L, p.n if n is None else n, scheme=scheme, h=h, **noise)


def numeric_steps(p: Part, W, act: Activation, scheme: str, step=None, rows=None, n=None) -> np.ndarray:
    """The steps h of numeric.estimate for all the data (or the mini-batch of ``rows`` on this
    rank, ``n`` rows in all): the caller's ``step``, checked as one process checks it (the rules
    on W, and the move of z against the column scales of all ranks' rows), else
    step_rules.scaled_steps from those column scales, as one process takes them.
    z = X W must have been checked finite first (ops.objective)."""
    numeric.check_options(W, act, scheme=scheme, step=step)
    if step is not None:
        return step_rules.caller_steps(W, scheme, step, scale=column_scale(p, rows=rows)[0])
    return step_rules.scaled_steps(W, scheme, column_scale(p, rows=rows, W=W)[0], p.n if n is None else n)


def column_scale(
    p: Part, v: np.ndarray | None = None, rows: np.ndarray | None = None, W: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """c_j = max_i |X_ij| over all ranks' rows (or a mini-batch's ``rows``; step_rules.column_scale
    per block, MAX all-reduced), so that step_rules.scaled_steps gives every rank the steps one
    process takes; with a direction v also max_i |(X v)_i| (for step_rules.step_along), else 0.
    With W, the scales of a default step: step_rules.either_scale of those over the rows that set
    a step (step_rules.step_rows at W) and those over every row, each all-reduced."""
    d = p.data.d
    scale = np.zeros((2, d + 1))  # over every row; over the rows that set a step
    for b in p.blocks(row_bytes(d, p.dtype, per_row=VECTORS), rows):
        kept = [None] if W is None else [None, step_rules.step_rows(b.X, W)]
        for k, keep in enumerate(kept):
            scale[k, :d] = np.maximum(scale[k, :d], step_rules.column_scale(b.X, keep))
            if v is not None and b.X.shape[0]:
                # X v in float64, as numeric.for_check forms it (a float32 problem is differenced in float64)
                Xv = (b.X @ v.astype(np.float64))[:, None]
                scale[k, d] = max(scale[k, d], float(step_rules.column_scale(Xv, keep)[0]))
    (scale,) = p.comm.all_reduce([scale], "the column scales", op="max")
    if W is not None:
        scale[0] = step_rules.either_scale(scale[1], scale[0])
    return scale[0, :d], float(scale[0, d])


def error_model(p: Part, W: np.ndarray, lo: Loss, act: Activation, dtype=None) -> errormodel.ErrorModel:
    """gd_torch.precision.errormodel with every sum over samples taken over all ranks' rows; ``dtype``: the
    model of the data cast to it (float64 for float32 data differenced in float64), else X's."""
    d = p.data.d
    dtype = p.dtype if dtype is None else np.dtype(dtype)
    per_row = row_bytes(d, p.dtype, per_entry=32, per_row=2 * VECTORS)

    def block_sums(b) -> np.ndarray:
        return errormodel.partial_sums(W, b.X.astype(dtype, copy=False), b.y, lo, act, p.n)

    def partial() -> np.ndarray:
        return accumulate(block_sums, p.blocks(per_row), np.zeros(errormodel.sums_length(d)))

    sums = p.comm.reduce("the error model's sums", partial, np.zeros(errormodel.sums_length(d)))
    return errormodel.from_sums(sums, p.n, dtype, lo, ranks=p.comm.world)


def accuracy(p: Part, W: np.ndarray, act: Activation) -> float:
    """The fraction of all samples with (f(X_i W) >= 0.5) == y_i (the tutorial's threshold)."""

    def right(b) -> int:
        with np.errstate(over="ignore", invalid="ignore"):
            return int(np.count_nonzero((act.f(b.X @ W) >= 0.5) == b.y))

    def partial() -> np.ndarray:
        return accumulate(right, p.blocks(row_bytes(p.data.d, p.dtype, per_row=VECTORS)), np.zeros(1))

    return float(p.comm.reduce("the accuracy", partial, np.zeros(1))[0]) / p.n
