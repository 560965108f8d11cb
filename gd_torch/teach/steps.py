"""Why the step h of a finite difference cannot go to 0 on a computer.

Along coordinate j, phi(t) = L(W + t e_j) and g = phi'(0) = dL/dW_j.  With d_k = phi^(k)(0),
Taylor's theorem gives each scheme's truncation error (the leading term and the next one):

    forward     (phi(h) - phi(0)) / h                = g + h d2 / 2 + h^2 d3 / 6 + ...
    central     (phi(h) - phi(-h)) / 2h              = g + h^2 d3 / 6 + h^4 d5 / 120 + ...
    richardson  (4 D(h/4) - D(h/2)) / 3, D central   = g - h^4 d5 / 7680 - 5 h^6 d7 / (1024 * 5040) - ...
    complex     Im phi(i h) / h                      = g - h^2 d3 / 6 + h^4 d5 / 120 - ...

and rounding: each value of phi carries an error of about eps |phi|, and the difference divides
it by h, so

    rounding ~ amp eps |f| / h          (amp = 2 forward, 1 central, 6 richardson)

(each Scheme of gd_torch.gradients.schemes.SCHEMES carries its two terms and its amp)

while the complex step subtracts nothing and stays at the rounding floor of an exact method.
Balancing C h^p against R / h gives the best step and error

    h* = (R / (p C))^(1/(p+1)),   E* = C h*^p + R / h*  ~  eps^(p/(p+1))

(eps^(1/2) forward, eps^(2/3) central, eps^(4/5) Richardson).  The differences are computed by
:func:`gd_torch.gradients.numeric.grad`, the checker's own code, at each step; d2 ... d7 by
nested torch autograd in float64; the exact g in long double by the hand-derived chain rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .._errors import bad_value
from ..base import validate as _validate
from ..data.datasets import tutorial_data
from ..gradients import analytic
from ..gradients import numeric as _numeric
from ..gradients.schemes import SCHEMES, by_order
from ..gradients.step_rules import default_steps
from ..model.activations import Activation
from ..model.forward import init_weights, loss_from_z, prepare
from ..model.losses import Loss
from ..precision import errormodel
from .steps_curves import REGIME_MARGIN, SchemeCurve, StepSweep
from .steps_text import table

#: the default sweep: 8 steps per decade from 1 down to 1e-16
DEFAULT_STEPS = np.logspace(0, -16, 129)


@dataclass(frozen=True)
class StepsResult:
    """The sweep of :func:`step_sweep`, one :class:`StepSweep` per dtype."""

    loss: str
    activation: str
    coordinate: int
    W: np.ndarray
    shape: tuple[int, int]
    steps: np.ndarray
    sweeps: dict[str, StepSweep]

    def table(self, per_decade: int = 1) -> str:
        """h against the relative error of each scheme (``per_decade`` rows per decade of h),
        then per scheme the best step observed against the one predicted and the checker's."""
        problem = {"loss": self.loss, "activation": self.activation, "coordinate": self.coordinate, "shape": self.shape}
        return table(self.sweeps, self.steps, per_decade, **problem)

    def __str__(self) -> str:
        return self.table()


def step_sweep(
    W: Any = None,
    X: Any = None,
    y: Any = None,
    *,
    coordinate: int = 0,
    loss: str | Loss = "sse",
    activation: str | Activation = "sigmoid",
    seed: int = 0,
    dtypes: Sequence[str] = ("float64", "float32"),
    schemes: Sequence[str] | None = None,
    steps: Any = None,
) -> StepsResult:
    """The error of each finite-difference scheme for dL/dW_j as the step h sweeps down to 1e-16.

    Parameters
    ----------
    W : array of shape (n_features,); default ``init_weights(n_features, seed=seed)`` (uniform [0, 1))
    X, y : arrays of shape (n_samples, n_features) and (n_samples,); default the tutorial's data
    coordinate : j, the weight whose derivative is taken
    loss, activation : names or gd_torch.Loss / gd_torch.Activation parts, as for gd_torch.objective
    dtypes : the precisions compared ('float64', 'float32'); the problem is cast to each
    schemes : default every scheme of gd_torch.gradients.schemes.SCHEMES the activation allows
        (the complex step needs a smooth one), from the lowest order up (schemes.by_order)
    steps : 1-D array of positive steps; default 8 per decade from 1 to 1e-16

    Returns
    -------
    StepsResult with, per dtype, each scheme's measured error, its truncation (slope p) and
    rounding (slope -1) lines, the best step observed and predicted, and the checker's step.
    """
    if X is None and y is None:
        X, y = tutorial_data()
    W0 = _validate.zero_weights(X)
    prepare(W0, X, y, loss, activation)  # X, y and the names, before W is drawn from X's width
    W = init_weights(W0.shape[0], seed=seed, dtype=W0.dtype) if W is None else W
    W, X, y, lo, act = prepare(W, X, y, loss, activation)
    j, dts, names, h = _options(coordinate, W.shape[0], dtypes, schemes, steps, act)
    sweeps = {str(dt): _sweep(W.astype(dt), X.astype(dt), y.astype(dt), lo, act, j, names, h) for dt in dts}
    return StepsResult(lo.name, act.name, j, W.astype(np.float64), X.shape, h, sweeps)


