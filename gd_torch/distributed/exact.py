"""The exact methods (no error estimate of their own) over row blocks: each block's share of
dL/dW, summed over the rank's blocks and all-reduced.

    dL/dW = sum_ranks sum_blocks g(X_b)           (a method that sums over samples)
    dL/dW = sum_ranks sum_blocks g(X_b) n_b / N   (one that averages: a mean loss, the tutorial's rule)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._errors import GdTorchError
from ..data.shards import Block, row_bytes
from ..gradients import Method
from ..model.activations import Activation
from ..model.losses import Loss
from .part import VECTORS, Part, check_z


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
        z = check_z(b, W)
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
        for b in p.blocks(row_bytes(p.data.d, p.dtype, per_row=VECTORS), rows):
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
        for b in p.blocks(row_bytes(p.data.d, p.dtype, per_row=VECTORS)):
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
    L = lo.from_total(total[d], p.n)
    return float(L), (None if total[d + 1] else total[:d].astype(p.dtype))
