"""Finite-difference gradients of the objective, treated as a black box.

Only values of L(W) are used.  For coordinate j with step h_j and unit vector e_j:

    central     (L(W + h e_j) - L(W - h e_j)) / 2h        truncation ~ h^2 L''' / 6
    forward     (L(W + h e_j) - L(W)) / h                  truncation ~ h L'' / 2
    richardson  (4 D(h/4) - D(h/2)) / 3 on central D       truncation ~ h^4
    complex     Im L(W + i h e_j) / h                      no subtraction: exact to rounding

The default step balances truncation against rounding: h_j = eps^p max(1, |W_j|) with
p = 1/3 (central), 1/2 (forward), 1/5 (richardson); the complex step can be tiny.
All perturbed weight vectors are stacked into a (k, D) matrix and evaluated together,
Z = X @ Wb^T, in chunks that keep Z near 32 MiB: one matrix product per chunk, not one
Python call per coordinate.

With ``f_noise`` (the absolute rounding error of one evaluation of L, from the caller's
error model) an error estimate per coordinate is returned too: the truncation error read
off the same difference at twice the step, plus the rounding error f_noise / h amplified
by the scheme's weights (the noise taken as at least ``f_rel`` times the values actually
subtracted); for the complex step, only the floor left by subnormal underflow of X_ij h.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _validate
from .._errors import GdTorchError, bad_value
from ..model import Activation, Loss, loss_from_z

SCHEMES: dict[str, float] = {"central": 1 / 3, "forward": 1 / 2, "richardson": 1 / 5, "complex": 2.0}
_CHUNK_BYTES = 32 << 20
#: operations per loss term on the imaginary part (complex step): each may round at the subnormal level
_UNDERFLOW_OPS = 4


@dataclass(frozen=True)
class NumericGradient:
    """A finite-difference gradient, the steps used and (optionally) its estimated error."""

    grad: np.ndarray
    steps: np.ndarray
    error: np.ndarray | None
    evaluations: int


def default_steps(W: np.ndarray, scheme: str) -> np.ndarray:
    """h_j = eps^p * max(1, |W_j|) for the scheme's exponent p."""
    eps = np.finfo(W.dtype).eps
    return (eps ** SCHEMES[scheme]) * np.maximum(1.0, np.abs(W))


def evaluate(
    Wb: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation, batch: int | None = None
) -> np.ndarray:
    """L at each row of Wb (shape (k, D), real or complex): k values, one product per chunk."""
    k = Wb.shape[0]
    per_row = X.shape[0] * X.itemsize * (2 if np.iscomplexobj(Wb) else 1)
    chunk = batch or max(1, _CHUNK_BYTES // per_row)
    out = np.empty(k, dtype=Wb.dtype)
    for s in range(0, k, chunk):
        B = Wb[s : s + chunk]
        if np.iscomplexobj(B):  # keep X real: X (B.re + i B.im) = X B.re + i X B.im
            Z = X @ B.real.T + 1j * (X @ B.imag.T)
        else:
            Z = X @ B.T
        out[s : s + chunk] = loss_from_z(Z, y, lo, act)
    return out


def _central(W, X, y, lo, act, h, batch):
    d = W.shape[0]
    E = np.diag(h)
    vals = evaluate(np.concatenate([W + E, W - E]), X, y, lo, act, batch)
    return (vals[:d] - vals[d:]) / (2 * h), 2 * d, np.maximum(np.abs(vals[:d]), np.abs(vals[d:]))


def _forward(W, X, y, lo, act, h, batch):
    d = W.shape[0]
    vals = evaluate(np.concatenate([W[None, :], W + np.diag(h)]), X, y, lo, act, batch)
    return (vals[1:] - vals[0]) / h, d + 1, np.maximum(np.abs(vals[1:]), np.abs(vals[0]))


def _richardson(W, X, y, lo, act, h, batch):
    # two central differences, at h/2 and h/4, combined to cancel the h^2 term
    d_half, n1, s1 = _central(W, X, y, lo, act, _realised(W, h / 2), batch)
    d_quarter, n2, s2 = _central(W, X, y, lo, act, _realised(W, h / 4), batch)
    return (4 * d_quarter - d_half) / 3, n1 + n2, np.maximum(s1, s2)


def _complex(W, X, y, lo, act, h, batch):
    Wb = W.astype(np.result_type(W.dtype, np.complex64)) + 1j * np.diag(h)
    vals = evaluate(Wb, X, y, lo, act, batch)
    return vals.imag / h, W.shape[0], np.abs(vals.real)


_RULES = {"central": _central, "forward": _forward, "richardson": _richardson, "complex": _complex}
#: how rounding noise of one evaluation reaches the result: |result error| <= amp * f_noise / h
_NOISE_AMPLIFICATION = {"central": 1.0, "forward": 2.0, "richardson": 6.0, "complex": 0.0}
#: error of the result ~ |rule(h) - rule(2h)| / denom (the leading truncation term's growth)
_TRUNCATION_DENOM = {"central": 3.0, "forward": 1.0, "richardson": 15.0, "complex": np.inf}


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
    if batch is not None and (not isinstance(batch, int | np.integer) or batch < 1):
        raise bad_value("batch", batch, "a positive integer (perturbations per matrix product) or None")
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
    f_noise: float | None = None,
    f_rel: float = 0.0,
) -> NumericGradient:
    """The numeric gradient by ``scheme``; see the module docstring for the formulas.

    With ``f_noise`` (absolute rounding noise of one evaluation of L at W) an error estimate
    is returned; ``f_rel`` (relative rounding of one evaluation) raises the noise for
    coordinate j to at least f_rel * max |L| over the values subtracted for it, for where
    L(W +- h e_j) is much larger than L(W) (e.g. W at an exact fit, L(W) ~ 0).
    """
    h = check_options(W, act, scheme=scheme, step=step, batch=batch)
    if scheme != "complex":
        h = _realised(W, h)
    _validate.z_of(X, W)
    rule = _RULES[scheme]
    g, count, size = rule(W, X, y, lo, act, h, batch)
    error = None
    if f_noise is not None and scheme == "complex":
        # no subtraction, and a truncation of h^2 |d3L| / 6 ~ eps^4: what is left is underflow.
        # X_ij h can be subnormal, where the imaginary parts keep only an absolute accuracy of
        # the smallest subnormal s: a few operations per term, N terms, divided by h.
        error = np.full(W.shape, _UNDERFLOW_OPS * X.shape[0] * float(np.finfo(W.dtype).smallest_subnormal)) / h
    elif f_noise is not None:
        g2, count2, size2 = rule(W, X, y, lo, act, _realised(W, 2 * h), batch)
        count += count2
        noise = np.maximum(f_noise, f_rel * np.maximum(size, size2))
        error = np.abs(g2 - g) / _TRUNCATION_DENOM[scheme] + _NOISE_AMPLIFICATION[scheme] * noise / h
    return NumericGradient(g.astype(W.dtype), h, error, count)


def _steps(W: np.ndarray, scheme: str, step: Any) -> np.ndarray:
    if step is None:
        return default_steps(W, scheme)
    try:
        h = np.broadcast_to(np.asarray(step, dtype=W.dtype), W.shape)
    except (TypeError, ValueError):
        h = None
    if h is None or not (np.isfinite(h).all() and (h > 0).all()):
        raise bad_value("step", step, f"a positive finite number or an array of {W.shape[0]} of them")
    return h.copy()
