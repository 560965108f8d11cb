"""How far a computed gradient may be from the true one: every rounding and truncation estimate.

u is the unit roundoff (eps) of the dtype computed in; s its smallest subnormal.

**z and a.**  z_i = X_i . W carries e_z,i = sqrt(D) u (|X| |W|)_i (a dot product's typical
rounding), except a z_i exactly on a kink in X's dtype, in float64 and in 80-bit arithmetic
alike, which is taken as computed without rounding (W = 0; small integers).  a = f(z) carries its
own rounding e_a,i = A_ROUNDING u |a_i|: measured against 200-bit values over z in [-45, 45],
scipy's and torch's sigmoid err by up to 1.12 u |a|, numpy's and torch's tanh by 0.49 u |a|, and
ReLU and the identity return z or 0 exactly.  Where a saturates, an activation that rounds to its
limit (the sigmoid at 0 and 1, tanh at -1 and 1) returns the limit itself once the true a is
close enough to it, so e_a,i = min(A_ROUNDING u |a_i|, C_SAT dist_i) with dist_i = |limit - a_i|
computed without cancellation (LIMIT_DISTANCE).  Measured on the same grid: the sigmoid (scipy,
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

**Noise of one evaluation of L** (for finite differences):

    f_noise = u [ sqrt(N) |L| + C_LOCAL reduce_i(t_i) + sum_i |dL/dz_i| e_z,i ] + N s

with t_i = Loss.terms_abs the size of the pieces of l_i before they cancel ((a - y)^2 as a -> y;
softplus(z) - y z for large z).  A difference also takes as its noise at least f_rel |L(P)|,
f_rel = u (sqrt(N) + C_LOCAL), at each point P it evaluates (near an exact fit L(W) ~ 0 while
L(P) ~ h^2).

**A finite difference** D(h) with leading truncation c h^k: D(h) - D(2h) = c h^k (1 - 2^k), so
its truncation is |D(h) - D(2h)| / (2^k - 1) (TRUNCATION_DENOM), valid while the step is in the
range where the leading term dominates (numeric.py keeps z's perturbation there); its rounding
is the noise of the values subtracted, amplified by the scheme's weights over h
(NOISE_AMPLIFICATION): :func:`difference_error`.

On K ranks (gd_torch.distributed) every sum over samples above is taken globally: each rank's
:func:`partial_sums` over its rows, all-reduced, then :func:`from_sums`; the all-reduce adds K
partial results, which adds (K - 1) u sum_i |X_ij d_i| to err_j and (K - 1) u |L| to f_noise.

Two estimates agree at j when |g_A - g_B| <= SAFETY (err_A + err_B).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from .model import Activation, Loss, delta, loss_from_z, reduce

#: multiplies the summed error estimates into a tolerance.  The estimates are sizes, not strict
#: bounds: u sqrt(N) sum |x| is about 6 standard deviations of a running sum's rounding (the worst
#: common order; pairwise and blocked sums err far less), C_LOCAL u twice the worst case of a few
#: operations, a's and z's roundings measured or typical.  A margin of 2 covers the rest.
SAFETY: dict[str, float] = {"float64": 2.0, "float32": 2.0}
#: rounding errors in forming one chain-rule factor (a few operations each)
C_LOCAL = 4.0
#: a = f(z)'s own rounding in units of u |a| (measured, with a margin; 2 for an activation not listed)
A_ROUNDING: dict[str, float] = {"sigmoid": 1.5, "tanh": 0.75, "relu": 0.0, "identity": 0.0}
#: a saturating activation's rounding is at most C_SAT times its distance to its limit
C_SAT = 16.0
#: |limit - f(z)| without cancellation, for the activations that round to a finite limit
LIMIT_DISTANCE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": lambda z: special.expit(-np.abs(z)),  # 1 - sigmoid(|z|) = sigmoid(-|z|)
    "tanh": lambda z: 2 * special.expit(-2 * np.abs(z)),  # 1 - tanh(|z|) = 2 / (1 + e^(2|z|))
}
#: central difference of L read at steps h and 2h: truncation ~ |D(h) - D(2h)| / TRUNCATION_DENOM
TRUNCATION_DENOM: dict[str, float] = {"central": 3.0, "forward": 1.0, "richardson": 15.0, "complex": np.inf}
#: how rounding noise of one evaluation reaches a difference: |error| <= amp * noise / h
NOISE_AMPLIFICATION: dict[str, float] = {"central": 1.0, "forward": 2.0, "richardson": 6.0, "complex": 0.0}
_ROOT_EPS = float(np.sqrt(np.finfo(np.float64).eps))


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

    def tolerance(self, err_a: np.ndarray, err_b: np.ndarray) -> np.ndarray:
        return SAFETY[self.dtype] * (err_a + err_b)


def unit_roundoff(dtype) -> float:
    return float(np.finfo(dtype).eps)


def z_error(X64: np.ndarray, W64: np.ndarray, u: float) -> np.ndarray:
    """e_z,i = sqrt(D) u (|X| |W|)_i, (N,)."""
    return np.sqrt(X64.shape[1]) * u * (np.abs(X64) @ np.abs(W64))


def a_error(z: np.ndarray, a: np.ndarray, act: Activation, u: float) -> np.ndarray:
    """e_a,i = min(A_ROUNDING u |a_i|, C_SAT dist_i): a's own rounding, bounded near the limit a rounds to."""
    e = A_ROUNDING.get(act.name, 2.0) * u * np.abs(a)
    limit = LIMIT_DISTANCE.get(act.name)
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


