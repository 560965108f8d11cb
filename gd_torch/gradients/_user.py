"""A user's own gradient as a method: a callable ``g(W, X, y) -> array`` or a precomputed array.

It is held to the same error model as the exact methods (it claims to be the gradient's
formula evaluated to rounding), so a slip as small as a few rounding errors shows.  The
callable gets read-only views of W, X and y (it cannot change the caller's data or the other
methods' input); whatever it raises, and whatever it returns that is not a finite real array
of W's shape, is a GdTorchError naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._errors import GdTorchError, bad_value
from ..model.parts import call_user
from ._method import Method


def candidate(spec: Any, name: str | None, taken: Any) -> Method:
    """A :class:`Method` for a user's callable or array called ``name`` (a callable's default:
    its ``__name__``); ``taken`` are the names it must not shadow."""
    if callable(spec):
        name = name or getattr(spec, "__name__", None) or "your_gradient"
        name = "your_gradient" if name == "<lambda>" else name
        grad = _from_callable(spec, name)
        what = _what(name)
    else:
        name = name or "your_gradient"
        grad = _from_array(spec, name)
        what = "your precomputed gradient"
    if not isinstance(name, str) or not name or name in taken:
        raise bad_value("methods", name, "a name for your gradient that is not a built-in method's")
    return Method(name, what, what, grad)


def _what(name: str) -> str:
    return f"your function {name}(W, X, y)"


def _from_callable(fn: Callable[..., Any], name: str) -> Callable[..., np.ndarray]:
    def grad(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Any, act: Any) -> np.ndarray:
        # read-only views: a function that writes into its arguments must not change the
        # caller's data nor the other methods' input
        return _checked(name, call_user(_what(name), fn, W, X, y), W)

    return grad


def _from_array(value: Any, name: str) -> Callable[..., np.ndarray]:
    def grad(W: np.ndarray, X: np.ndarray, y: np.ndarray, lo: Any, act: Any) -> np.ndarray:
        return _checked(name, value, W)

    return grad


def _checked(name: str, value: Any, W: np.ndarray) -> np.ndarray:
    # the usual clear errors for a user's gradient: shape, real numbers, finiteness
    try:
        g = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    except Exception as exc:  # a ragged list, an object numpy cannot read
        raise GdTorchError(
            f"your gradient {name!r} must be an array of W's shape {W.shape}; got a {type(value).__name__} "
            f"that numpy cannot read as an array ({type(exc).__name__}: {exc})"
        ) from exc
    if value is None or g.shape != W.shape:
        got = None if value is None else f"an array of shape {g.shape}"
        raise bad_value(f"your gradient {name!r}", got, f"of W's shape {W.shape}")
    if g.dtype.kind not in "biuf":
        raise bad_value(f"your gradient {name!r}", f"an array of dtype {g.dtype}", "real numbers")
    bad = ~np.isfinite(g)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise GdTorchError(f"your gradient {name!r} must be finite (no NaN or inf); got {g[j]} at j={j}")
    return g.astype(np.float64)
