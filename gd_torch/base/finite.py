"""Finite input, non-finite result: an overflow, named as one instead of returned as inf or NaN.

X, W and y are checked finite at the boundary (X through z), but finite numbers can still overflow:
z = X W (1e200 * 1e200), the loss ((1e155)^2), the gradient (1e250 * 1e100).  numpy warns
(RuntimeWarning) and returns inf or NaN; torch returns them silently.  These helpers compute a
result with numpy's warnings silenced and raise a GdTorchError naming what overflowed instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._errors import GdTorchError


def first_bad(values: Any) -> int | None:
    """Index of the first entry that is not finite (None when all are)."""
    arr = np.atleast_1d(np.asarray(values))
    bad = ~np.isfinite(arr)
    return int(np.flatnonzero(bad)[0]) if bad.any() else None


def quietly(compute: Callable[[], Any]) -> Any:
    """compute() with numpy's overflow and invalid-operation warnings silenced (the result is checked instead)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return compute()


def loss_value(compute: Callable[[], Any], dtype: Any) -> float:
    """L = compute(), refusing a loss that is not finite: for finite X, W, y that is an overflow."""
    L = quietly(compute)
    if not np.isfinite(L):
        raise GdTorchError(overflow_text("the loss", dtype, f"L = {float(L)}", L))
    return float(L)


def gradient_value(compute: Callable[[], np.ndarray], dtype: Any, method: str) -> np.ndarray:
    """g = compute() (dL/dW by ``method``), refusing an entry that is not finite."""
    g = quietly(compute)
    j = first_bad(g)
    if j is not None:
        raise GdTorchError(overflow_text(f"dL/dW by method={method!r}", dtype, f"at coordinate {j}: {g[j]}", g[j]))
    return g


def refuse_z_overflow(X: np.ndarray, z: np.ndarray) -> None:
    """Raise when z = X W is not finite at a sample whose row of X is finite: X W overflowed there.

    (A row of X holding NaN or inf is left to the caller's own message, which blames X.)
    """
    i = first_bad(z)
    if i is not None and np.isfinite(X[i]).all():
        raise GdTorchError(overflow_text("z = X W", X.dtype, f"at sample {i}: z = {z[i]}", z[i]))


def overflow_text(what: str, dtype: Any, where: str, value: Any) -> str:
    """The message for ``what`` not finite for finite input: an overflow, or, when ``value`` is NaN,
    a NaN (called NaN: what an overflow left, e.g. inf - inf or 0 * inf)."""
    big = np.finfo(np.dtype(dtype)).max
    if np.isnan(value):
        return (
            f"{what} is NaN {where} for finite X, W and y (an intermediate value went beyond {big:.3g}, "
            "and inf - inf or 0 * inf gave NaN); scale X down (e.g. standardise its columns) or start from "
            "smaller weights"
        )
    return (
        f"{what} overflows {np.dtype(dtype)} {where} for finite X, W and y (a value beyond {big:.3g}); "
        "scale X down (e.g. standardise its columns) or start from smaller weights"
    )
