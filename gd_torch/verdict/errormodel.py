"""How far a computed gradient may be from the true one: the error model of one problem.

u is the unit roundoff (eps) of the dtype computed in; s its smallest subnormal.  The pieces
live apart, each with its formulas: the rounding of z, a, a chain-rule factor and the sum
g_j = sum_i X_ij d_i (:mod:`gd_torch.verdict.rounding`: every method that evaluates the gradient's
formula to rounding is held to err_j = ``exact``), and a finite difference's noise, truncation
and rounding (:mod:`gd_torch.verdict.difference_error`).  This module puts them together per problem
(:func:`build`), per stage for explain and per candidate for diagnose; every name stays
importable from here.

On K ranks (gd_torch.distributed) every sum over samples above is taken globally: each rank's
:func:`partial_sums` over its rows, all-reduced, then :func:`from_sums`; the all-reduce adds K
partial results, which adds (K - 1) u sum_i |X_ij d_i| to err_j and (K - 1) u |L| to f_noise.

Two estimates agree at j when |g_A - g_B| <= SAFETY (err_A + err_B).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..gradients._blas import single_thread
from ..model.activations import Activation
from ..model.forward import delta, loss_from_z, reduce
from ..model.losses import Loss
from .difference_error import (
    NOISE_AMPLIFICATION,
    TRUNCATION_DENOM,
    difference_error,
    loss_noise,
    relative_noise,
    stage_difference_noise,
)
from .rounding import (
    C_LOCAL,
    C_SAT,
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
    "C_LOCAL",
    "C_SAT",
    "NOISE_AMPLIFICATION",
    "SAFETY",
    "TRUNCATION_DENOM",
    "ErrorModel",
    "a_error",
    "build",
    "candidate_error",
    "difference_error",
    "factor_error",
    "from_sums",
    "loss_noise",
    "partial_sums",
    "relative_noise",
    "stage_difference_noise",
    "stage_errors",
    "sum_error",
    "summed_error",
    "unit_roundoff",
    "z_and_error",
    "z_error",
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
    """The error model of one problem (an extra pass or two over X, BLAS on one thread so that a
    seeded model is bit for bit the same on any number of threads: checks are not hot paths).

    Non-finite values (a loss or gradient that overflows) come out as inf or NaN, silently:
    the caller decides (see :mod:`gd_torch.base.finite`).
    """
    u = unit_roundoff(X.dtype)
    sub = float(np.finfo(X.dtype).smallest_subnormal)
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    n = X64.shape[0]
    # BLAS on one thread: its sums over samples then give the same bits on any number of threads
    with np.errstate(over="ignore", invalid="ignore"), single_thread():
        z, ez = z_and_error(X, W, act)
        a = act.f(z)
        ea = a_error(z, a, act, u)
        d_z = delta(z, y64, lo, act)
        err_d = factor_error(_delta_of(y64, lo, act), z, a, act, u, ez, ea, _inside(lo))
        absX = np.abs(X64)
        size = absX.T @ np.abs(d_z)
        exact = summed_error(size, absX.T @ err_d, n, u, sub)  # sum_error's, from the one S_j
        L = float(loss_from_z(z, y64, lo, act))
        pieces = float(reduce(lo, lo.terms_abs(z, a, y64)))
        f_noise = loss_noise(L, pieces, float(np.abs(d_z) @ ez), n, u, sub)
    return ErrorModel(u, str(X.dtype), exact, f_noise, u * (np.sqrt(n) + C_LOCAL), z, ez, L, size, n * sub)


# ---- the same model from sums over row blocks (gd_torch.distributed all-reduces them) --------


def partial_sums(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation, n: int) -> np.ndarray:
    """The sums over samples :func:`build` takes, over the rows of X only: a block of a problem
    of ``n`` samples (dL/dz of a mean loss divides by n).

    Additive over row blocks and ranks.  Shape (2 D + 3,), float64: [sum_i |X_ij| |d_i|,
    sum_i |X_ij| err(d_i) (each over j), sum_i l_i, sum_i t_i, sum_i |d_i| e_z,i], with d = dL/dz,
    err(d_i) (:func:`factor_error`) and e_z as in :func:`build`, computed in float64.
    """
    u = unit_roundoff(X.dtype)
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    absX = np.abs(X64)
    with np.errstate(over="ignore", invalid="ignore"), single_thread():  # the same bits on any thread count
        z, ez = z_and_error(X, W, act)
        a = act.f(z)
        d_z = delta(z, y64, lo, act, n, a)
        err_d = factor_error(_delta_of(y64, lo, act, n), z, a, act, u, ez, a_error(z, a, act, u), _inside(lo))
        scalars = [lo.terms(z, a, y64).sum(), lo.terms_abs(z, a, y64).sum(), np.abs(d_z) @ ez]
        return np.concatenate([absX.T @ np.abs(d_z), absX.T @ err_d, scalars])


def from_sums(sums: np.ndarray, n: int, dtype: np.dtype, lo: Loss, ranks: int = 1) -> ErrorModel:
    """:func:`build`'s model from :func:`partial_sums` taken over all n samples (``z``, ``ez`` None).

    ranks : how many partial results the all-reduce added (K ranks): adding K partial sums
        rounds each coordinate by at most (K - 1) u times the sum of their sizes, which is at
        most sum_i |X_ij d_i| for the gradient and |L| for the loss.
    """
    u = unit_roundoff(dtype)
    sub = float(np.finfo(dtype).smallest_subnormal)
    d = (sums.shape[0] - 3) // 2
    abs_sum, err_sum = sums[:d], sums[d : 2 * d]
    terms, pieces, d_ez = (float(v) for v in sums[2 * d :])
    L, pieces = lo.from_total(terms, n), lo.from_total(pieces, n)
    with np.errstate(over="ignore", invalid="ignore"):
        exact = summed_error(abs_sum, err_sum, n, u, sub) + (ranks - 1) * u * abs_sum
        f_noise = loss_noise(L, pieces, d_ez, n, u, sub) + (ranks - 1) * u * abs(L)
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
