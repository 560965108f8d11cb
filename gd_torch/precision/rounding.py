"""Rounding of the exact gradient's formula: z, a, one chain-rule factor, and the sum over samples.

u is the unit roundoff (eps) of the dtype computed in; s its smallest subnormal.

**z and a.**  z_i = X_i . W carries e_z,i = sqrt(D) u (|X| |W|)_i (a dot product's typical
rounding), except a z_i exactly on a kink in X's dtype, in float64 and in 80-bit arithmetic
alike, which is taken as computed without rounding (W = 0; small integers).  a = f(z) carries its
own rounding e_a,i = R u |a_i|, R the activation's ``rounding_used`` (its declared ``rounding``,
gd_torch.model.activations): measured against 200-bit values over z in [-45, 45], scipy's and
torch's sigmoid err by up to 1.12 u |a| (R = 1.5), numpy's and torch's tanh by 0.49 u |a|
(R = 0.75), and ReLU and the identity return z or 0 exactly (R = 0); an activation that declares
none is taken at DEFAULT_ROUNDING = 2.  Where a saturates, an activation that rounds to its
limit (the sigmoid at 0 and 1, tanh at -1 and 1) returns the limit itself once the true a is
close enough to it, so e_a,i = min(R u |a_i|, C_SAT dist_i) with dist_i = |limit - a_i| computed
without cancellation (the activation's ``limit_distance``).  Measured on the same grid: the sigmoid (scipy,
torch) and float64 tanh (numpy, torch) err by at most 1.0 - 1.1 dist; numpy's float32 tanh stays
one ulp below 1 until dist < ulp / 13, an error of up to 13 dist: C_SAT = 16.  A deeply saturated
term's rounding then moves it by a few times its own size, where u |a| would charge it a full
unit roundoff.

**One factor** d_i = d(z_i, a_i) (dL/dz, dL/da, or a candidate's per-sample vector) computed
from the rounded z and a errs by (:func:`factor_error`)

    err(d_i) = C_LOCAL u |d_i| + |dd/da|_i e_a,i + |dd/dz|_i e_z,i      (to first order)

the first term for the few roundings of the operations themselves (each relative to the result:
1 - a is exact beside a, by Sterbenz's lemma, and a product or a difference of two rounded
numbers errs relative to its value); the second for a's own rounding taken through everything
computed from a (this is where 1 - a and 1 - a^2 lose their relative accuracy as a -> 1, and
where the rounding of a*a inside 1 - a^2 shows: it is a relative perturbation of a); the third
for z's, through z and a = f(z) together (dd/dz the total derivative).  The derivatives are
central differences of d in float64; where e_a is as large as a's distance to saturation the
first order is not enough (with y = 1, p = 2 (a - y) and q = 1 - a^2 both vanish and d moves
quadratically), so each term is the larger of slope * e and the secants |d(t +- e) - d(t)|.

**The sum** g_j = sum_i X_ij d_i (:func:`sum_error`):

    err_j = u sqrt(N) sum_i |X_ij d_i| + sum_i |X_ij| err(d_i) + N s

(the probabilistic size of a sum's rounding, worst for a running sum; subnormal products and
sums are only accurate to s, absolute).  Every method that evaluates this formula to rounding
(analytic, autograd, the tutorial formula, the complex step) is held to err_j = ``exact``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..model.activations import Activation
from ..model.forward import delta
from ..model.losses import Loss

#: rounding errors in forming one chain-rule factor (a few operations each)
C_LOCAL = 4.0
#: a saturating activation's rounding is at most C_SAT times its distance to its limit
C_SAT = 16.0
_ROOT_EPS = float(np.sqrt(np.finfo(np.float64).eps))


def unit_roundoff(dtype) -> float:
    return float(np.finfo(dtype).eps)


def z_error(X64: np.ndarray, W64: np.ndarray, u: float) -> np.ndarray:
    """e_z,i = sqrt(D) u (|X| |W|)_i, (N,)."""
    return np.sqrt(X64.shape[1]) * u * (np.abs(X64) @ np.abs(W64))


def a_error(z: np.ndarray, a: np.ndarray, act: Activation, u: float) -> np.ndarray:
    """e_a,i = min(R u |a_i|, C_SAT dist_i): a's own rounding (R = ``act.rounding_used``), bounded
    near the limit a rounds to (dist_i = ``act.limit_distance(z_i)``, where the activation has one)."""
    e = act.rounding_used * u * np.abs(a)
    limit = act.limit_distance
    return e if limit is None else np.minimum(e, C_SAT * limit(z))


def factor_error(
    d_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
    z: np.ndarray,
    a: np.ndarray,
    act: Activation,
    u: float,
    e_z: np.ndarray,
    e_a: np.ndarray,
    a_inside: tuple[float, float] | None = None,
) -> np.ndarray:
    """err(d_i) = C_LOCAL u |d_i| + (a's rounding through d) + (z's rounding through d), float64 (N,).

    Each rounding is taken through d as the larger of |slope| * e and the secants
    |d(t +- e) - d(t)|: where e is as large as the distance to saturation, a product of two
    vanishing factors (p = 2 (a - y) and q = 1 - a^2 with y = 1) moves quadratically, which the
    slope alone misses.  ``a_inside``: an open interval a must stay in ((0, 1) where d divides
    by a (1 - a)).
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d = d_of(z, a)
        # steps in z stop short of a kink of f; a sample within its rounding e_z of one may be taken
        # on either side by any method: that is the checker's kink allowance, not rounding
        gap = np.min([np.abs(z - k) for k in act.kinks], axis=0) if act.kinks else np.inf
        s = np.minimum(_ROOT_EPS * np.maximum(1.0, np.abs(z)), 0.5 * gap)
        s = np.where(s > 0, s, np.finfo(np.float64).tiny)
        through_z = np.where(gap > e_z, _moved(lambda t: d_of(t, act.f(t)), z, s, e_z), 0.0)
        sa = _ROOT_EPS * np.maximum(np.abs(a), np.finfo(np.float64).tiny)
        if a_inside is not None:  # stay inside: half the distance to the nearer end
            lo, hi = a_inside
            room = 0.5 * np.minimum(a - lo, hi - a)
            sa, e_a = np.minimum(sa, room), np.minimum(e_a, room)
            sa = np.where(sa > 0, sa, np.finfo(np.float64).tiny)
        through_a = _moved(lambda t: d_of(z, t), a, sa, e_a)
        return C_LOCAL * u * np.abs(d) + through_a + through_z


