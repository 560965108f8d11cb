"""Every way of computing dL/dW, behind one registry of :class:`Method` values.

Public: the names in ``__all__``.  Everything else in this package is internal.

The CLI, the checker, the trainer, the tests and the benchmarks all loop over METHODS and
call the methods' behaviour; none of them compares method names.  Adding a method is one
module plus one :func:`register` line.  Names are those ``check`` uses: the finite
differences are one entry per scheme of gd_torch.gradients.schemes.SCHEMES ('numeric:central',
...), registered from that registry, and 'numeric' is the central scheme's other name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._errors import GdTorchError, bad_value
from ..base import finite as _finite
from ..base import validate as _validate
from ..model.forward import prepare
from . import analytic, numeric, tutorial
from ._method import Estimate, GradFn, Method
from .schemes import SCHEMES

__all__ = ["ALIASES", "METHODS", "Estimate", "Method", "gradient", "gradient_function", "lookup", "register"]

METHODS: dict[str, Method] = {}
#: other names of registered methods
ALIASES: dict[str, str] = {"numeric": "numeric:central"}


def register(method: Method) -> Method:
    """Add ``method`` to METHODS under its name (refusing a name already taken); return it."""
    if method.name in METHODS or method.name in ALIASES:
        raise bad_value("method.name", method.name, "a name not yet registered")
    METHODS[method.name] = method
    return method


def lookup(name: Any, parameter: str = "method") -> Method:
    """The registered method called ``name`` (or one of its ALIASES); refuse anything else."""
    if not isinstance(name, str) or (name not in METHODS and name not in ALIASES):
        aliases = ", ".join(f"{a!r} for {n!r}" for a, n in ALIASES.items())
        raise bad_value(parameter, name, "one of " + ", ".join(map(repr, METHODS)) + f" (or {aliases})")
    return METHODS[ALIASES.get(name, name)]


def _autograd(attr: str) -> Callable[..., Any]:
    # torch is imported when autograd is first used, so that numpy-only work never loads it
    def call(*args: Any, **kwargs: Any) -> Any:
        from . import autograd

        return getattr(autograd, attr)(*args, **kwargs)

    return call


register(
    Method(
        "analytic",
        "the chain rule derived by hand (numpy)",
        analytic.FORMULA,
        analytic.grad,
        analytic.make,
        from_z=analytic.from_z,
    )
)
register(
    Method(
        "autograd",
        "torch autograd on the same forward pass",
        "torch derives X^T (dL/da * da/dz) from the recorded z = X W, a = f(z), L",
        _autograd("grad"),
        _autograd("make"),
        devices=("cpu", "cuda"),
    )
)
for _scheme in SCHEMES.values():
    register(numeric.method(_scheme))
register(
    Method(
        "tutorial",
        "the tutorial's X^T (f(XW) - y) / N, whatever the loss",
        tutorial.FORMULA,
        tutorial.grad,
        from_z=tutorial.from_z,
        gradient_of=tutorial.gradient_of,
    )
)


def gradient(
    W: Any,
    X: Any,
    y: Any,
    *,
    method: str = "analytic",
    loss: str = "sse",
    activation: str = "sigmoid",
    device: str = "cpu",
    **options: Any,
) -> np.ndarray:
    r"""dL/dW of :func:`gd_torch.objective` at W, computed by ``method``.

    Parameters
    ----------
    W : array of shape (n_features,)
    X : array of shape (n_samples, n_features), float32 or float64
    y : array of shape (n_samples,)
    method : a name of :data:`METHODS`: 'analytic' (hand-derived chain rule), 'autograd'
        (torch), 'numeric:<scheme>' for each scheme of gd_torch.gradients.schemes.SCHEMES
        ('numeric:central' = 'numeric', 'numeric:forward', 'numeric:richardson',
        'numeric:complex'; finite differences, options ``step``, ``batch``) or 'tutorial' (the
        tutorial's formula)
    loss, activation : see :func:`gd_torch.objective`
    device : 'cpu', 'cuda' or 'cuda:N'; only methods that run on torch run elsewhere than the CPU

    Returns
    -------
    ndarray of shape (n_features,), in X's dtype
    """
    m, W, X, y, lo, act, kw = _resolve(W, X, y, method, loss, activation, device, options)
    return _finite.gradient_value(lambda: m.grad(W, X, y, lo, act, **kw), X.dtype, m.name)


def gradient_function(
    X: Any,
    y: Any,
    *,
    method: str = "analytic",
    loss: str = "sse",
    activation: str = "sigmoid",
    device: str = "cpu",
    **options: Any,
) -> GradFn:
    """Validate X, y and the names once; return ``g(W) -> dL/dW`` for repeated calls.

    This is what training loops call every step: the boundary checks (shapes, labels,
    names, device, options) are paid once, and a method may keep work arrays between calls
    (its ``make``).  W passed to ``g`` must be a float array of shape (n_features,) in X's
    dtype; z = X @ W is still checked for NaN/inf on every call.
    """
    W0 = _validate.zero_weights(X)
    m, W0, X, y, lo, act, kw = _resolve(W0, X, y, method, loss, activation, device, options)
    inner = m.function(X, y, lo, act, **kw)
    shape, dt = (X.shape[1],), X.dtype

    def g(W: np.ndarray) -> np.ndarray:
        # O(1) on the happy path: shape and dtype; finiteness of W is looked at only when the
        # method has already refused a non-finite z, so that the message blames W, not X
        if not isinstance(W, np.ndarray) or W.shape != shape or W.dtype != dt:
            got = f"an array of shape {W.shape} and dtype {W.dtype}" if isinstance(W, np.ndarray) else W
            raise bad_value("W", got, f"a numpy array of shape {shape} and dtype {dt} (X's)")
        try:
            return inner(W)
        except GdTorchError:
            if not np.isfinite(W).all():
                j = int(np.flatnonzero(~np.isfinite(W))[0])
                raise bad_value("W", f"W[{j}] = {W[j]}", "finite (no NaN or inf)") from None
            raise

    return g


def _resolve(W, X, y, method, loss, activation, device, options):
    # boundary checks shared by gradient and gradient_function
    m = lookup(method)
    W, X, y, lo, act = prepare(W, X, y, loss, activation)
    kw = m.ready(device, options, W, act, spelt=method)
    return m, W, X, y, lo, act, kw
