"""Finite-difference gradients of the objective, treated as a black box.

Only values of L(W) are used, by one of the schemes of gd_torch.gradients.schemes.SCHEMES
(central, forward, richardson, complex: each a Scheme carrying its rule and its constants).

The default step is chosen in z-space: moving W_j by h_j moves z_i = X_i W by X_ij h_j, so
h_j = t / c_j with c_j = max_i |X_ij| moves every z_i by at most t, whatever the column's scale;
the maximum runs over the rows whose z_i rounds by at most 1 (``step_rows``: a row that rounds
beyond the activation's scale is one no step resolves, and would set every step), over every
row for a column that is 0 on all of those (``step_scale``).
t balances truncation (~ t^k in z, on the activation's scale of 1) against the rounding noise of
one evaluation of L relative to its size, r = u (sqrt(N) + C_LOCAL + sqrt(D) zeta) with
zeta = sum_j c_j |W_j| >= |X_i| . |W| for z's own rounding (precision.difference_error.relative_noise):
t = r^p with p the scheme's step exponent (1/3 central, 1/2 forward, 1/5 richardson); a scheme
that subtracts nothing (the complex step) takes t = eps^p, eps^2.
So the truncation read off the steps h and 2h is in the range where its leading term holds,
and no column's step is too large (z moved by ~1 for a column of scale 1e3) or too small.
Without X (``default_steps(W, scheme)``) the older W-space rule eps^p max(1, |W_j|) is used.

All perturbed weight vectors are stacked into a (k, D) matrix and evaluated together:
X is read once, in row blocks, each block meeting all k perturbations in one matrix
product Z_b = X_b @ Wb^T small enough to stay in the cache; fixed groups of blocks are
spread over the cores.  Not one Python call per coordinate (unless ``batch=1`` asks for exactly that).

With ``f_noise`` (the absolute rounding error of one evaluation of L, from the caller's
error model) an error estimate per coordinate is returned too: the truncation error read
off the same difference at twice the step, plus the rounding error f_noise / h amplified
by the scheme's weights (the noise taken as at least ``f_rel`` times the values actually
subtracted), both from :func:`gd_torch.precision.difference_error.difference_error`; for a scheme
that subtracts nothing (the complex step), only the floor left by subnormal underflow of X_ij h.

The parts, one job each: the step rules in ``step_rules``, the schemes and their differences
in ``schemes``, the blocked evaluation of L in ``_fd_eval``; this module holds the method's
entry points (options, :func:`estimate`, :func:`for_check`) and :func:`method`, the registry's
method for a scheme.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import numpy as np

from .._errors import GdTorchError, bad_value
from ..base import blas as _blas
from ..base import validate as _validate
from ..model.activations import Activation
from ..model.losses import Loss
from ..precision import errormodel
from ._fd_eval import evaluate
from ._method import Estimate, Method
from .schemes import SCHEMES, NumericGradient, Scheme, differences
from .step_rules import caller_steps, step_along, step_range, step_rows, step_scale

__all__ = ["check_options", "estimate", "for_check", "grad", "method"]


def method(scheme: Scheme) -> Method:
    """The registry's method 'numeric:<name>' for ``scheme``: its gradient, its estimate for a
    check (with its own error), its option checks; gd_torch.gradients registers one per scheme of
    SCHEMES."""
    return Method(
        f"numeric:{scheme.name}",
        f"finite differences of the objective, {scheme.name}",
        scheme.formula,
        partial(grad, scheme=scheme.name),
        estimate=partial(for_check, scheme=scheme.name),
        validate=partial(check_options, scheme=scheme.name),
        options=("step", "batch"),
        scheme=scheme,
    )


def check_options(
    W: np.ndarray, act: Activation, *, scheme: str = "central", step: Any = None, batch: int | None = None
) -> np.ndarray:
    """The boundary checks of :func:`grad`'s options (the registry's ``validate``, before X is
    read); returns the steps h for W (before rounding).  A caller's step must lie in
    :func:`gd_torch.gradients.step_rules.step_range` on W: not lost in W_j's rounding, W_j + 2 h_j
    finite; :func:`estimate` checks it against X's scale too."""
    _options(W, act, scheme, batch)
    return caller_steps(W, scheme, step)


def _options(W: np.ndarray, act: Activation, scheme: str, batch: Any) -> None:
    # scheme, dtype, an imaginary step at a kink, batch
    s = SCHEMES[_validate.choice("scheme", scheme, SCHEMES)]
    if W.dtype != np.float64 and W.dtype != np.float32:
        raise bad_value("dtype", W.dtype, "float32 or float64 for the numeric method")
    if s.needs_smooth and not act.smooth:
        *others, last = [repr(n) for n, o in SCHEMES.items() if not o.needs_smooth]
        raise GdTorchError(
            f"scheme must be {', '.join(others)} or {last} for activation={act.name!r}: got {scheme!r}; "
            f"the {s.name} step needs a function analytic in z, and {act.name} is not differentiable at "
            f"{', '.join(map(str, act.kinks))}",
            param="scheme",
        )
    _validate.integer(
        "batch", batch, minimum=1, none_ok=True, accepted="a positive integer (perturbations per matrix product)"
    )


