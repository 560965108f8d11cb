"""The model: z = X @ W, a = f(z), L = loss(a, y).  Activations, losses and their registries.

Everything here is plain numpy and works on real arrays and, for the complex-step
derivative, on complex ones (every formula is analytic: no abs, no clipping on the
smooth paths).  Arrays of pre-activations may be 1-D (one weight vector) or 2-D of
shape (n_samples, k) (k weight vectors at once); y broadcasts against the first axis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from . import _memory, _validate
from ._errors import bad_value

Array = np.ndarray


# ---- activations -----------------------------------------------------------------


def sigmoid(z: Array) -> Array:
    r"""Logistic sigmoid :math:`\sigma(z) = 1 / (1 + e^{-z})`, elementwise.

    Stable for every finite z: no overflow warning and no NaN for |z| up to 1e6 and
    beyond (it saturates to exactly 0 or 1).  Real input uses ``scipy.special.expit``;
    complex input (complex-step derivatives) evaluates exp only of the non-positive
    real part.
    """
    z = np.asarray(z)
    if not np.iscomplexobj(z):
        return special.expit(z)
    out = np.empty_like(z)
    pos = z.real >= 0
    e = np.exp(-z[pos])
    out[pos] = 1.0 / (1.0 + e)
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def tanh(z: Array) -> Array:
    """Hyperbolic tangent, elementwise (numpy's, stable for real and complex z)."""
    return np.tanh(z)


def relu(z: Array) -> Array:
    """max(z, 0), elementwise.  Not differentiable at 0; its derivative there is taken as 0 (as torch does)."""
    return np.maximum(z, 0) if not np.iscomplexobj(z) else np.where(np.asarray(z).real > 0, z, 0)


def identity(z: Array) -> Array:
    """a = z."""
    return np.asarray(z)


def softplus(z: Array) -> Array:
    """log(1 + e^z), stable: e is only raised to non-positive real parts."""
    z = np.asarray(z)
    if not np.iscomplexobj(z):
        return np.logaddexp(0.0, z)
    out = np.empty_like(z)
    pos = z.real >= 0
    out[pos] = z[pos] + np.log1p(np.exp(-z[pos]))
    out[~pos] = np.log1p(np.exp(z[~pos]))
    return out


@dataclass(frozen=True)
class Activation:
    """One activation: the function, its derivative written by hand, and their formulas."""

    name: str
    f: Callable[[Array], Array]
    #: f'(z), given z and a = f(z) (the sigmoid's and tanh's are cheapest from a)
    df: Callable[[Array, Array], Array]
    formula: str
    dformula: str
    #: differentiable everywhere (the complex step needs this)
    smooth: bool
    #: |pieces| of df before cancellation, for the rounding-error model (see errormodel.py)
    df_abs: Callable[[Array, Array], Array] = lambda z, a: np.ones_like(a)
    #: points where the derivative does not exist
    kinks: tuple[float, ...] = ()


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation(
            "sigmoid",
            sigmoid,
            lambda z, a: a * (1 - a),
            "a = 1 / (1 + exp(-z))",
            "da/dz = a (1 - a)",
            True,
            df_abs=lambda z, a: a * (1 - a) + 1,
        ),
        Activation(
            "tanh", tanh, lambda z, a: 1 - a * a, "a = tanh(z)", "da/dz = 1 - a^2", True, df_abs=lambda z, a: 1 + a * a
        ),
        Activation(
            "relu",
            relu,
            lambda z, a: (np.asarray(z).real > 0).astype(np.real(a).dtype),
            "a = max(z, 0)",
            "da/dz = 1 if z > 0 else 0 (undefined at z = 0; 0 is used, as torch does)",
            False,
            df_abs=lambda z, a: (z > 0).astype(a.dtype),
            kinks=(0.0,),
        ),
        Activation("identity", identity, lambda z, a: np.ones_like(np.real(a)), "a = z", "da/dz = 1", True),
    )
}


# ---- losses ------------------------------------------------------------------------


@dataclass(frozen=True)
class Loss:
    """One loss L(a, y) = reduce(terms): the per-sample terms, their reduction and dL/da."""

    name: str
    #: per-sample terms l_i >= 0, from (z, a, y); y broadcasts along axis 0
    terms: Callable[[Array, Array, Array], Array]
    #: "sum" or "mean" over samples
    reduction: str
    #: dL/da, from (a, y) and n_samples
    dL_da: Callable[[Array, Array, int], Array]
    formula: str
    dformula: str
    #: activations the loss is defined for (None: all)
    activations: tuple[str, ...] | None = None
    #: labels must be 0 or 1
    binary: bool = False
    #: |pieces| of dL/da (or of dL/dz when fused) before cancellation, for the error model
    dL_abs: Callable[[Array, Array, int], Array] = lambda a, y, n: 2 * (abs(a) + abs(y))
    #: dL/dz written directly for the one activation where the chain rule simplifies
    dL_dz: Callable[[Array, Array, int], Array] | None = None
    #: |pieces| of each term l_i before cancellation, from (z, a, y): the rounding error of
    #: evaluating l_i is ~ u times this, which can far exceed u |l_i| (see errormodel.py)
    terms_abs: Callable[[Array, Array, Array], Array] = lambda z, a, y: _sq_abs(z, a, y)


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


