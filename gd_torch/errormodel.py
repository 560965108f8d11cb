"""How far apart two correct gradients may be: tolerances predicted from rounding error.

u is the unit roundoff (eps) of the dtype computed in.  For g = X^T d with d = dL/dz:

* summation:     |error of sum_i X_ij d_i|  ~  sqrt(N) u sum_i |X_ij d_i|
  (the probabilistic bound for recursive and blocked sums; the worst case is N u)
* local factors: each d_i is a product p q of the chain-rule factors p = dL/da and
  q = da/dz, each carrying an absolute error ~ u times the size of its pieces before
  cancellation, P = |dL/da|_pieces and Q = |da/dz|_pieces (e.g. P = 2(|a| + |y|) for sse,
  Q = a(1 - a) + 1 for the sigmoid: 1 - a loses all its relative accuracy as a -> 1).
  To first order the product's error is u (|p| Q + P |q|), so m_i = |p| Q + P |q|.
  (The product of the piece sizes, P Q, is also a bound but a loose one: for a saturated,
  correctly classified sample, a -> y = 1, both p and q vanish while P Q stays ~ 4, and on
  the tutorial's data with sse it held analytic vs autograd to a tolerance 1e4 - 1e5 times
  the difference actually seen.)
* z itself:      z_i = X_i . W carries ~ sqrt(D) u |X_i| . |W|, moved into d_i by dd/dz.
* underflow:     products and sums with subnormal results are only accurate to the
  smallest subnormal s (absolute, not relative: u |x| underestimates it), N of each: 2 N s/2.

    err_j = u [ sqrt(N) sum_i |X_ij d_i| + C_LOCAL sum_i |X_ij| m_i + sum_i |X_ij| |dd/dz|_i ez_i ] + N s

Every method that evaluates this formula to rounding (analytic, autograd, the tutorial
formula, the complex step) is held to err_j.  A finite difference brings its own estimate
(truncation read off a second step, plus rounding of L amplified by 1/h), for which the
noise of one evaluation of L is

    f_noise = u [ sqrt(N) |L| + C_LOCAL reduce_i(t_i) + sum_i |dL/dz_i| ez_i ] + N s     (the terms of L are >= 0)

where t_i = Loss.terms_abs is the size of the pieces of the term l_i before they cancel.
Using |l_i| there instead (as if each term were computed to relative accuracy) misses the
cancellation inside a term: for l = (a - y)^2 the rounding error of a (~ u |a|) reaches l
as ~ 2 |a - y| u |a|, which is far above u l when a is close to y; for bce, softplus(z) - y z
with y = 1 and large z is a small difference of two numbers of size ~ z.  On a single
sample (N = 1), where no sqrt(N) |L| term hides it, the old estimate fell 2x below the
noise actually measured (against an 80-bit evaluation) and central, forward and Richardson
differences overshot their predicted error by up to 1.6x.

A finite difference takes as the noise of its values at least f_rel |L(P)|, with
f_rel = u (sqrt(N) + C_LOCAL), at each point P = W +- h e_j it evaluates: near an exact fit
L(W) ~ 0 while L(P) ~ h^2, and f_noise at W alone would predict no noise at all.

On K ranks (gd_torch.distributed) every sum over samples above is taken globally: each
rank's :func:`partial_sums` over its rows, all-reduced, then :func:`from_sums`; the all-reduce
adds K partial results, which adds (K - 1) u sum_i |X_ij d_i| to err_j and (K - 1) u |L| to f_noise.

Two methods agree at j when |g_A - g_B| <= SAFETY * (err_A + err_B).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import Activation, Loss, delta, loss_from_z, reduce

#: multiplies the summed error estimates into a tolerance: the estimates are typical
#: sizes (sqrt(N), sqrt(D)), not worst-case bounds, so a small margin is kept
SAFETY: dict[str, float] = {"float64": 4.0, "float32": 4.0}
#: rounding errors in forming one chain-rule factor (a few operations each)
C_LOCAL = 4.0


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
    #: finite difference applies to the values it actually subtracts (see numeric.grad)
    f_rel: float
    #: z = X W in float64, for kink detection (None from :func:`from_sums`: no sample at hand)
    z: np.ndarray | None

    def tolerance(self, err_a: np.ndarray, err_b: np.ndarray) -> np.ndarray:
        return SAFETY[self.dtype] * (err_a + err_b)


def build(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation) -> ErrorModel:
    """The error model of one problem (an extra pass or two over X: checks are not hot paths)."""
    u = float(np.finfo(X.dtype).eps)
    X64, W64, y64 = X.astype(np.float64), W.astype(np.float64), y.astype(np.float64)
    n, d = X64.shape
    absX = np.abs(X64)
    z = X64 @ W64
    a = act.f(z)
    d_z = delta(z, y64, lo, act)
    if lo.dL_dz is not None:  # fused dL/dz: its own pieces
        m = lo.dL_abs(a, y64, n)
    else:  # d = p q: u (|p| Q + P |q|)
        m = np.abs(lo.dL_da(a, y64, n)) * act.df_abs(z, a) + lo.dL_abs(a, y64, n) * np.abs(act.df(z, a))
    s = np.sqrt(np.finfo(np.float64).eps) * np.maximum(1.0, np.abs(z))
    dd_dz = np.abs(delta(z + s, y64, lo, act) - delta(z - s, y64, lo, act)) / (2 * s)
    ez = np.sqrt(d) * (absX @ np.abs(W64))
    exact = u * (np.sqrt(n) * (absX.T @ np.abs(d_z)) + C_LOCAL * (absX.T @ m) + absX.T @ (dd_dz * ez))
    exact += n * float(np.finfo(X.dtype).smallest_subnormal)
    L = float(loss_from_z(z, y64, lo, act))
    pieces = float(reduce(lo, lo.terms_abs(z, a, y64)))
    f_noise = u * (np.sqrt(n) * abs(L) + C_LOCAL * pieces + float(np.abs(d_z) @ ez))
    f_noise += n * float(np.finfo(X.dtype).smallest_subnormal)  # underflow, as in exact
    return ErrorModel(u, str(X.dtype), exact, f_noise, u * (np.sqrt(n) + C_LOCAL), z)


# ---- the same model from sums over row blocks (gd_torch.distributed all-reduces them) --------


def partial_sums(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation, n: int) -> np.ndarray:
    """The sums over samples :func:`build` takes, over the rows of X only: a block of a problem
    of ``n`` samples (dL/dz of a mean loss divides by n).

    Additive over row blocks and ranks.  Shape (3 D + 3,), float64: [sum_i |X_ij| |d_i|,
    sum_i |X_ij| m_i, sum_i |X_ij| |dd/dz|_i ez_i (each over j), sum_i l_i, sum_i t_i,
    sum_i |d_i| ez_i], with d, m, dd/dz, ez as in :func:`build`, computed in float64.
    """
    X64, W64, y64 = X.astype(np.float64), W.astype(np.float64), y.astype(np.float64)
    absX = np.abs(X64)
    z = X64 @ W64
    a = act.f(z)
    d_z = delta(z, y64, lo, act, n, a)
    if lo.dL_dz is not None:  # fused dL/dz: its own pieces
        m = lo.dL_abs(a, y64, n)
    else:  # d = p q: u (|p| Q + P |q|)
        m = np.abs(lo.dL_da(a, y64, n)) * act.df_abs(z, a) + lo.dL_abs(a, y64, n) * np.abs(act.df(z, a))
    s = np.sqrt(np.finfo(np.float64).eps) * np.maximum(1.0, np.abs(z))
    dd_dz = np.abs(delta(z + s, y64, lo, act, n) - delta(z - s, y64, lo, act, n)) / (2 * s)
    ez = np.sqrt(X64.shape[1]) * (absX @ np.abs(W64))
    scalars = [lo.terms(z, a, y64).sum(), lo.terms_abs(z, a, y64).sum(), np.abs(d_z) @ ez]
    return np.concatenate([absX.T @ np.abs(d_z), absX.T @ m, absX.T @ (dd_dz * ez), scalars])


def from_sums(sums: np.ndarray, n: int, dtype: np.dtype, lo: Loss, ranks: int = 1) -> ErrorModel:
    """:func:`build`'s model from :func:`partial_sums` taken over all n samples (``z`` None).

    ranks : how many partial results the all-reduce added (K ranks): adding K partial sums
        rounds each coordinate by at most (K - 1) u times the sum of their sizes, which is at
        most sum_i |X_ij d_i| for the gradient and |L| for the loss.
    """
    u = float(np.finfo(dtype).eps)
    d = (sums.shape[0] - 3) // 3
    absX_d, absX_m, absX_ddez = sums[:d], sums[d : 2 * d], sums[2 * d : 3 * d]
    terms, pieces, d_ez = (float(v) for v in sums[3 * d :])
    L, pieces = (terms / n, pieces / n) if lo.reduction == "mean" else (terms, pieces)
    underflow = n * float(np.finfo(dtype).smallest_subnormal)
    exact = u * (np.sqrt(n) * absX_d + C_LOCAL * absX_m + absX_ddez + (ranks - 1) * absX_d) + underflow
    f_noise = u * (np.sqrt(n) * abs(L) + C_LOCAL * pieces + d_ez + (ranks - 1) * abs(L)) + underflow
    return ErrorModel(u, str(np.dtype(dtype)), exact, f_noise, u * (np.sqrt(n) + C_LOCAL), None)
