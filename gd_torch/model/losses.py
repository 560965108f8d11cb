"""Losses L(a, y) = reduce_i l_i: the per-sample terms, dL/da written by hand, and the registry.

A user's own loss is a :class:`Loss` passed wherever a name is accepted; the built-ins are
defined through the same constructor.

Everything here is plain numpy and works on real arrays and, for the complex-step
derivative, on complex ones (every formula is analytic: no abs, no clipping on the
smooth paths).  Arrays of pre-activations may be 1-D (one weight vector) or 2-D of
shape (n_samples, k) (k weight vectors at once); y broadcasts against the first axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .._errors import bad_value
from .activations import softplus
from .parts import check_part

Array = np.ndarray

# ---- losses ------------------------------------------------------------------------


@dataclass(frozen=True)
class Loss:
    """One loss L(a, y) = reduce_i l_i: the per-sample terms, their reduction and dL/da.

    Pass one wherever a loss name is accepted (``objective``, ``gradient``, ``check``, ``fit``,
    ``GDClassifier``, ...)::

        pseudo_huber = gd_torch.Loss(
            "pseudo-huber", terms=lambda z, a, y: np.sqrt(1 + (a - y) ** 2) - 1, reduction="mean",
            dL_da=lambda a, y, n: (a - y) / np.sqrt(1 + (a - y) ** 2) / n,
            formula="L = mean_i sqrt(1 + (a_i - y_i)^2) - 1", dformula="dL/da = (a - y) / sqrt(1 + (a - y)^2) / N",
            torch_terms=lambda z, a, y: (1 + (a - y) ** 2).sqrt() - 1)

    ``terms(z, a, y)`` gives the per-sample terms, ``dL_da(a, y, n)`` the derivative of the
    reduced loss, with n the number of samples; ``torch_terms`` the terms on torch tensors,
    needed by ``method='autograd'`` only.  A user's loss gets z, a and y as arrays of one shape
    (n,), read-only (on k weight vectors at once, as finite differences evaluate them, it is
    called once per column), and each output is checked: of a's shape, real, finite where the
    input is (gd_torch.model.parts.checked); the built-ins also take (n, k) arrays, y broadcasting
    along axis 0.
    For the rounding-error model, ``dL_abs`` and ``terms_abs`` give the size of the pieces of
    dL/da and of each term before they cancel; the defaults charge the rounding of a (u |a|)
    and of y through the term's own slope: ``terms_abs = |l| + (|a| + |y|) |dl/da|`` and
    ``dL_abs = |dL/da| + 2 (|a| + |y|) / m`` (m = 1 for a sum, N for a mean), right for the
    squared error and conservative for smooth losses of a - y.
    """

    name: str
    #: per-sample terms l_i >= 0, from (z, a, y); y broadcasts along axis 0
    terms: Callable[[Array, Array, Array], Array]
    #: over samples
    reduction: Literal["sum", "mean"]
    #: dL/da, from (a, y) and n_samples
    dL_da: Callable[[Array, Array, int], Array]
    formula: str
    dformula: str
    #: activations the loss is defined for (None: all)
    activations: tuple[str, ...] | None = None
    #: labels must be 0 or 1
    binary: bool = False
    #: |pieces| of dL/da (or of dL/dz when fused) before cancellation, for the error model
    dL_abs: Callable[[Array, Array, int], Array] | None = None
    #: dL/dz written directly for the one activation where the chain rule simplifies
    dL_dz: Callable[[Array, Array, int], Array] | None = None
    #: |pieces| of each term l_i before cancellation, from (z, a, y): the rounding error of
    #: evaluating l_i is ~ u times this, which can far exceed u |l_i| (see errormodel.py)
    terms_abs: Callable[[Array, Array, Array], Array] | None = None
    #: the per-sample terms on torch tensors (z, a, y), for autograd (None: autograd cannot use this loss)
    torch_terms: Callable[[Any, Any, Any], Any] | None = None

    def __post_init__(self) -> None:
        check_part(self, ("terms", "dL_da"), ("dL_abs", "dL_dz", "terms_abs", "torch_terms"), ("formula", "dformula"))
        if self.reduction not in ("sum", "mean"):
            raise bad_value("Loss.reduction", self.reduction, "'sum' or 'mean'")
        if self.dL_abs is None:
            object.__setattr__(self, "dL_abs", self._default_dL_abs)
        if self.terms_abs is None:
            object.__setattr__(self, "terms_abs", self._default_terms_abs)

    def from_total(self, total: Any, n: int) -> Any:
        """L from the sum of its n terms (or anything summed over the samples as L is): the total
        itself for a sum, total / n for a mean."""
        return total if self.reduction == "sum" else total / n

    def _default_dL_abs(self, a: Array, y: Array, n: int) -> Array:
        return np.abs(self.dL_da(a, y, n)) + self.from_total(2 * (np.abs(a) + np.abs(y)), n)

    def _default_terms_abs(self, z: Array, a: Array, y: Array) -> Array:
        yc = _col(y, a)
        slope = np.abs(self.dL_da(a, yc, 1))  # dl_i/da_i: the reduced loss's derivative with N = 1
        return np.abs(self.terms(z, a, y)) + (np.abs(a) + np.abs(yc)) * slope


def _sq(z: Array, a: Array, y: Array) -> Array:
    e = a - _col(y, a)
    return e * e


def _sq_abs(z: Array, a: Array, y: Array) -> Array:
    # l = e^2 with e = a - y: a carries a rounding error ~ u |a|, which e^2 turns into
    # ~ 2 |e| u |a|; as a -> y the term is tiny but this absolute error is not
    e = np.abs(a - _col(y, a))
    return e * e + 2 * e * np.abs(a)


def _bce_abs(z: Array, a: Array, y: Array) -> Array:
    # softplus(z) - y z: for y = 1 and large z both pieces are ~ z and cancel to ~ e^-z
    return np.abs(softplus(z)) + np.abs(_col(y, z) * z)


def _bce_terms(z: Array, a: Array, y: Array) -> Array:
    # -y log(a) - (1 - y) log(1 - a) with a = sigmoid(z) is softplus(z) - y z exactly;
    # written from z it never takes log(0).
    return softplus(z) - _col(y, z) * z


def _torch_sq(z: Any, a: Any, y: Any) -> Any:
    e = a - y
    return e * e


def _torch_bce(z: Any, a: Any, y: Any) -> Any:
    # softplus(z) - y z with softplus(z) = log(e^0 + e^z): torch.nn.functional.softplus returns z
    # itself above its threshold 20, which would make d/dz exactly 1 there instead of sigmoid(z)
    return z.logaddexp(z.new_zeros(())) - y * z


def _logcosh(z: Array, a: Array, y: Array) -> Array:
    # log cosh e = t + log1p(expm1(-2t) / 2) with t = +-e by the sign of Re e: no overflow,
    # and analytic on each side; the first-order pieces cancel to ~e^2/2
    e = a - _col(y, a)
    t = np.where(np.real(e) >= 0, e, -e)
    stable = t + np.log1p(np.expm1(-2 * t) / 2)
    if not np.iscomplexobj(e):
        return stable
    # the complex step reads Im L(z + ih) / h: in the form above the imaginary parts of t and of
    # log1p(...) cancel to h tanh|e| (relative error ~2u / |tanh e| for small e: 2e-14 at
    # e = 0.0039); log(cosh(e)) has no such cancellation in its imaginary part and cannot
    # overflow while |Re e| < 1
    small = np.abs(np.real(e)) < 1
    return np.where(small, np.log(np.cosh(np.where(small, e, 0))), stable)


def _logcosh_abs(z: Array, a: Array, y: Array) -> Array:
    e = a - _col(y, a)
    return np.abs(_logcosh(z, a, y)) + 2 * np.abs(e) + (np.abs(a) + np.abs(_col(y, a))) * np.abs(np.tanh(e))


def _torch_logcosh(z: Any, a: Any, y: Any) -> Any:
    # log(cosh(e)), whose backward is sinh(e) / cosh(e) = tanh(e) without cancellation (the
    # numpy form's t - t would reach autograd as 1 - (1 - tanh), losing tanh's relative accuracy
    # for small e); beyond |e| = 20 cosh would overflow, and log cosh e = |e| - log 2 to within
    # e^-40.  e is clamped inside cosh so that the branch not taken has a finite gradient.
    e = a - y
    inside = e.abs() < 20
    return inside * e.clamp(-20, 20).cosh().log() + (~inside) * (e.abs() - math.log(2))


def _col(y: Array, like: Array) -> Array:
    return y if np.ndim(like) == 1 else y[:, None]


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss(
            "sse",
            _sq,
            "sum",
            lambda a, y, n: 2 * (a - y),
            "L = sum_i (a_i - y_i)^2",
            "dL/da = 2 (a - y)",
            dL_abs=lambda a, y, n: 2 * (abs(a) + abs(y)),
            terms_abs=_sq_abs,
            torch_terms=_torch_sq,
        ),
        Loss(
            "mse",
            _sq,
            "mean",
            lambda a, y, n: 2 * (a - y) / n,
            "L = mean_i (a_i - y_i)^2",
            "dL/da = 2 (a - y) / N",
            dL_abs=lambda a, y, n: 2 * (abs(a) + abs(y)) / n,
            terms_abs=_sq_abs,
            torch_terms=_torch_sq,
        ),
        Loss(
            "bce",
            _bce_terms,
            "mean",
            lambda a, y, n: (a - y) / (a * (1 - a)) / n,
            "L = mean_i [-y_i log a_i - (1 - y_i) log(1 - a_i)] = mean_i [softplus(z_i) - y_i z_i]",
            "dL/da = (a - y) / (a (1 - a)) / N",
            activations=("sigmoid",),
            binary=True,
            # dL/dz = dL/da * da/dz = (a - y) / (a (1 - a)) / N * a (1 - a) = (a - y) / N
            dL_dz=lambda a, y, n: (a - y) / n,
            dL_abs=lambda a, y, n: (abs(a) + abs(y)) / n,
            terms_abs=_bce_abs,
            torch_terms=_torch_bce,
        ),
        # defined like a user's own, with its rounding pieces (the cancellation t - t)
        Loss(
            "logcosh",
            _logcosh,
            "mean",
            lambda a, y, n: np.tanh(a - y) / n,
            "L = mean_i log cosh(a_i - y_i)",
            "dL/da = tanh(a - y) / N",
            terms_abs=_logcosh_abs,
            torch_terms=_torch_logcosh,
        ),
    )
}