def _col(y: Array, like: Array) -> Array:
    return y if np.ndim(like) == 1 else y[:, None]


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("sse", _sq, "sum", lambda a, y, n: 2 * (a - y), "L = sum_i (a_i - y_i)^2", "dL/da = 2 (a - y)"),
        Loss(
            "mse",
            _sq,
            "mean",
            lambda a, y, n: 2 * (a - y) / n,
            "L = mean_i (a_i - y_i)^2",
            "dL/da = 2 (a - y) / N",
            dL_abs=lambda a, y, n: 2 * (abs(a) + abs(y)) / n,
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
        ),
    )
}


def resolve(loss: str, activation: str) -> tuple[Loss, Activation]:
    """Look up a (loss, activation) pair, refusing unknown names and undefined pairs."""
    lo = LOSSES[_validate.choice("loss", loss, LOSSES)]
    act = ACTIVATIONS[_validate.choice("activation", activation, ACTIVATIONS)]
    if lo.activations is not None and act.name not in lo.activations:
        raise bad_value(
            "activation",
            act.name,
            f"one of {', '.join(map(repr, lo.activations))} with loss={lo.name!r} "
            f"(cross-entropy needs a probability in (0, 1), which only the sigmoid gives)",
        )
    return lo, act


def reduce(lo: Loss, terms: Array) -> Any:
    """Sum or average the per-sample terms along axis 0."""
    return terms.sum(axis=0) if lo.reduction == "sum" else terms.mean(axis=0)


def check_labels(lo: Loss, y: Array) -> None:
    """Labels must be 0/1 for the losses that say so."""
    if lo.binary:
        _validate.binary_labels(y, f"loss={lo.name!r} is a cross-entropy over binary labels")


def prepare(W: Any, X: Any, y: Any, loss: str, activation: str) -> tuple[Array, Array, Array, Loss, Activation]:
    """Validate one problem at the boundary: names, shapes, dtypes, labels (not X's values)."""
    lo, act = resolve(loss, activation)
    W, X, y = _validate.problem(W, X, y)
    check_labels(lo, y)
    return W, X, y, lo, act


def loss_from_z(z: Array, y: Array, lo: Loss, act: Activation) -> Any:
    """L for pre-activations z of shape (n,) or (n, k)."""
    return reduce(lo, lo.terms(z, act.f(z), y))


def objective(W: Any, X: Any, y: Any, *, loss: str = "sse", activation: str = "sigmoid") -> float:
    r"""The loss of the model at W: :math:`L(f(X W), y)`.

    Parameters
    ----------
    W : array of shape (n_features,)
    X : array of shape (n_samples, n_features), float32 or float64; with the bias column
        already in it if there is one (see :func:`gd_torch.add_bias`)
    y : array of shape (n_samples,)
    loss : 'sse' (sum of squared errors, as the tutorial prints it), 'mse' or 'bce'
    activation : 'sigmoid', 'tanh', 'relu' or 'identity'

    Returns
    -------
    float
    """
    W, X, y, lo, act = prepare(W, X, y, loss, activation)
    z = _validate.z_of(X, W)
    return float(loss_from_z(z, y, lo, act))


def add_bias(X: Any) -> Array:
    """Prepend a column of ones to X, shape (n, d) -> (n, d + 1): the bias becomes W[0]."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0:
        raise bad_value("X", f"an array of shape {X.shape}", "2-D with at least one row")
    if X.dtype.kind not in "biuf":  # strings fail in the copy below; complex would lose its imaginary part
        raise bad_value("X", f"an array of dtype {X.dtype}", "real numbers (bool, integer or float)")
    dt = X.dtype if X.dtype in _validate.FLOAT_DTYPES else np.dtype(np.float64)
    out = np.empty((X.shape[0], X.shape[1] + 1), dtype=dt)
    out[:, 0] = 1
    out[:, 1:] = X
    return out


INITS = ("uniform", "zeros", "normal")


def init_weights(n_features: int, init: str = "uniform", seed: int | None = None, dtype: Any = np.float64) -> Array:
    """Initial W of shape (n_features,): 'uniform' on [0, 1) as the tutorial, 'zeros', or 'normal' (0, 1)."""
    _validate.choice("init", init, INITS)
    n_features = _validate.integer("n_features", n_features, minimum=1)
    dt = _validate.dtype("dtype", dtype)
    _memory.require(2 * _memory.array_bytes((n_features,), np.float64), f"W ({n_features} float64)", "n_features")
    rng = np.random.default_rng(_validate.seed("seed", seed))
    draw = {"uniform": lambda: rng.uniform(size=n_features), "zeros": lambda: np.zeros(n_features)}
    W = draw.get(init, lambda: rng.standard_normal(n_features))()
    return W.astype(dt)
