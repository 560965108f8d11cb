"""Every way of computing dL/dW, behind one registry and one function.

Each method module exposes ``grad(W, X, y, lo, act, **options)`` on validated inputs and
returns an array of W's shape and dtype (numeric returns a NumericGradient holding one).
The CLI, the checker, the trainer, the tests and the benchmarks all loop over METHODS.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .. import _validate
from .._errors import GdTorchError, bad_value
from ..model import prepare


@dataclass(frozen=True)
class Method:
    """A gradient method: where it lives, the keyword options it takes, what it computes."""

    name: str
    module: str
    options: tuple[str, ...]
    description: str

    def load(self) -> ModuleType:
        # imported on first use, so that numpy-only work never imports torch
        return importlib.import_module(f"{__name__}.{self.module}")


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("analytic", "analytic", (), "chain rule derived by hand, numpy"),
        Method("autograd", "autograd", ("device",), "torch autograd on the same forward pass"),
        Method("numeric", "numeric", ("scheme", "step", "batch"), "finite differences of the objective"),
        Method("tutorial", "tutorial", (), "the tutorial's X^T (f(XW) - y) / N, whatever the loss"),
    )
}


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
    method : 'analytic' (hand-derived chain rule), 'autograd' (torch), 'numeric'
        (finite differences; options ``scheme`` = 'central' | 'forward' | 'complex' |
        'richardson', ``step``, ``batch``) or 'tutorial' (the tutorial's formula)
    loss, activation : see :func:`gd_torch.objective`
    device : 'cpu', 'cuda' or 'cuda:N'; only the autograd method runs elsewhere than the CPU

    Returns
    -------
    ndarray of shape (n_features,), in X's dtype
    """
    m, W, X, y, lo, act, options = _resolve(W, X, y, method, loss, activation, device, options)
    result = m.load().grad(W, X, y, lo, act, **options)
    return result if isinstance(result, np.ndarray) else result.grad


def gradient_function(
    X: Any,
    y: Any,
    *,
    method: str = "analytic",
    loss: str = "sse",
    activation: str = "sigmoid",
    device: str = "cpu",
    **options: Any,
) -> Callable[[np.ndarray], np.ndarray]:
    """Validate X, y and the names once; return ``g(W) -> dL/dW`` for repeated calls.

    This is what training loops call every step: the boundary checks (shapes, labels,
    names, device) are paid once, and a method may keep work arrays between calls (its
    module's ``make``).  W passed to ``g`` must be a float array of shape (n_features,)
    in X's dtype; z = X @ W is still checked for NaN/inf on every call.
    """
    W0 = _validate.zero_weights(X)
    m, _, X, y, lo, act, options = _resolve(W0, X, y, method, loss, activation, device, options)
    module = m.load()
    if hasattr(module, "make"):
        inner = module.make(X, y, lo, act, **options)
    elif m.name == "numeric":
        module.check_options(W0.astype(X.dtype), act, **options)  # scheme, step, batch: now, not at the first call
        inner = lambda W: module.grad(W, X, y, lo, act, **options).grad  # noqa: E731
    else:
        inner = lambda W: module.grad(W, X, y, lo, act, **options)  # noqa: E731
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
    m = METHODS[_validate.choice("method", method, METHODS)]
    W, X, y, lo, act = prepare(W, X, y, loss, activation)
    unknown = sorted(set(options) - set(m.options))
    if unknown:
        accepted = ", ".join(m.options) or "none"
        raise GdTorchError(f"options {unknown} are not accepted by method={method!r}; accepted: {accepted}")
    if m.name == "autograd":
        m.load().resolve_device(device)  # refuse an absent CUDA device now, not at the first call
        options["device"] = device
    elif device != "cpu":
        raise GdTorchError(
            f"device must be 'cpu' for method={method!r} (a numpy method); got {device!r}. "
            "Only method='autograd' runs on CUDA."
        )
    return m, W, X, y, lo, act, options
