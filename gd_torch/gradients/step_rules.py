"""The finite-difference steps: the default rule in z-space, and the refusal of a caller's step
outside the range where a difference means anything (see gd_torch.gradients.numeric).  Each rule
reads the scheme's data from gd_torch.gradients.schemes.SCHEMES (its step exponent p, the smallest
step it takes, whether it subtracts).

The default step is chosen in z-space: moving W_j by h_j moves z_i = X_i W by X_ij h_j, so
h_j = t / c_j with c_j = max_i |X_ij| moves every z_i by at most t, whatever the column's scale;
t = r^p balances truncation against the relative rounding noise r of one evaluation of L.  The
maximum runs over the rows that set a step (:func:`step_rows`): not a row whose z_i rounds by
more than the activation's scale of 1 (-1.79e308 in one feature), which no step resolves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import bad_value
from ..base import validate as _validate
from ..precision.difference_error import relative_noise
from ..precision.rounding import z_error
from .schemes import SCHEMES

#: rows per block of :func:`step_rows` (its float64 |X_b| at most 8 MiB per column)
_STEP_ROWS = 1 << 20


def default_steps(W: np.ndarray, scheme: str, X: np.ndarray | None = None) -> np.ndarray:
    """The default steps h, shape (D,), in W's dtype.

    With X (z-space, see the module docstring): h_j = z_step(...) / max_i |X_ij| over the rows
    i of :func:`step_rows` (:func:`step_scale`), so that none of their z_i moves by more than
    the intended t; a column of zeros keeps the W-space step.  Without X:
    h_j = eps^p * max(1, |W_j|) for the scheme's exponent p.
    """
    if X is None:
        return (np.finfo(W.dtype).eps ** SCHEMES[scheme].step_exponent) * np.maximum(1.0, np.abs(W))
    return scaled_steps(W, scheme, step_scale(X, step_rows(X, W)), X.shape[0])


def scaled_steps(W: np.ndarray, scheme: str, c: np.ndarray, n: int) -> np.ndarray:
    """:func:`default_steps` with X for column scales c_j = max_i |X_ij| over the :func:`step_rows`
    of all n rows (D,): gd_torch.distributed takes c as the MAX all-reduce of its ranks' scales,
    so that every rank takes the steps one process would."""
    eps = np.finfo(W.dtype).eps
    w_space = (eps ** SCHEMES[scheme].step_exponent) * np.maximum(1.0, np.abs(W))
    t = z_step((n, W.shape[0]), float(c @ np.abs(W.astype(np.float64))), W.dtype, scheme)
    with np.errstate(divide="ignore", over="ignore"):
        h = np.where(c > 0, t / np.where(c > 0, c, 1.0), w_space)
    # at least the scheme's min_ulps ulps of W_j, so that W_j + h_j is another number: reached only where z's
    # rounding u zeta exceeds 1 (no step is good there); a column of subnormals would ask for a
    # step beyond the largest float: capped (z then moves less than t)
    h = np.maximum(h, SCHEMES[scheme].min_ulps * eps * np.abs(W.astype(np.float64)))
    return np.minimum(h, np.finfo(W.dtype).max / 8).astype(W.dtype)


def column_scale(X: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """c_j = max_i |X_ij| in float64, (D,), without a copy of |X|: over every row, or over the
    rows i where ``rows`` (N,) is True (0 where there are none)."""
    where = {} if rows is None else {"where": rows[:, None]}
    return np.maximum(X.max(axis=0, initial=0, **where), -X.min(axis=0, initial=0, **where)).astype(np.float64)


def step_scale(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The column scales that set the default steps, (D,) float64: c_j = max_i |X_ij| over the
    ``rows`` of :func:`step_rows`, or over every row for a column that is 0 on all of them
    (:func:`either_scale`)."""
    return either_scale(column_scale(X, rows), column_scale(X))


def either_scale(kept: np.ndarray, every: np.ndarray) -> np.ndarray:
    """The scale over the rows that set a step where it is positive, else over every row: the
    scale a column takes when all its rows round beyond 1 (a problem of z ~ 1e100 throughout, an
    identity's dL/dW = 2 z X, is still stepped in proportion to its z).  gd_torch.distributed
    applies it to the MAX all-reduce of both, so that every rank takes one process's steps."""
    return np.where(kept > 0, kept, every)