def loss_noise(L: float, pieces: float, d_ez: float, n: int, u: float, subnormal: float) -> float:
    """f_noise = u [sqrt(N) |L| + C_LOCAL reduce_i(t_i) + sum_i |dL/dz_i| e_z,i] + N s."""
    return u * (np.sqrt(n) * abs(L) + C_LOCAL * pieces + d_ez) + n * subnormal


def build(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation) -> ErrorModel:
    """The error model of one problem (an extra pass or two over X: checks are not hot paths).

    Non-finite values (a loss or gradient that overflows) come out as inf or NaN, silently:
    the caller decides (see :mod:`gd_torch._finite`).
    """
    u = unit_roundoff(X.dtype)
    sub = float(np.finfo(X.dtype).smallest_subnormal)
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    n = X64.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        z, ez = z_and_error(X, W, act)
        a = act.f(z)
        ea = a_error(z, a, act, u)
        d_z = delta(z, y64, lo, act)
        err_d = factor_error(_delta_of(y64, lo, act), z, a, act, u, ez, ea, _inside(lo))
        exact = sum_error(np.abs(X64), d_z, err_d, u, sub)
        L = float(loss_from_z(z, y64, lo, act))
        pieces = float(reduce(lo, lo.terms_abs(z, a, y64)))
        f_noise = loss_noise(L, pieces, float(np.abs(d_z) @ ez), n, u, sub)
    return ErrorModel(u, str(X.dtype), exact, f_noise, u * (np.sqrt(n) + C_LOCAL), z, ez, L)


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
    # dL/dz as a function of (z, a), the way the methods form it
    n = y.shape[0] if n is None else n
    if lo.dL_dz is not None:
        return lambda z, a: lo.dL_dz(a, y, n)
    return lambda z, a: lo.dL_da(a, y, n) * act.df(z, a)


def _inside(lo: Loss) -> tuple[float, float] | None:
    # a cross-entropy's dL/da divides by a (1 - a): steps in a stay inside (0, 1)
    return (0.0, 1.0) if lo.binary else None


def relative_noise(n: int, d: int, zeta: float, u: float) -> float:
    """The rounding noise of one evaluation of L relative to its size, as a finite difference sees
    it: u (sqrt(N) + C_LOCAL) from the terms and their sum (f_rel), and u sqrt(D) zeta from z's own
    rounding (zeta = sum_j max_i |X_ij| |W_j| bounds |X_i| . |W|, on the activation's scale of 1)."""
    return u * (np.sqrt(n) + C_LOCAL + np.sqrt(d) * zeta)


def difference_error(g1: np.ndarray, g2: np.ndarray, scheme: str, noise: np.ndarray, h: np.ndarray) -> np.ndarray:
    """A finite difference's error: truncation read off the steps h and 2h, plus rounding noise / h."""
    return np.abs(g2 - g1) / TRUNCATION_DENOM[scheme] + NOISE_AMPLIFICATION[scheme] * noise / h


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
    with np.errstate(over="ignore", invalid="ignore"):
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
    L, pieces = (terms / n, pieces / n) if lo.reduction == "mean" else (terms, pieces)
    with np.errstate(over="ignore", invalid="ignore"):
        exact = summed_error(abs_sum, err_sum, n, u, sub) + (ranks - 1) * u * abs_sum
        f_noise = loss_noise(L, pieces, d_ez, n, u, sub) + (ranks - 1) * u * abs(L)
    return ErrorModel(u, str(np.dtype(dtype)), exact, f_noise, u * (np.sqrt(n) + C_LOCAL), None, None, L)


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


def stage_difference_noise(
    lo: Loss, u: float, r: float, subtracted: np.ndarray, seen: np.ndarray, slope: np.ndarray, extra: np.ndarray
) -> np.ndarray:
    """Rounding noise of l_i(T_i +- h_i) in explain's per-entry central differences: C_LOCAL u times
    r |l_i| (the values subtracted), |T_i| |dl/dT_i| (the point as the terms see it, e.g. 1 - a),
    and ``extra`` (the pieces that cancel inside a term: |z| for softplus(z) - y z, |dL/da| |a| for
    a = f(z +- h) rounded inside the terms)."""
    return C_LOCAL * u * (r * subtracted + seen * np.abs(slope) + extra)


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
