"""One rank's partial sums over its rows, all-reduced: the loss, every gradient method, the error model.

The gradient of this model is a sum over samples, dL/dW = X^T dL/dz = sum_i X_i dL/dz_i,
and the loss a sum of per-sample terms, so each rank sums over its own rows, in row blocks
(gd_torch.ooc), and one all-reduce gives every rank the global value:

    dL/dW = sum_ranks sum_blocks X_b^T dL/dz_b,     dL/dz_i with the global N for mean losses
    L     = reduce(sum_ranks sum_blocks sum_i l_i)  (a mean divides by the global N)

Every partial sum is accumulated in float64 and returned in X's dtype.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .. import _validate, errormodel
from .._errors import GdTorchError
from ..gradients import Method, numeric
from ..model import Activation, Loss
from ..ooc import Block, Dataset, row_bytes
from .comm import Comm, RankFailure

#: per-sample vectors a gradient pass keeps per row (z, a, dL/dz, y, ...), in bytes
_VECTORS = 128


@dataclass(frozen=True)
class Part:
    """This rank's rows [start, stop) of a dataset of ``n`` rows, and its Comm."""

    data: Dataset
    comm: Comm
    start: int
    stop: int

    @property
    def n(self) -> int:
        return self.data.n

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def blocks(self, bytes_per_row: int, rows: np.ndarray | None = None) -> Iterator[Block]:
        """The rank's rows in blocks within the budget; or, given sorted global ``rows`` (a
        mini-batch's rows on this rank), those rows gathered in budget-sized groups."""
        if rows is None:
            yield from self.data.blocks(self.start, self.stop, bytes_per_row)
            return
        size = max(1, self.data.budget // bytes_per_row)
        for s in range(0, rows.shape[0], size):
            X, y = self.data.take(rows[s : s + size])
            yield Block(int(rows[s]), X, y)


def part(data: Dataset, comm: Comm) -> Part:
    """This rank's contiguous share of ``data``, once every rank is seen to hold the same N, D
    and dtype (refused before any step otherwise)."""
    from .comm import rows

    mine = np.array([data.n, data.d, data.dtype.itemsize], dtype=np.float64)
    seen = comm.all_gather(mine, "the shape of the data")
    for r in range(comm.world):
        if (seen[r] != seen[0]).any():
            n, d, size = (int(v) for v in seen[r])
            n0, d0, size0 = (int(v) for v in seen[0])
            raise RankFailure(
                f"every rank must hold the same data: rank {r} sees {n} x {d} float{8 * size}, "
                f"rank 0 sees {n0} x {d0} float{8 * size0}",
                report=comm.rank == 0,
                rank=r,
            )
    return Part(data, comm, *rows(data.n, comm.rank, comm.world))


def check_labels(p: Part, why: str) -> None:
    """Refuse labels other than 0 and 1 anywhere in the data (one pass over y), on every rank."""

    def bad() -> np.ndarray:
        for b in p.blocks(row_bytes(p.data.d, p.dtype)):
            off = np.flatnonzero((b.y != 0) & (b.y != 1))
            if off.size:
                i = b.start + int(off[0])
                raise GdTorchError(f"y must be 0 or 1 ({why}); got y[{i}] = {b.y[off[0]]}")
        return np.zeros(1)

    p.comm.reduce("a check of the labels", bad, np.zeros(1))


def loss_values(p: Part, Wb: np.ndarray, lo: Loss, act: Activation, rows: np.ndarray | None = None, n=None):
    """L at each row of Wb (shape (k, D), real or complex) over all the data, or over the
    mini-batch whose rows on this rank are ``rows`` (n: the batch's size).  k values."""
    k, cplx = Wb.shape[0], np.iscomplexobj(Wb)
    per_row = row_bytes(p.data.d, p.dtype, per_row=4 * k * (16 if cplx else 8))

    def partial() -> np.ndarray:
        total = np.zeros(k, dtype=np.complex128 if cplx else np.float64)
        for b in p.blocks(per_row, rows):
            total += numeric.terms_sum(Wb, b.X, b.y, lo, act)
        return total

    like = np.zeros(k, dtype=np.complex128 if cplx else np.float64)
    total = p.comm.reduce("the loss", partial, like)
    return total if lo.reduction == "sum" else total / (p.n if n is None else n)


def objective(p: Part, W: np.ndarray, lo: Loss, act: Activation) -> float:
    """L(W) over all the data; z = X W checked finite block by block (X's NaN or inf is named)."""

    def partial() -> np.ndarray:
        total = 0.0
        for b in p.blocks(row_bytes(p.data.d, p.dtype, per_row=_VECTORS)):
            z = _check_z(b, W)
            total += float(lo.terms(z, act.f(z), b.y).sum())
        return np.array([total])

    total = float(p.comm.reduce("the loss", partial, np.zeros(1))[0])
    return total if lo.reduction == "sum" else total / p.n


def _check_z(b: Block, W: np.ndarray) -> np.ndarray:
    # z = X_b W, checked finite; a bad row is named by its global index
    try:
        return _validate.z_of(b.X, W)
    except GdTorchError:
        with np.errstate(invalid="ignore", over="ignore"):
            i = int(np.flatnonzero(~np.isfinite(b.X @ W))[0])
        raise GdTorchError(
            f"X must be finite: row {b.start + i} of X gives z = X @ W = {b.X[i] @ W} (X holds a NaN or inf "
            "in that row, or its values are so large that X @ W overflows)"
        ) from None


# ---- the exact methods: one block's share of dL/dW ----------------------------------------

#: the finite-difference methods of the registry and their schemes: on row blocks they are
#: differences of the all-reduced loss (numeric.differences), not the method's in-memory grad
SCHEMES: dict[str, str] = {f"numeric:{s}": s for s in numeric.SCHEMES}


@dataclass(frozen=True)
class Exact:
    """An exact method (no error estimate of its own) split over row blocks.

    The split needs g(X) = c(N) sum_i g_i(X_i, y_i), a sum over samples (c = 1) or their mean
    (c = 1 / N, a mean loss's gradient, or the tutorial's rule whatever the loss): block b of
    n_b rows then contributes g(X_b) (a sum) or g(X_b) n_b / N (a mean), as DistributedDataParallel
    re-weights per-rank means.  Which one is read off the method itself (:func:`exact`).
    """

    method: Method
    #: True when g divides by the number of samples it is given
    mean: bool
    #: the keyword arguments of the method's calls (the rank's device for a method that runs on torch)
    kw: dict

    def share(self, W: np.ndarray, b: Block, lo: Loss, act: Activation, n: int) -> np.ndarray:
        """Block b's share of dL/dW for a problem of n samples; z = X_b W checked finite."""
        z = _check_z(b, W)
        if self.method.from_z is not None:  # the formula in z: no second product X_b W
            g = self.method.from_z(b.X.T, z, act.f(z), b.y, lo, act)
        else:
            g = self.method.grad(W, b.X, b.y, lo, act, **self.kw)
        return g * (b.y.shape[0] / n) if self.mean else g

    def from_z(self, b: Block, z: np.ndarray, a: np.ndarray, lo: Loss, act: Activation, n: int) -> np.ndarray:
        """Block b's share from a z = X_b W and a = f(z) the caller has (the method has from_z)."""
        g = self.method.from_z(b.X.T, z, a, b.y, lo, act)
        return g * (b.y.shape[0] / n) if self.mean else g


def exact(m: Method, lo: Loss, act: Activation, device: str = "cpu") -> Exact:
    """``m`` ready for row blocks: whether it sums or averages over samples is measured on a
    small fixed problem and on its rows twice, in another order (a sum doubles, a mean stays);
    a method that does neither cannot be split over rows and is refused."""
    X = np.column_stack([np.ones(6), np.random.default_rng(0).standard_normal((6, 2))])
    y, W = np.array([0.0, 1, 0, 1, 1, 0]), np.array([0.1, 0.6, -0.4])
    on_cpu = m.bind("cpu", {})
    one = np.asarray(m.grad(W, X, y, lo, act, **on_cpu), dtype=np.float64)
    # the rows twice, the first copy reversed: a method that looks at rows by position is not fooled
    twice = np.vstack([X[::-1], X]), np.concatenate([y[::-1], y])
    two = np.asarray(m.grad(W, *twice, lo, act, **on_cpu), dtype=np.float64)
    ratio = float(two @ one / (one @ one)) if (one @ one) > 0 else np.nan
    for mean, r in ((False, 2.0), (True, 1.0)):
        if abs(ratio - r) <= 1e-9:
            return Exact(m, mean, m.bind(device, {}))
    raise GdTorchError(
        f"method={m.name!r} cannot be split over row blocks: on the same rows twice its gradient is {ratio:.6g} "
        "times the gradient on them once; a sum over samples gives 2, their mean 1"
    )


def exact_gradient(p: Part, W, lo, act, e: Exact, rows: np.ndarray | None = None, n=None) -> np.ndarray:
    """dL/dW by an exact method over all the data, or over a mini-batch (``rows`` on this
    rank, ``n`` rows in all)."""
    n = p.n if n is None else n

    def partial() -> np.ndarray:
        total = np.zeros(W.shape[0])
        for b in p.blocks(row_bytes(p.data.d, p.dtype, per_row=_VECTORS), rows):
            total += e.share(W, b, lo, act, n)
        return total

    return p.comm.reduce(f"the {e.method.name} gradient", partial, np.zeros(W.shape[0])).astype(p.dtype)


def loss_and_gradient(p: Part, W, lo, act, e: Exact) -> tuple[float, np.ndarray | None]:
    """L(W) over all the data and dL/dW by a method with ``from_z``, in one pass over the rows (one
    all-reduce of D + 1 numbers).  The gradient is None when some z is not finite (the loss
    then is not finite either: training stops on it)."""
    d = W.shape[0]

    def partial() -> np.ndarray:
        total = np.zeros(d + 2)  # [dL/dW, sum of terms, count of blocks with a non-finite z]
        for b in p.blocks(row_bytes(p.data.d, p.dtype, per_row=_VECTORS)):
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                z = b.X @ W
                a = act.f(z)
                total[d] += float(lo.terms(z, a, b.y).sum())
            if np.isfinite(z).all():
                total[:d] += e.from_z(b, z, a, lo, act, p.n)
            else:
                total[d + 1] += 1
        return total

    total = p.comm.reduce("the loss and gradient", partial, np.zeros(d + 2))
    L = total[d] if lo.reduction == "sum" else total[d] / p.n
    return float(L), (None if total[d + 1] else total[:d].astype(p.dtype))


def numeric_gradient(
    p: Part, W, lo, act, h: np.ndarray, scheme: str, model: errormodel.ErrorModel | None = None, rows=None, n=None
) -> numeric.NumericGradient:
    """Finite differences of the all-reduced loss: each perturbed loss a sum of the ranks'
    sums, all perturbations of a scheme batched into one pass over the rows."""

    def L(Wb: np.ndarray) -> np.ndarray:
        return loss_values(p, Wb, lo, act, rows, n)

    noise = {} if model is None else {"f_noise": model.f_noise, "f_rel": model.f_rel}
    return numeric.differences(W, L, p.n if n is None else n, scheme=scheme, h=h, **noise)


def numeric_steps(p: Part, W, act: Activation, scheme: str, step=None, rows=None, n=None) -> np.ndarray:
    """The steps h of numeric.estimate for all the data (or the mini-batch of ``rows`` on this
    rank, ``n`` rows in all): the caller's ``step`` (checked by numeric.check_options), else
    numeric.scaled_steps from the column scales of all ranks' rows, as one process takes them.
    z = X W must have been checked finite first (ops.objective)."""
    h = numeric.check_options(W, act, scheme=scheme, step=step)
    if step is not None:
        return h
    return numeric.scaled_steps(W, scheme, column_scale(p, rows=rows)[0], p.n if n is None else n)


def column_scale(p: Part, v: np.ndarray | None = None, rows: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """c_j = max_i |X_ij| over all ranks' rows (or a mini-batch's ``rows``; numeric.column_scale
    per block, MAX all-reduced), so that numeric.scaled_steps gives every rank the steps one
    process takes; with a direction v also max_i |(X v)_i| (for numeric.step_along), else 0."""
    d = p.data.d
    scale = np.zeros(d + 1)
    for b in p.blocks(row_bytes(d, p.dtype, per_row=_VECTORS), rows):
        scale[:d] = np.maximum(scale[:d], numeric.column_scale(b.X))
        if v is not None and b.X.shape[0]:
            # X v in float64, as numeric.for_check forms it (a float32 problem is differenced in float64)
            scale[d] = max(scale[d], float(numeric.column_scale((b.X @ v.astype(np.float64))[:, None])[0]))
    (scale,) = p.comm.all_reduce([scale], "the column scales", op="max")
    return scale[:d], float(scale[d])


def error_model(p: Part, W: np.ndarray, lo: Loss, act: Activation, dtype=None) -> errormodel.ErrorModel:
    """gd_torch.errormodel with every sum over samples taken over all ranks' rows; ``dtype``: the
    model of the data cast to it (float64 for float32 data differenced in float64), else X's."""
    d = p.data.d
    dtype = p.dtype if dtype is None else np.dtype(dtype)
    per_row = row_bytes(d, p.dtype, per_entry=32, per_row=2 * _VECTORS)

    def partial() -> np.ndarray:
        total = np.zeros(2 * d + 3)
        for b in p.blocks(per_row):
            total += errormodel.partial_sums(W, b.X.astype(dtype, copy=False), b.y, lo, act, p.n)
        return total

    sums = p.comm.reduce("the error model's sums", partial, np.zeros(2 * d + 3))
    return errormodel.from_sums(sums, p.n, dtype, lo, ranks=p.comm.world)


def accuracy(p: Part, W: np.ndarray, act: Activation) -> float:
    """The fraction of all samples with (f(X_i W) >= 0.5) == y_i (the tutorial's threshold)."""

    def partial() -> np.ndarray:
        right = 0
        for b in p.blocks(row_bytes(p.data.d, p.dtype, per_row=_VECTORS)):
            with np.errstate(over="ignore", invalid="ignore"):
                right += int(np.count_nonzero((act.f(b.X @ W) >= 0.5) == b.y))
        return np.array([right], dtype=np.float64)

    return float(p.comm.reduce("the accuracy", partial, np.zeros(1))[0]) / p.n