def _moved(fn, t, s, e):
    # how far fn moves when t moves by e: max(|slope| e, |fn(t + e) - fn(t)|, |fn(t - e) - fn(t)|);
    # the slope is a central difference at step s; a value that is not finite counts as 0
    at = fn(t)
    pieces = (
        np.abs(fn(t + s) - fn(t - s)) / (2 * s) * e,
        np.abs(fn(t + e) - at),
        np.abs(fn(t - e) - at),
    )
    return np.max([np.where(np.isfinite(p), p, 0.0) for p in pieces], axis=0)


def sum_error(
    absX: np.ndarray, d: np.ndarray, err_d: np.ndarray, u: float, subnormal: float, paired: bool = True
) -> np.ndarray:
    """err_j of g_j = sum_i X_ij d_i: u sqrt(N) sum_i |X_ij d_i| + sum_i |X_ij| err(d_i) + N s, (D,).

    paired=False: g = mean_i X_i * sum_i d_i (the candidate that does not pair samples).
    """
    n = absX.shape[0]
    combine = (lambda M, v: M.T @ v) if paired else (lambda M, v: M.mean(axis=0) * v.sum())
    return summed_error(combine(absX, np.abs(d)), combine(absX, err_d), n, u, subnormal)


def summed_error(abs_sum: np.ndarray, err_sum: np.ndarray, n: int, u: float, subnormal: float) -> np.ndarray:
    """:func:`sum_error` from its two sums over samples, sum_i |X_ij d_i| and sum_i |X_ij| err(d_i), (D,)."""
    return u * np.sqrt(n) * abs_sum + err_sum + n * subnormal


def z_and_error(X: np.ndarray, W: np.ndarray, act: Activation) -> tuple[np.ndarray, np.ndarray]:
    """z = X W in float64 and its rounding e_z (:func:`z_error`, 0 for a z exactly on a kink), (N,) each."""
    X64, W64 = X.astype(np.float64), W.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        z = X64 @ W64
        return z, np.where(_exactly_at_kink(X, W, z, act), 0.0, z_error(X64, W64, unit_roundoff(X.dtype)))


def _exactly_at_kink(X: np.ndarray, W: np.ndarray, z64: np.ndarray, act: Activation) -> np.ndarray:
    # z_i exactly on a kink in X's dtype, in float64 and in 80-bit: computed without rounding (W = 0,
    # or small integers), so that no method can round it to the other side (e_z = 0 there)
    out = np.zeros(z64.shape, dtype=bool)
    for k in act.kinks:
        rows = np.flatnonzero(z64 == k)
        if rows.size:
            ld = np.longdouble
            same = ((X[rows] @ W) == k) & ((X[rows].astype(ld) @ W.astype(ld)) == k)
            out[rows[same]] = True
    return out


def _delta_of(y: np.ndarray, lo: Loss, act: Activation, n: int | None = None):
    # dL/dz as a function of (z, a), the way the methods form it (gd_torch.model.forward.delta)
    return lambda z, a: delta(z, y, lo, act, n, a)


def _inside(lo: Loss) -> tuple[float, float] | None:
    # a cross-entropy's dL/da divides by a (1 - a): steps in a stay inside (0, 1)
    return (0.0, 1.0) if lo.binary else None
