"""How far a computed gradient may be from the true one: the error model of one problem.

u is the unit roundoff (eps) of the dtype computed in; s its smallest subnormal.  The pieces
live apart, each with its formulas: the rounding of z, a, a chain-rule factor and the sum
g_j = sum_i X_ij d_i (:mod:`gd_torch.precision.rounding`: every method that evaluates the gradient's
formula to rounding is held to err_j = ``exact``), and a finite difference's noise, truncation
and rounding (:mod:`gd_torch.precision.difference_error`).  This module puts them together per problem,
per stage for explain and per candidate for diagnose.

A problem's model is built one way: every quantity is a sum over samples, so
:func:`partial_sums` takes those sums over a block of rows, the blocks' sums add up
(row blocks, ranks), and :func:`from_sums` makes the model from the totals.  :func:`build`
is the case of one block, all of X in memory (which also keeps that block's z and e_z for
kink detection).  On K ranks (gd_torch.distributed) the all-reduce adds K partial results,
which adds (K - 1) u sum_i |X_ij d_i| to err_j and (K - 1) u |L| to f_noise.

Two estimates agree at j when |g_A - g_B| <= SAFETY (err_A + err_B).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..base.blas import single_thread
from ..model.activations import Activation
from ..model.forward import delta
from ..model.losses import Loss
from .difference_error import loss_noise
from .rounding import (
    C_LOCAL,
    _delta_of,
    _inside,
    a_error,
    factor_error,
    sum_error,
    summed_error,
    unit_roundoff,
    z_and_error,
    z_error,
)

__all__ = [
    "SAFETY",
    "ErrorModel",
    "build",
    "candidate_error",
    "from_sums",
    "partial_sums",
    "stage_errors",
    "sums_length",
]

#: multiplies the summed error estimates into a tolerance.  The estimates are sizes, not strict
#: bounds: u sqrt(N) sum |x| is about 6 standard deviations of a running sum's rounding (the worst
#: common order; pairwise and blocked sums err far less), C_LOCAL u twice the worst case of a few
#: operations, a's and z's roundings measured or typical.  A margin of 2 covers the rest.
SAFETY: dict[str, float] = {"float64": 2.0, "float32": 2.0}


@dataclass(frozen=True)
class ErrorModel:
    """Per-problem quantities of the error model, computed once in float64."""

    u: float
    dtype: str
    #: rounding error estimate per coordinate for methods exact up to rounding
    exact: np.ndarray
    #: rounding noise of one evaluation of L
    f_noise: float
    #: relative rounding noise of one evaluation of L, u (sqrt(N) + C_LOCAL): the floor a
    #: finite difference applies to the values it actually subtracts (see numeric.estimate)
    f_rel: float
    #: z = X W in float64, for kink detection (None from :func:`from_sums`: no sample at hand;
    #: gd_torch.distributed puts a block's z and e_z in with dataclasses.replace)
    z: np.ndarray | None
    #: e_z: the rounding error of each z_i as a method computes it, (N,) (None from :func:`from_sums`)
    ez: np.ndarray | None
    #: L(W) in float64
    loss: float = 0.0
    #: S_j = sum_i |X_ij| |d_i| (d = dL/dz), (D,): the largest size g_j = sum_i X_ij d_i can have
    #: (|g_j| <= S_j, whatever the signs); the same sum the rounding term u sqrt(N) S_j is taken from
    size: np.ndarray | None = None
    #: N s: the subnormal floor of a sum over N samples (every sum over samples resolves no finer)
    floor: float = 0.0

    def tolerance(self, err_a: np.ndarray, err_b: np.ndarray) -> np.ndarray:
        return SAFETY[self.dtype] * (err_a + err_b)


def build(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation) -> ErrorModel:
    """The error model of one problem held in memory: :func:`from_sums` of :func:`partial_sums`
    over all of X as one block, with that block's z and e_z kept.

    An extra pass or two over X, BLAS on one thread so that a seeded model is bit for bit the
    same on any number of threads (checks are not hot paths).  Non-finite values (a loss or
    gradient that overflows) come out as inf or NaN, silently: the caller decides (see
    :mod:`gd_torch.base.finite`).
    """
    n = X.shape[0]
    block = _block_sums(W, X, y, lo, act, n)
    return replace(from_sums(block.sums, n, X.dtype, lo), z=block.z, ez=block.ez)


# ---- the model from sums over row blocks (gd_torch.distributed all-reduces them) ---------------


@dataclass(frozen=True)
class _Block:
    # partial_sums of one block of rows, with the block's z = X_b W and e_z (float64, (rows,))
    sums: np.ndarray
    z: np.ndarray
    ez: np.ndarray


#: the sums over samples partial_sums takes besides its two (D,) vectors: sum l_i, sum t_i, sum |d_i| e_z,i
_SCALARS = 3


def sums_length(d: int) -> int:
    """Length of :func:`partial_sums` for D columns: 2 D + 3 (an all-reduce sizes its buffer by it)."""
    return 2 * d + _SCALARS


def partial_sums(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation, n: int) -> np.ndarray:
    """The sums over samples the error model is made of, over the rows of X only: a block of a
    problem of ``n`` samples (dL/dz of a mean loss divides by n).

    Additive over row blocks and ranks.  Shape (2 D + 3,), float64: [sum_i |X_ij| |d_i|,
    sum_i |X_ij| err(d_i) (each over j), sum_i l_i, sum_i t_i, sum_i |d_i| e_z,i], with d = dL/dz,
    err(d_i) (:func:`gd_torch.precision.rounding.factor_error`), t_i the size of the pieces of l_i
    (``Loss.terms_abs``) and e_z (:func:`gd_torch.precision.rounding.z_and_error`), in float64.
    """
    return _block_sums(W, X, y, lo, act, n).sums


def _block_sums(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation, n: int) -> _Block:
    u = unit_roundoff(X.dtype)
    y64 = y.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"), single_thread():  # the same bits on any thread count
        z, ez = z_and_error(X, W, act)  # its (rows, D) float64 temporaries freed before |X| is made
        absX = np.abs(X, dtype=np.float64)  # |X| in float64 (abs is exact), one (rows, D) array
        a = act.f(z)
        d_z = delta(z, y64, lo, act, n, a)
        err_d = factor_error(_delta_of(y64, lo, act, n), z, a, act, u, ez, a_error(z, a, act, u), _inside(lo))
        scalars = [lo.terms(z, a, y64).sum(), lo.terms_abs(z, a, y64).sum(), np.abs(d_z) @ ez]
        return _Block(np.concatenate([absX.T @ np.abs(d_z), absX.T @ err_d, scalars]), z, ez)


def from_sums(sums: np.ndarray, n: int, dtype: np.dtype, lo: Loss, ranks: int = 1) -> ErrorModel:
    """The error model from :func:`partial_sums` taken over all n samples (``z``, ``ez`` None).

    exact_j = u sqrt(N) S_j + sum_i |X_ij| err(d_i) + N s (S_j = sum_i |X_ij d_i|),
    f_noise = :func:`gd_torch.precision.difference_error.loss_noise`, f_rel = u (sqrt(N) + C_LOCAL).

    ranks : how many partial results the all-reduce added (K ranks): adding K partial sums
        rounds each coordinate by at most (K - 1) u times the sum of their sizes, which is at
        most S_j for the gradient and |L| for the loss; nothing is added for one.
    """
    u = unit_roundoff(dtype)
    sub = float(np.finfo(dtype).smallest_subnormal)
    d = (sums.shape[0] - _SCALARS) // 2
    abs_sum, err_sum = sums[:d], sums[d : 2 * d]
    terms, pieces, d_ez = (float(v) for v in sums[2 * d :])
    L, pieces = lo.from_total(terms, n), lo.from_total(pieces, n)
    with np.errstate(over="ignore", invalid="ignore"):
        exact = summed_error(abs_sum, err_sum, n, u, sub)
        f_noise = loss_noise(L, pieces, d_ez, n, u, sub)
        if ranks > 1:  # the all-reduce's own rounding
            exact = exact + (ranks - 1) * u * abs_sum
            f_noise += (ranks - 1) * u * abs(L)
    f_rel = u * (np.sqrt(n) + C_LOCAL)
    return ErrorModel(u, str(np.dtype(dtype)), exact, f_noise, f_rel, None, None, L, abs_sum, n * sub)


# ---- explain: every stage's gradient by hand ----------------------------------------------------


def stage_errors(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation) -> dict[str, np.ndarray]:
    """Rounding error of dL/dT as computed by hand (or by autograd, independently), per entry,
    for the stages T = e, a, z of :func:`gd_torch.explain` (L's is 0; W's is ``build(...).exact``).

    Each is :func:`factor_error` of the stage's gradient as a function of (z, a):
    dL/da = dL/de is a function of a alone; e = a - y adds its own rounding u |e| to a's.
    """
    u = unit_roundoff(X.dtype)
    X64, W64, y64 = X.astype(np.float64), W.astype(np.float64), y.astype(np.float64)
    n = X64.shape[0]
    z = X64 @ W64
    a = act.f(z)
    e_z, e_a = z_error(X64, W64, u), a_error(z, a, act, u)
    inside = _inside(lo)

    def g_a(z_, a_):
        return lo.dL_da(a_, y64, n)

    return {
        "e": factor_error(g_a, z, a, act, u, e_z, e_a + u * np.abs(a - y64), inside),
        "a": factor_error(g_a, z, a, act, u, e_z, e_a, inside),
        "z": factor_error(_delta_of(y64, lo, act), z, a, act, u, e_z, e_a, inside),
    }


# ---- diagnose: a candidate's vector --------------------------------------------------------------


def candidate_error(
    d_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
    paired: bool,
    W64: np.ndarray,
    X64: np.ndarray,
    lo: Loss,
    act: Activation,
    u: float,
) -> np.ndarray:
    """err_j of a candidate v = X^T d(z, a) (or mean_i X_i sum_i d_i) computed in precision u:
    :func:`sum_error` of :func:`factor_error`, as for the exact gradient."""
    z = X64 @ W64
    a = act.f(z)
    err_d = factor_error(d_of, z, a, act, u, z_error(X64, W64, u), a_error(z, a, act, u), _inside(lo))
    with np.errstate(over="ignore", invalid="ignore"):
        return sum_error(np.abs(X64), d_of(z, a), err_d, u, 0.0, paired)