def _options(coordinate, d, dtypes, schemes, steps, act: Activation):
    # boundary checks of step_sweep's options
    _validate.integer("coordinate", coordinate, minimum=0, maximum=d - 1, accepted=f"a weight index from 0 to {d - 1}")
    if isinstance(dtypes, str) or not dtypes:
        raise bad_value("dtypes", dtypes, "a non-empty sequence of 'float64' and/or 'float32'")
    dts = [_validate.dtype("dtypes", dt) for dt in dtypes]
    if len(set(dts)) != len(dts):
        raise bad_value("dtypes", dtypes, "distinct dtypes")
    names = [s.name for s in by_order()]
    if schemes is None:
        schemes = [s.name for s in by_order() if act.smooth or not s.needs_smooth]
    if isinstance(schemes, str) or not schemes:
        raise bad_value("schemes", schemes, "a non-empty sequence of " + ", ".join(map(repr, names)))
    for s in schemes:
        _numeric.check_options(np.zeros(d), act, scheme=_validate.choice("schemes", s, names))
    h = DEFAULT_STEPS if steps is None else np.asarray(steps)
    if h.ndim != 1 or h.size < 2 or h.dtype.kind not in "iuf" or not (np.isfinite(h) & (h > 0)).all():
        raise bad_value("steps", steps, "a 1-D array of at least two positive finite steps")
    return int(coordinate), dts, list(dict.fromkeys(schemes)), h.astype(np.float64)


def _sweep(W, X, y, lo: Loss, act: Activation, j: int, schemes: list[str], h: np.ndarray) -> StepSweep:
    _validate.z_of(X, W)  # X finite, X W not overflowing
    exact = float(_reference(W, X, y, lo, act)[j])
    if exact == 0:
        raise bad_value("coordinate", j, "a weight whose derivative dL/dW_j is not 0 (errors are relative to it)")
    eps = float(np.finfo(W.dtype).eps)
    value = float(loss_from_z(X @ W, y, lo, act))
    d = _derivatives(W, X, y, lo, act, j, max(7, *(t.derivative for s in schemes for t in SCHEMES[s].series)))
    floor = float(errormodel.build(W, X, y, lo, act).exact[j]) / abs(exact)
    sw = StepSweep(str(W.dtype), eps, value, exact, d, floor, {})
    curves = {}
    for s in schemes:
        errors = np.array([_error(W, X, y, lo, act, s, j, exact, step) for step in h])
        chosen = float(default_steps(W, s)[j])
        curves[s] = _predict(sw, s, h, errors, chosen, _error(W, X, y, lo, act, s, j, exact, None))
    return replace(sw, curves=curves)


def _error(W, X, y, lo, act, scheme: str, j: int, exact: float, step: Any) -> float:
    # the checker's finite difference at ``step`` (None: its default step), relative to the exact g
    g = _numeric.estimate(W, X, y, lo, act, scheme=scheme, step=step, rounding=False).grad[j]
    return abs(float(g) - exact) / abs(exact)


def _predict(sw: StepSweep, scheme: str, h: np.ndarray, errors: np.ndarray, chosen: float, chosen_error: float):
    # truncation C h^p (and the next term C2 h^p2) from the scheme's series, rounding R / h; the best step balances them
    g = abs(sw.exact)
    s = SCHEMES[scheme]
    (p, c, k), (p2, c2, k2) = ((t.power, t.coefficient, t.derivative) for t in s.series)
    C, C2 = c * abs(sw.derivatives[k]), c2 * abs(sw.derivatives[k2])
    R = s.noise_amplification * sw.eps * abs(sw.value)
    truncation = C * h**p / g
    asymptotic = C2 * h**p2 < C * h**p / REGIME_MARGIN
    if R == 0:  # the complex step: no subtraction, rounding ~ eps of g; any step with truncation below it
        rounding = np.full(h.shape, sw.eps)
        h_star = (sw.eps * g / C) ** (1 / p) if C > 0 else float(h.max())
        e_star = sw.eps
    else:
        rounding = R / h / g
        # d/dh (C h^p + R / h) = 0; without truncation (C = 0) the largest step is best
        h_star = (R / (p * C)) ** (1 / (p + 1)) if C > 0 else float(h.max())
        e_star = (C * h_star**p + R / h_star) / g
    return SchemeCurve(
        scheme, p, h, errors, truncation, rounding, asymptotic, chosen, chosen_error, float(h_star), float(e_star)
    )


def _reference(W, X, y, lo: Loss, act: Activation) -> np.ndarray:
    # g = X^T dL/dz in long double (the hand-derived chain rule), of the problem as given in its dtype
    XL, WL, yL = (np.asarray(v, dtype=np.longdouble) for v in (X, W, y))
    z = XL @ WL
    return analytic.from_z(XL.T, z, act.f(z), yL, lo, act)


def _derivatives(W, X, y, lo: Loss, act: Activation, j: int, order: int = 7) -> dict[int, float]:
    """d_k = phi^(k)(0) for k = 1 .. order, phi(t) = L(W + t e_j), by nested torch autograd in float64
    (order: at least 7, and every derivative the schemes' truncation series name)."""
    import torch

    from ..gradients.autograd import forward

    t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    e_j = torch.zeros(W.shape[0], dtype=torch.float64)
    e_j[j] = 1.0
    Wt = torch.from_numpy(W.astype(np.float64)) + t * e_j
    _, _, phi = forward(Wt, torch.from_numpy(X.astype(np.float64)), torch.from_numpy(y.astype(np.float64)), lo, act)
    out: dict[int, float] = {}
    for k in range(1, order + 1):
        if not phi.requires_grad:  # phi^(k-1) no longer depends on t: every higher derivative is 0
            out[k] = 0.0
            continue
        (phi,) = torch.autograd.grad(phi, t, create_graph=True, allow_unused=True, materialize_grads=True)
        out[k] = float(phi.detach())
    return out
