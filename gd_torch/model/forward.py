"""The model: z = X W, a = f(z), L = loss(a, y), dL/dz, and the problem's boundary checks.

The activations are defined in :mod:`gd_torch.model.activations`, the losses in
:mod:`gd_torch.model.losses`; this module resolves a (loss, activation) pair and computes with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._errors import bad_value
from ..base import finite as _finite
from ..base import memory as _memory
from ..base import validate as _validate
from .activations import ACTIVATIONS, Activation
from .losses import LOSSES, Loss
from .parts import checked

Array = np.ndarray

__all__ = [
    "add_bias",
    "delta",
    "init_weights",
    "loss_from_z",
    "objective",
    "prepare",
    "reduce",
    "resolve",
]


def resolve(loss: str | Loss, activation: str | Activation) -> tuple[Loss, Activation]:
    """The (loss, activation) pair: a registered name or a user's own :class:`Loss` /
    :class:`Activation`; unknown names and undefined pairs are refused."""
    lo = _part("loss", loss, LOSSES, Loss)
    act = _part("activation", activation, ACTIVATIONS, Activation)
    if lo.activations is not None and act.name not in lo.activations:
        raise bad_value(
            "activation",
            act.name,
            f"one of {', '.join(map(repr, lo.activations))} with loss={lo.name!r} "
            f"(cross-entropy needs a probability in (0, 1), which only the sigmoid gives)",
        )
    return lo, act


def _part(name: str, value: Any, registry: dict[str, Any], kind: type) -> Any:
    if isinstance(value, kind):  # a user's own part: its callables checked at this boundary
        return value if registry.get(value.name) is value else checked(value)
    if not isinstance(value, str) or value not in registry:
        accepted = "one of " + ", ".join(map(repr, registry)) + f" or a gd_torch.{kind.__name__}"
        raise bad_value(name, value, accepted)
    return registry[value]


def reduce(lo: Loss, terms: Array) -> Any:
    """Sum or average the per-sample terms along axis 0."""
    return terms.sum(axis=0) if lo.reduction == "sum" else terms.mean(axis=0)


def check_labels(lo: Loss, y: Array) -> None:
    """Labels must be 0/1 for the losses that say so."""
    if lo.binary:
        _validate.binary_labels(y, f"loss={lo.name!r} is a cross-entropy over binary labels")


def prepare(
    W: Any, X: Any, y: Any, loss: str | Loss, activation: str | Activation
) -> tuple[Array, Array, Array, Loss, Activation]:
    """Validate one problem at the boundary: names, shapes, dtypes, labels (not X's values)."""
    lo, act = resolve(loss, activation)
    W, X, y = _validate.problem(W, X, y)
    check_labels(lo, y)
    return W, X, y, lo, act


def delta(
    z: Array,
    y: Array,
    lo: Loss,
    act: Activation,
    n: int | None = None,
    a: Array | None = None,
    df: Callable[[Array, Array], Array] | None = None,
) -> Array:
    """dL/dz for pre-activations z of shape (n_samples,): the chain rule's one copy,

        dL/dz = dL/da * da/dz,   or the loss's fused ``dL_dz`` (bce with the sigmoid: (a - y) / N).

    ``n`` is the loss's sample count when z and y are one block of a larger problem;
    ``a`` = f(z) when the caller has it.  ``df(z, a)``: da/dz to take instead of the
    activation's own (the verdict's candidates pass autograd's for a user's activation, whose
    hand-written df is under test); the fused form has the activation's own derivative worked
    into it, so it is used only without ``df``.
    """
    a = act.f(z) if a is None else a
    n = y.shape[0] if n is None else n
    if lo.dL_dz is not None and df is None:  # the pair where the chain rule collapses (bce with sigmoid)
        return lo.dL_dz(a, y, n)
    return lo.dL_da(a, y, n) * (act.df if df is None else df)(z, a)  # dL/dz = dL/da * da/dz


def loss_from_z(z: Array, y: Array, lo: Loss, act: Activation) -> Any:
    """L for pre-activations z of shape (n,) or (n, k)."""
    return reduce(lo, lo.terms(z, act.f(z), y))


def objective(W: Any, X: Any, y: Any, *, loss: str | Loss = "sse", activation: str | Activation = "sigmoid") -> float:
    r"""The loss of the model at W: :math:`L(f(X W), y)`.

    Parameters
    ----------
    W : array of shape (n_features,)
    X : array of shape (n_samples, n_features), float32 or float64; with the bias column
        already in it if there is one (see :func:`gd_torch.add_bias`)
    y : array of shape (n_samples,)
    loss : 'sse' (sum of squared errors, as the tutorial prints it), 'mse', 'bce', 'logcosh',
        or a :class:`gd_torch.Loss` of your own
    activation : 'sigmoid', 'tanh', 'relu', 'identity', 'softplus', or a
        :class:`gd_torch.Activation` of your own

    Returns
    -------
    float
    """
    W, X, y, lo, act = prepare(W, X, y, loss, activation)
    z = _validate.z_of(X, W)
    return _finite.loss_value(lambda: loss_from_z(z, y, lo, act), X.dtype)


def add_bias(X: Any) -> Array:
    """Prepend a column of ones to X, shape (n, d) -> (n, d + 1): the bias becomes W[0]."""
    X = _validate.array("X", X)
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
