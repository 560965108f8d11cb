"""Finite-difference gradients of the objective, treated as a black box.

Only values of L(W) are used.  For coordinate j with step h_j and unit vector e_j:

    central     (L(W + h e_j) - L(W - h e_j)) / 2h        truncation ~ h^2 L''' / 6
    forward     (L(W + h e_j) - L(W)) / h                  truncation ~ h L'' / 2
    richardson  (4 D(h/4) - D(h/2)) / 3 on central D       truncation ~ h^4
    complex     Im L(W + i h e_j) / h                      no subtraction: exact to rounding

The default step is chosen in z-space: moving W_j by h_j moves z_i = X_i W by X_ij h_j, so
h_j = t / c_j with c_j = max_i |X_ij| moves every z_i by at most t, whatever the column's scale.
t balances truncation (~ t^k in z, on the activation's scale of 1) against the rounding noise of
one evaluation of L relative to its size, r = u (sqrt(N) + C_LOCAL + sqrt(D) zeta) with
zeta = sum_j c_j |W_j| >= |X_i| . |W| for z's own rounding (errormodel.relative_noise):
t = r^p with p = 1/3 (central), 1/2 (forward), 1/5 (richardson); the complex step subtracts
nothing, t = eps^2.
So the truncation read off the steps h and 2h is in the range where its leading term holds,
and no column's step is too large (z moved by ~1 for a column of scale 1e3) or too small.
Without X (``default_steps(W, scheme)``) the older W-space rule eps^p max(1, |W_j|) is used.

All perturbed weight vectors are stacked into a (k, D) matrix and evaluated together:
X is read once, in row blocks, each block meeting all k perturbations in one matrix
product Z_b = X_b @ Wb^T small enough to stay in the cache; the blocks are spread over
the cores.  Not one Python call per coordinate (unless ``batch=1`` asks for exactly that).

With ``f_noise`` (the absolute rounding error of one evaluation of L, from the caller's
error model) an error estimate per coordinate is returned too: the truncation error read
off the same difference at twice the step, plus the rounding error f_noise / h amplified
by the scheme's weights (the noise taken as at least ``f_rel`` times the values actually
subtracted), both from :func:`gd_torch.errormodel.difference_error`; for the complex step, only
the floor left by subnormal underflow of X_ij h.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _validate, errormodel
from .._errors import GdTorchError, bad_value
from ..model import ACTIVATIONS, LOSSES, Activation, Loss, loss_from_z
from . import _blas
from ._method import Estimate

SCHEMES: dict[str, float] = {"central": 1 / 3, "forward": 1 / 2, "richardson": 1 / 5, "complex": 2.0}
#: the smallest default step, in units of u |W_j|: 64 ulps for the smallest step a scheme takes
#: (Richardson's h / 4); none for the complex step, which subtracts nothing
_MIN_ULPS: dict[str, float] = {"central": 64.0, "forward": 64.0, "richardson": 256.0, "complex": 0.0}
#: schemes that subtract values of L (their step balances truncation against L's rounding noise)
_SUBTRACTS: dict[str, bool] = {"central": True, "forward": True, "richardson": True, "complex": False}
#: each scheme's formula, for reports (the methods 'numeric:<scheme>' of the registry)
DESCRIPTIONS: dict[str, str] = {
    "central": "(L(W + h e_j) - L(W - h e_j)) / 2h",
    "forward": "(L(W + h e_j) - L(W)) / h",
    "richardson": "(4 D(h/4) - D(h/2)) / 3 on central differences D",
    "complex": "Im L(W + i h e_j) / h",
}
#: Z = X @ Wb^T near this size per product when X is not cut into row blocks
_CHUNK_BYTES = 32 << 20
#: multiply-adds per product below which BLAS runs on one thread
_SMALL_PRODUCT = 1 << 22
#: bytes of one block Z_b = X_b Wb^T in the blocked evaluation (stays in the cache)
_Z_BYTES = 256 << 10
_MAX_ROWS = 8192
#: groups of row blocks summed apart (fixed: the result must not depend on the thread count)
_GROUPS = 8
#: entries of Z below which the blocked evaluation runs on one thread
_PARALLEL_ENTRIES = 1 << 17
#: operations per loss term on the imaginary part (complex step): each may round at the subnormal level
_UNDERFLOW_OPS = 4


@dataclass(frozen=True)
class NumericGradient:
    """A finite-difference gradient, the steps used and (optionally) its estimated error."""

    grad: np.ndarray
    steps: np.ndarray
    error: np.ndarray | None
    evaluations: int


def default_steps(W: np.ndarray, scheme: str, X: np.ndarray | None = None) -> np.ndarray:
    """The default steps h, shape (D,), in W's dtype.

    With X (z-space, see the module docstring): h_j = z_step(...) / max_i |X_ij|, so that no
    z_i moves by more than the intended t; a column of zeros keeps the W-space step.  Without X:
    h_j = eps^p * max(1, |W_j|) for the scheme's exponent p.
    """
    if X is None:
        return (np.finfo(W.dtype).eps ** SCHEMES[scheme]) * np.maximum(1.0, np.abs(W))
    return scaled_steps(W, scheme, column_scale(X), X.shape[0])


def scaled_steps(W: np.ndarray, scheme: str, c: np.ndarray, n: int) -> np.ndarray:
    """:func:`default_steps` with X for column scales c_j = max_i |X_ij| over all n rows (D,):
    gd_torch.distributed takes c as the MAX all-reduce of its ranks' scales, so that every rank
    takes the steps one process would."""
    eps = np.finfo(W.dtype).eps
    w_space = (eps ** SCHEMES[scheme]) * np.maximum(1.0, np.abs(W))
    t = z_step((n, W.shape[0]), float(c @ np.abs(W.astype(np.float64))), W.dtype, scheme)
    with np.errstate(divide="ignore", over="ignore"):
        h = np.where(c > 0, t / np.where(c > 0, c, 1.0), w_space)
    # at least _MIN_ULPS ulps of W_j, so that W_j + h_j is another number: reached only where z's
    # rounding u zeta exceeds 1 (no step is good there); a column of subnormals would ask for a
    # step beyond the largest float: capped (z then moves less than t)
    h = np.maximum(h, _MIN_ULPS[scheme] * eps * np.abs(W.astype(np.float64)))
    return np.minimum(h, np.finfo(W.dtype).max / 8).astype(W.dtype)


def column_scale(X: np.ndarray) -> np.ndarray:
    """c_j = max_i |X_ij| in float64, (D,), without a copy of |X|."""
    return np.maximum(X.max(axis=0), -X.min(axis=0)).astype(np.float64)


def z_step(shape: tuple[int, int], zeta: float, dtype: Any, scheme: str) -> float:
    """t = r^p, r = errormodel.relative_noise: the perturbation of z that balances a truncation of
    order t^k (on the activation's scale of 1) against the rounding noise of L (relative size r),
    for a problem of ``shape`` (N, D); eps^2 for the complex step, which subtracts nothing."""
    eps = float(np.finfo(dtype).eps)
    r = errormodel.relative_noise(shape[0], shape[1], zeta, eps)
    return r ** SCHEMES[scheme] if _SUBTRACTS[scheme] else eps ** SCHEMES[scheme]


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
    n = X.shape[0]
    k = Wb.shape[0]
    rows = int(min(n, _MAX_ROWS, max(16, _Z_BYTES // (k * Wb.itemsize))))
    blocks = math.ceil(n / rows)
    # a fixed partition: at most _GROUPS contiguous ranges of whole blocks, decided by N and k
    # only; group g adds its blocks' column sums in order into acc[g], and the groups are added
    # in order at the end, so the result is the same bits on 1 or 16 threads
    groups = max(1, min(_GROUPS, blocks))
    workers = min(_blas.workers(), groups) if n * k >= _PARALLEL_ENTRIES else 1
    cuts = [min(round(i * blocks / groups) * rows, n) for i in range(groups + 1)]
    acc = np.zeros((groups, k), dtype=Wb.dtype)

    def group(g: int) -> None:
        for s in range(cuts[g], cuts[g + 1], rows):
            acc[g] += terms_sum(Wb, X[s : s + rows], y[s : s + rows], lo, act)

    _blas.parallel(group, groups, workers)
    total = np.add.reduce(acc, axis=0)
    return total if lo.reduction == "sum" else total / n


def terms_sum(Wb: np.ndarray, Xb: np.ndarray, yb: np.ndarray, lo: Loss, act: Activation) -> np.ndarray:
    """sum_i l_i over the rows of one block X_b, for each row of Wb: k values (before any mean).

    Z_b is taken as the transpose of Wb X_b^T: each column contiguous, so that the sum over
    rows is numpy's pairwise summation (as for one perturbation), not a running sum.
    """
    Zt = _product_t(Wb, Xb)  # (k, rows)
    terms = lo.terms(Zt.T, act.f(Zt).T, yb)  # (rows, k); f on the C-ordered array
    return np.add.reduce(terms, axis=0)


def _central(W, L, h):
    d = W.shape[0]
    E = np.diag(h)
    vals = L(np.concatenate([W + E, W - E]))
    return (vals[:d] - vals[d:]) / (2 * h), 2 * d, np.maximum(np.abs(vals[:d]), np.abs(vals[d:]))


def _forward(W, L, h):
    d = W.shape[0]
    vals = L(np.concatenate([W[None, :], W + np.diag(h)]))
    return (vals[1:] - vals[0]) / h, d + 1, np.maximum(np.abs(vals[1:]), np.abs(vals[0]))


def _richardson(W, L, h):
    # two central differences, at h/2 and h/4, combined to cancel the h^2 term
    d_half, n1, s1 = _central(W, L, _realised(W, h / 2))
    d_quarter, n2, s2 = _central(W, L, _realised(W, h / 4))
    return (4 * d_quarter - d_half) / 3, n1 + n2, np.maximum(s1, s2)


def _complex(W, L, h):
    Wb = W.astype(np.result_type(W.dtype, np.complex64)) + 1j * np.diag(h)
    vals = L(Wb)
    return vals.imag / h, W.shape[0], np.abs(vals.real)


_RULES = {"central": _central, "forward": _forward, "richardson": _richardson, "complex": _complex}


def _realised(W: np.ndarray, h: np.ndarray) -> np.ndarray:
    # the step that floating point actually takes: (W + h) - W, never exactly 0
    r = (W + h) - W
    return np.where(r != 0, r, h)


def check_options(
    W: np.ndarray, act: Activation, *, scheme: str = "central", step: Any = None, batch: int | None = None
) -> np.ndarray:
    """The boundary checks of :func:`grad`'s options; returns the steps h for W (before rounding)."""
    _validate.choice("scheme", scheme, SCHEMES)
    if W.dtype != np.float64 and W.dtype != np.float32:
        raise bad_value("dtype", W.dtype, "float32 or float64 for the numeric method")
    if scheme == "complex" and not act.smooth:
        raise GdTorchError(
            f"scheme must be 'central', 'forward' or 'richardson' for activation={act.name!r}: got 'complex'; "
            f"the complex step needs a function analytic in z, and {act.name} is not differentiable at "
            f"{', '.join(map(str, act.kinks))}"
        )
    _validate.integer(
        "batch", batch, minimum=1, none_ok=True, accepted="a positive integer (perturbations per matrix product)"
    )
    return _steps(W, scheme, step)


def grad(
    W: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    lo: Loss,
    act: Activation,
    *,
    scheme: str = "central",
    step: Any = None,
    batch: int | None = None,
) -> np.ndarray:
    """The numeric gradient by ``scheme``, an array of W's shape and dtype (the method protocol)."""
    return estimate(W, X, y, lo, act, scheme=scheme, step=step, batch=batch).grad


def estimate(
    W: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    lo: Loss,
    act: Activation,
    *,
    scheme: str = "central",
    step: Any = None,
    batch: int | None = None,
    f_noise: float | None = None,
    f_rel: float = 0.0,
) -> NumericGradient:
    """The numeric gradient by ``scheme`` with its steps and error estimate; see the module docstring.

    With ``f_noise`` (absolute rounding noise of one evaluation of L at W) an error estimate
    is returned; ``f_rel`` (relative rounding of one evaluation) raises the noise for
    coordinate j to at least f_rel * max |L| over the values subtracted for it, for where
    L(W +- h e_j) is much larger than L(W) (e.g. W at an exact fit, L(W) ~ 0).
    """
    check_options(W, act, scheme=scheme, step=step, batch=batch)
    with _blas.single_thread():
        # one thread: a threaded BLAS call leaves its threads spinning for a while, taking
        # the cores from the blocked evaluation that follows; this product is cheap beside it
        _validate.z_of(X, W)  # X finite (checked through z) before its column scales are read
    h = _steps(W, scheme, step, X)
    return differences(
        W, lambda Wb: evaluate(Wb, X, y, lo, act, batch), X.shape[0], scheme=scheme, h=h, f_noise=f_noise, f_rel=f_rel
    )


def differences(
    W: np.ndarray,
    L: Callable[[np.ndarray], np.ndarray],
    n_samples: int,
    *,
    scheme: str,
    h: np.ndarray,
    f_noise: float | None = None,
    f_rel: float = 0.0,
) -> NumericGradient:
    """The finite differences of any objective ``L`` at W, with steps h (:func:`default_steps`,
    :func:`scaled_steps` or the caller's, before rounding).

    L : maps a stack of weight vectors Wb, shape (k, D), real or complex, to the k values
        L(Wb[i]) (:func:`evaluate` on one X; an all-reduced sum of row blocks in gd_torch.distributed)
    n_samples : the number of loss terms L sums (the complex step's underflow floor grows with it)
    f_noise, f_rel : as in :func:`estimate`
    """
    if scheme != "complex":
        h = _realised(W, h)
    rule = _RULES[scheme]
    g, count, size = rule(W, L, h)
    error = None
    if f_noise is not None and scheme == "complex":
        # no subtraction, and a truncation of h^2 |d3L| / 6 ~ eps^4: what is left is underflow.
        # X_ij h can be subnormal, where the imaginary parts keep only an absolute accuracy of
        # the smallest subnormal s: a few operations per term, N terms, divided by h.
        error = np.full(W.shape, _UNDERFLOW_OPS * n_samples * float(np.finfo(W.dtype).smallest_subnormal)) / h
    elif f_noise is not None:
        g2, count2, size2 = rule(W, L, _realised(W, 2 * h))
        count += count2
        noise = np.maximum(f_noise, f_rel * np.maximum(size, size2))
        error = errormodel.difference_error(g, g2, scheme, noise, h)
    return NumericGradient(g.astype(W.dtype), h, error, count)


def _steps(W: np.ndarray, scheme: str, step: Any, X: np.ndarray | None = None) -> np.ndarray:
    if step is None:
        return default_steps(W, scheme, X)
    accepted = f"a positive finite number or an array of {W.shape[0]} of them"
    arr = None if isinstance(step, bool | str | bytes) else _validate.array("step", step)
    if arr is None or arr.dtype.kind not in "iuf":  # True, '1e-3': not a step
        raise bad_value("step", step, accepted)
    try:
        with np.errstate(over="ignore"):
            h = np.broadcast_to(arr.astype(W.dtype), W.shape)
    except (TypeError, ValueError, OverflowError):
        h = None
    if h is None or not (np.isfinite(h).all() and (h > 0).all()):
        raise bad_value("step", step, accepted)
    if np.any(h < np.finfo(W.dtype).tiny):  # a subnormal step has lost its own precision
        raise bad_value("step", step, f"{accepted}, at least {np.finfo(W.dtype).tiny:.3g} (not subnormal)")
    return h.copy()


def for_check(
    W: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    lo: Loss,
    act: Activation,
    model: Any,
    v: np.ndarray | None = None,
    *,
    scheme: str = "central",
    step: Any = None,
    batch: int | None = None,
) -> Estimate:
    """The method's :class:`Estimate` for a check against the error model ``model``: every
    coordinate (v None) or the derivative along the unit direction v.  The complex step
    evaluates the formula to rounding, so it carries the exact methods' error plus its own
    underflow floor.

    A float32 problem is differenced in float64 (its values cast exactly), with float64's error
    model: the witness is then as accurate as the data allow, where float32's own differences
    would err by u^(2/3) ~ 2e-5 and hide a float32 gradient's slips below that.
    """
    if W.dtype != np.float64:
        W, X, y = (a.astype(np.float64) for a in (W, X, y))
        model = errormodel.build(W, X, y, lo, act)
    if v is None:
        res = estimate(
            W, X, y, lo, act, scheme=scheme, step=step, batch=batch, f_noise=model.f_noise, f_rel=model.f_rel
        )
        exact = model.exact
        steps = res.steps
    else:
        res = _directional(W, X, y, lo, act, v, scheme, model)
        exact = np.abs(v) @ model.exact
        steps = res.steps * np.abs(v)
    error = res.error + exact if scheme == "complex" else res.error
    return Estimate(np.asarray(res.grad, dtype=np.float64), np.asarray(error, dtype=np.float64), steps)


def _directional(W, X, y, lo, act, v, scheme, model) -> NumericGradient:
    # the numeric method along v: L(W + t v) as a function of the scalar t, any scheme
    check_options(W, act, scheme=scheme)  # the same refusals as every coordinate (complex step at a kink)
    # the 1-D problem in t: design column X v, weight 0, offset z0 = X W; z moves by at most
    # z_step (with z's rounding from the whole of X W) when t = z_step / max_i |(X v)_i|
    Xv = (X @ v.astype(W.dtype))[:, None]
    t = step_along(W, scheme, column_scale(X), X.shape[0], float(column_scale(Xv)[0]))
    lo_t, act_t = _shifted(lo, act, X @ W)
    zero = np.zeros(1, dtype=W.dtype)
    return estimate(zero, Xv, y, lo_t, act_t, scheme=scheme, step=t, f_noise=model.f_noise, f_rel=model.f_rel)


def step_along(W: np.ndarray, scheme: str, c: np.ndarray, n: int, scale_v: float) -> float:
    """The step t of L(W + t v) along a direction v: z moves by at most z_step (with z's rounding
    from the column scales c of all n rows of X) when t = z_step / max_i |(X v)_i| (``scale_v``)."""
    z_t = z_step((n, W.shape[0]), float(c @ np.abs(W.astype(np.float64))), W.dtype, scheme)
    return z_t / scale_v if scale_v > 0 else z_t


def _shifted(lo: Loss, act: Activation, z0: np.ndarray) -> tuple[Loss, Activation]:
    # the loss and activation of the pre-activation z0 + t, for fixed offsets z0: lets the
    # 1-D problem L(W + t v) reuse this module.  Both are shifted: a loss written from z
    # (bce = softplus(z) - y z) reads z directly, not only through a = f(z).
    def shift(t):
        return t + (z0[:, None] if np.ndim(t) == 2 else z0)

    return (
        dataclasses.replace(lo, terms=lambda t, a, y: lo.terms(shift(t), a, y)),
        dataclasses.replace(act, f=lambda t: act.f(shift(t))),
    )