def step_rows(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The rows that set the default steps, (N,) bool: those whose z_i = X_i W rounds by at most
    the activation's scale of 1, e_z,i = u sqrt(D) (|X| |W|)_i <= 1 (precision.rounding.z_error, u of W's
    dtype: the one the differences are taken in).  No step resolves a row beyond it: it reaches L
    only through that rounding, which the error model's f_noise carries (sum_i |dL/dz_i| e_z,i);
    counted, one such row (-1.79e308 in one feature) would set its column's step, and through
    zeta = sum_j c_j |W_j| every step, so large that every sample saturates.  Taken in blocks of
    _STEP_ROWS rows: no copy of the whole of |X|."""
    W64, u = W.astype(np.float64), float(np.finfo(W.dtype).eps)
    keep = np.empty(X.shape[0], dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        for s in range(0, X.shape[0], _STEP_ROWS):
            keep[s : s + _STEP_ROWS] = z_error(X[s : s + _STEP_ROWS].astype(np.float64), W64, u) <= 1.0
    return keep


def z_step(shape: tuple[int, int], zeta: float, dtype: Any, scheme: str) -> float:
    """t = r^p, r = precision.difference_error.relative_noise: the perturbation of z that balances a truncation of
    order t^k (on the activation's scale of 1) against the rounding noise of L (relative size r),
    for a problem of ``shape`` (N, D), p the scheme's step exponent; eps^p for a scheme that
    subtracts nothing (the complex step's eps^2)."""
    eps = float(np.finfo(dtype).eps)
    r = relative_noise(shape[0], shape[1], zeta, eps)
    s = SCHEMES[scheme]
    return (r if s.subtracts else eps) ** s.step_exponent


def step_along(W: np.ndarray, scheme: str, c: np.ndarray, n: int, scale_v: float) -> float:
    """The step t of L(W + t v) along a direction v: z moves by at most z_step (with z's rounding
    from the column scales c of the :func:`step_rows` of all n rows of X) when
    t = z_step / max_i |(X v)_i| (``scale_v``, over the same rows)."""
    z_t = z_step((n, W.shape[0]), float(c @ np.abs(W.astype(np.float64))), W.dtype, scheme)
    return z_t / scale_v if scale_v > 0 else z_t


def caller_steps(
    W: np.ndarray,
    scheme: str,
    step: Any,
    X: np.ndarray | None = None,
    *,
    rounding: bool = True,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """The steps h (D,) in W's dtype: the default rule when ``step`` is None, else the caller's
    step, refused (a GdTorchError naming ``step``) unless each h_j lies in :func:`step_range`.
    Without X (or its column scales ``scale``, where the rows are on other ranks) only the rules
    on W are checked; ``rounding=False`` lets a step that W_j + h_j rounds back to W_j through
    (gd_torch.teach.steps sweeps into that region on purpose)."""
    if step is None:
        return default_steps(W, scheme, X)
    h = _parse_step(W, step)
    lo, hi = step_range(W, scheme, X, rounding=rounding, scale=scale)
    bad = np.flatnonzero(~((h >= lo) & (h <= hi)))
    if bad.size:
        j = int(bad[0])
        where = "" if np.ndim(step) == 0 else f" (coordinate {j}: {float(h[j]):.3g})"
        raise bad_value("step", step, f"{_RANGE_RULE}: here between {lo[j]:.3g} and {hi[j]:.3g}{where}")
    return h


#: the rule of :func:`step_range`, as error messages state it
_RANGE_RULE = (
    "a step h_j that W_j + h_j does not round back to W_j (else every difference is exactly 0) "
    "and that moves z = X W by at most max(1, max|z|) / u (beyond it z + h_j X_j rounds to a value "
    "that no longer depends on W, or overflows)"
)


def step_range(
    W: np.ndarray,
    scheme: str,
    X: np.ndarray | None = None,
    *,
    rounding: bool = True,
    scale: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The accepted caller's steps, per coordinate: lo_j <= h_j <= hi_j, both (D,) float64.

    lo_j: the smallest normal number (a subnormal step has lost its own precision) and, with
    ``rounding``, one spacing of W_j divided by s (the scheme's smallest_step: 1/4 for
    Richardson's h/4, else 1): a smaller step has W_j + s h_j round back to W_j, and every
    difference is exactly 0 (an imaginary step W_j + i h_j never rounds back).
    hi_j: W_j + 2 h_j finite (the error estimate takes the doubled step); with X, c_j = max_i |X_ij|
    (or ``scale``: the c_j of rows held elsewhere, e.g. all ranks' maximum) and
    zeta = sum_j c_j |W_j| (the bound on |z_i|), the move of z along coordinate j, t = h_j c_j,
    at most max(1, zeta) / u (u = eps of W's dtype): beyond it z_i + t keeps no bit of z_i
    (z_i + t == t for every i, the values of L no longer depend on W), and z + 2t finite.
    """
    info = np.finfo(W.dtype)
    u = float(info.eps)
    w = np.abs(W.astype(np.float64))
    lo = np.full(W.shape, float(info.tiny))
    s = SCHEMES[scheme]
    if rounding and not s.imaginary:  # W_j + s h_j > W_j once s h_j reaches one spacing of W_j
        lo = np.maximum(lo, np.spacing(np.abs(W)).astype(np.float64) / s.smallest_step)
    hi = (float(info.max) - w) / 2
    c = column_scale(X) if X is not None else scale
    if c is not None:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            zeta = float(c @ w)
            move = min(max(1.0, zeta) / u, (float(info.max) - zeta) / 2)  # the largest z move t
            hi = np.where(c > 0, np.minimum(hi, move / np.where(c > 0, c, 1.0)), hi)
    return lo, hi


def _parse_step(W: np.ndarray, step: Any) -> np.ndarray:
    # a positive finite number, or one per coordinate, cast to W's dtype: (D,)
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
    return h.copy()
