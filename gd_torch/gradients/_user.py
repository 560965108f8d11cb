"""A user's own gradient as a method: a callable ``g(W, X, y) -> array`` or a precomputed array.

It is held to the same error model as the exact methods (it claims to be the gradient's
formula evaluated to rounding), so a slip as small as a few rounding errors shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._errors import GdTorchError, bad_value
from ._method import Method


def candidate(spec: Any, name: str | None, taken: Any) -> Method:
    """A :class:`Method` for a user's callable or array called ``name`` (a callable's default:
    its ``__name__``); ``taken`` are the names it must not shadow."""
    if callable(spec):
        name = name or getattr(spec, "__name__", None) or "your_gradient"
        grad = _from_callable(spec, name)
        what = f"your function {name}(W, X, y)"
    else:
        name = name or "your_gradient"
        grad = _from_array(spec, name)
        what = "your precomputed gradient"
    if not isinstance(name, str) or not name or name in taken:
        raise bad_value("methods", name, "a name for your gradient that is not a built-in method's")
    return Method(name, what, what, grad)


def _from_callable(fn: Callable[..., Any], name: str) -> Callable[..., np.ndarray]:
    def grad(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Any, act: Any) -> np.ndarray:
        # copies: a function that writes into its arguments must not change the other methods' input
        return _checked(name, fn(W.copy(), X, y), W)

    return grad


def _from_array(value: Any, name: str) -> Callable[..., np.ndarray]:
    def grad(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Any, act: Any) -> np.ndarray:
        return _checked(name, value, W)

    return grad


def _checked(name: str, value: Any, W: np.ndarray) -> np.ndarray:
    # the usual clear errors for a user's gradient: shape, real numbers, finiteness
    g = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    if g.shape != W.shape:
        raise bad_value(f"your gradient {name!r}", f"an array of shape {g.shape}", f"of W's shape {W.shape}")
    if g.dtype.kind not in "biuf":
        raise bad_value(f"your gradient {name!r}", f"an array of dtype {g.dtype}", "real numbers")
    bad = ~np.isfinite(g)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise GdTorchError(f"your gradient {name!r} must be finite (no NaN or inf); got {g[j]} at j={j}")
    return g.astype(np.float64)
