"""Boundary checks shared by every public function.

Checks here are cheap: shapes, dtypes and names are O(1); the values of W and y are
O(D) and O(N).  X itself is never scanned: a NaN or inf anywhere in X makes the
corresponding entry of z = X @ W non-finite (NaN * 0 is NaN), so callers test the
N-vector z with :func:`finite_z` where they compute it anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._errors import GdTorchError, bad_value

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def choice(name: str, value: object, options: Mapping[str, Any] | tuple[str, ...]) -> str:
    """Return ``value`` if it names one of ``options``; raise naming the options otherwise."""
    names = tuple(options)
    if not isinstance(value, str) or value not in names:
        raise bad_value(name, value, "one of " + ", ".join(repr(n) for n in names))
    return value


def dtype(name: str, value: object) -> np.dtype:
    """Resolve a dtype spelled as a string or numpy dtype; only float32 and float64 pass."""
    # None is refused explicitly: np.dtype(None) is float64, and np.dtype('float64') == None
    # is True, so neither "np.dtype(value)" nor "in FLOAT_DTYPES" would catch it
    try:
        resolved = None if value is None else np.dtype(value)  # type: ignore[call-overload]
    except TypeError:
        resolved = None
    if resolved is None or resolved not in FLOAT_DTYPES:
        raise bad_value(name, value, "'float32' or 'float64'")
    return resolved


def seed(name: str, value: object, none_ok: bool = True) -> int | None:
    """A random seed: a non-negative integer (or None where allowed); numpy and scikit-learn refuse the rest."""
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise bad_value(name, value, ("None or " if none_ok else "") + "a non-negative integer")
    return int(value)


def zero_weights(X: Any) -> np.ndarray:
    """A zero W of X's width and float dtype: lets the checks of :func:`problem` run on (X, y) alone."""
    X = np.asarray(X)
    return np.zeros(X.shape[1] if X.ndim == 2 else 0, dtype=X.dtype if X.dtype.kind == "f" else np.float64)


def problem(W: Any, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check shapes and dtypes of one problem and return (W, X, y) as float arrays.

    X : array of shape (n_samples, n_features), float32 or float64 (integers become float64).
    W : array of shape (n_features,); a float array must have X's dtype, anything else
        (a list, integers) is converted to it.
    y : array of shape (n_samples,), finite; converted to X's dtype.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise bad_value("X", f"an array of shape {X.shape}", "2-D, of shape (n_samples, n_features)")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise bad_value("X", f"an array of shape {X.shape}", "non-empty (at least one sample and one feature)")
    if X.dtype.kind in "biu":
        X = X.astype(np.float64)
    if X.dtype not in FLOAT_DTYPES:
        raise bad_value("X", f"an array of dtype {X.dtype}", "of dtype float32 or float64")
    W = _vector("W", W, X.shape[1], X.dtype, "(n_features,) = " + f"({X.shape[1]},), one weight per column of X")
    if not np.isfinite(W).all():
        j = int(np.flatnonzero(~np.isfinite(W))[0])
        raise bad_value("W", f"W[{j}] = {W[j]}", "finite (no NaN or inf)")
    y = _vector("y", y, X.shape[0], X.dtype, f"({X.shape[0]},), one label per row of X")
    if not np.isfinite(y).all():
        i = int(np.flatnonzero(~np.isfinite(y))[0])
        raise bad_value("y", f"y[{i}] = {y[i]}", "finite (no NaN or inf)")
    return W, X, y


def _vector(name: str, value: Any, length: int, dt: np.dtype, shape_text: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.shape[0] != length:
        raise bad_value(name, f"an array of shape {arr.shape}", f"of shape {shape_text}")
    if arr.dtype.kind == "f" and arr.dtype != dt and arr.dtype in FLOAT_DTYPES and name == "W":
        raise bad_value(
            name, f"an array of dtype {arr.dtype}", f"of X's dtype ({dt}); convert one of them, e.g. W.astype(X.dtype)"
        )
    if arr.dtype.kind not in "biuf":
        raise bad_value(name, f"an array of dtype {arr.dtype}", "real numbers")
    return np.ascontiguousarray(arr, dtype=dt)


def binary_labels(y: np.ndarray, why: str) -> None:
    """Raise unless every label is exactly 0 or 1."""
    bad = (y != 0) & (y != 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise bad_value("y", f"y[{i}] = {y[i]}", f"0 or 1 ({why})")


def z_of(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """z = X @ W, checked with :func:`finite_z`.

    numpy's matmul warns (RuntimeWarning) on inf * 0 and on overflow before the check can
    run; under ``-W error`` (as the test suite runs) that warning would escape instead of
    the GdTorchError, so the product is taken with those warnings silenced: the NaN or inf
    they announce is exactly what finite_z reports.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        z = X @ W
    finite_z(z)
    return z


def finite_z(z: Any) -> None:
    """Raise if z = X @ W has a NaN or inf: X holds one (W was checked) or X @ W overflowed."""
    ok = np.isfinite(z).all() if isinstance(z, np.ndarray) else bool(z.isfinite().all())
    if not ok:
        zz = np.asarray(z.detach().cpu()) if not isinstance(z, np.ndarray) else z
        i = int(np.flatnonzero(~np.isfinite(zz))[0])
        raise GdTorchError(
            f"X must be finite: row {i} of X gives z = X @ W = {zz[i]} (X holds a NaN or inf in that row, "
            "or its values are so large that X @ W overflows)"
        )