def grad(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Loss, act: Activation, **options: Any) -> np.ndarray:
    """The numeric gradient, an array of W's shape and dtype (the method protocol); ``options``:
    :func:`estimate`'s scheme, step and batch (the registry passes no others).  A caller's step
    that W_j + h_j rounds back to W_j is refused here, at every W (gradient_function's g(W) too)."""
    return estimate(W, X, y, lo, act, rounding=True, **options).grad


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
    rounding: bool = True,
) -> NumericGradient:
    """The numeric gradient by ``scheme`` with its steps and error estimate; see the module docstring.

    With ``f_noise`` (absolute rounding noise of one evaluation of L at W) an error estimate
    is returned; ``f_rel`` (relative rounding of one evaluation) raises the noise for
    coordinate j to at least f_rel * max |L| over the values subtracted for it, for where
    L(W +- h e_j) is much larger than L(W) (e.g. W at an exact fit, L(W) ~ 0).
    A caller's ``step`` must lie in :func:`gd_torch.gradients.step_rules.step_range` on W and X;
    ``rounding=False`` still takes one that W_j + h_j rounds back to W_j (its difference is 0):
    gd_torch.teach.steps asks for it, to draw the error curve through that region on purpose.
    """
    _options(W, act, scheme, batch)
    _finite_z(X, W)
    h = caller_steps(W, scheme, step, X, rounding=rounding)  # a caller's step against X's scale too
    return _at_steps(W, X, y, lo, act, scheme, h, batch, f_noise, f_rel)


def _finite_z(X: np.ndarray, W: np.ndarray) -> None:
    with _blas.single_thread():
        # one thread: a threaded BLAS call leaves its threads spinning for a while, taking
        # the cores from the blocked evaluation that follows; this product is cheap beside it
        _validate.z_of(X, W)  # X finite (checked through z) before its column scales are read


def _at_steps(W, X, y, lo, act, scheme, h, batch=None, f_noise=None, f_rel=0.0) -> NumericGradient:
    # the differences of L on (X, y) at the checked steps h
    L = lambda Wb: evaluate(Wb, X, y, lo, act, batch)  # noqa: E731
    return differences(W, L, X.shape[0], scheme=scheme, h=h, f_noise=f_noise, f_rel=f_rel)


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
    coordinate (v None) or the derivative along the unit direction v.  A scheme that subtracts
    nothing (the complex step) evaluates the formula to rounding, so it carries the exact
    methods' error plus its own underflow floor.

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
    error = res.error if SCHEMES[scheme].subtracts else res.error + exact
    return Estimate(np.asarray(res.grad, dtype=np.float64), np.asarray(error, dtype=np.float64), steps)


def _directional(W, X, y, lo, act, v, scheme, model) -> NumericGradient:
    # the numeric method along v: L(W + t v) as a function of the scalar t, any scheme
    check_options(W, act, scheme=scheme)  # the same refusals as every coordinate (complex step at a kink)
    # the 1-D problem in t: design column X v, weight 0, offset z0 = X W; z moves by at most
    # z_step (with z's rounding from the whole of X W) when t = z_step / max_i |(X v)_i|
    Xv = (X @ v.astype(W.dtype))[:, None]
    rows = step_rows(X, W)
    scale_v = float(step_scale(Xv, rows)[0])
    t = step_along(W, scheme, step_scale(X, rows), X.shape[0], scale_v)
    lo_t, act_t = _shifted(lo, act, X @ W)
    zero = np.zeros(1, dtype=W.dtype)
    _finite_z(Xv, zero)
    # t is this module's own step, not a caller's: where X's scale puts it outside the rules on W
    # (a normal number, t and 2 t finite; X near 1e305 or subnormal), X is what the caller passed
    t_min, t_max = (float(b[0]) for b in step_range(zero, scheme))
    if not t_min <= t <= t_max:
        raise bad_value(
            "X",
            f"data with max |X v| = {scale_v:.3g} along a random unit v (over the rows a step can resolve)",
            f"data on which mode='directional' can step along v: the step z_step / max |X v| = {t:.3g} "
            f"must lie in [{t_min:.3g}, {t_max:.3g}] (rescale X, e.g. standardise its columns, or use mode='full')",
        )
    h = caller_steps(zero, scheme, t)
    return _at_steps(zero, Xv, y, lo_t, act_t, scheme, h, f_noise=model.f_noise, f_rel=model.f_rel)


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
