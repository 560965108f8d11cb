"""Data families for the checker's verdict tests, and an exact reference gradient.

Each family draws (W, X, y) for one (loss, activation) pair and dtype from a generator:

    blobs      the tutorial's data (250 x 3, bias first), W uniform on [-1, 1)
    cancer     scikit-learn's breast cancer, standardised, bias first (569 x 31), W ~ N(0, 1/D)
    scaled     columns scaled 1e-6 .. 1e6 (200 x 6), W_j ~ N(0, 1 / D) / scale_j: z = X W is O(1)
    saturated  every unit saturated: |z_i| uniform on [12, 50] (200 x 4)
    single     N = 1 (1 x 3)
    kinks      ReLU kink-heavy: integer X, W in eighths: many z_i exactly 0, a third within 1e-3 (600 x 4)

The reference gradient is computed from the very same (rounded) inputs, its sums exact and
dL/dz at 200 bits (mpmath), so that it is the exact gradient of the problem the methods see.
"""

from __future__ import annotations

import functools
import operator

import numpy as np

import gd_torch
from gd_torch.model.losses import LOSSES

FAMILIES = ("blobs", "cancer", "scaled", "saturated", "single", "kinks")


def _labels(rng, n, loss):
    return (rng.uniform(size=n) < 0.5).astype(float) if LOSSES[loss].binary else rng.uniform(size=n)


@functools.lru_cache(maxsize=1)
def _cancer() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return gd_torch.add_bias(X), y.astype(float)


def draw(family: str, rng: np.random.Generator, loss: str, dtype: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W, X, y) of one family, in ``dtype``."""
    if family == "blobs":
        X, y = gd_torch.tutorial_data()
        W = rng.uniform(-1, 1, size=3)
    elif family == "cancer":
        X, y = _cancer()
        W = rng.standard_normal(X.shape[1]) / np.sqrt(X.shape[1])
    elif family == "scaled":
        scale = np.logspace(-6, 6, 6)
        X = rng.standard_normal((200, 6)) * scale
        W = rng.standard_normal(6) / scale / np.sqrt(6)
        y = _labels(rng, 200, loss)
    elif family == "saturated":
        # every unit saturated: rows rescaled so that |z_i| is uniform on [12, 50]
        X = rng.standard_normal((200, 4))
        W = rng.standard_normal(4)
        X *= (rng.uniform(12, 50, 200) / np.abs(X @ W))[:, None]
        y = _labels(rng, 200, loss)
    elif family == "single":
        X = rng.standard_normal((1, 3))
        W = rng.standard_normal(3)
        y = _labels(rng, 1, loss)
    elif family == "kinks":
        X, W = _kinky(rng, 600, 4)
        y = _labels(rng, 600, loss)
    else:
        raise ValueError(family)
    return W.astype(dtype), X.astype(dtype), y.astype(dtype)


def _kinky(rng, n, d):
    # small integers and weights in eighths, W_0 = 1/2: every z_i = X_i W is exact in both dtypes
    # and for every method; rows 0, 3, 6, ... are moved along column 0 to z_i = 0 exactly, rows
    # 1, 4, 7, ... to within 1e-3 of 0
    X = rng.integers(-3, 4, size=(n, d)).astype(float)
    W = rng.integers(-8, 9, size=d) / 8.0
    W[0] = 0.5
    moved = np.arange(n) % 3 != 2
    X[moved, 0] -= 2 * (X[moved] @ W)
    near = np.arange(1, n, 3)
    X[near, 0] += rng.uniform(-2e-3, 2e-3, near.size)
    return X, W


# ---- the exact gradient (mpmath) --------------------------------------------------------------


def reference(W: np.ndarray, X: np.ndarray, y: np.ndarray, loss: str, activation: str) -> np.ndarray:
    """dL/dW from the float values of W, X, y (exact inputs), rounded to float64 once.

    z_i = X_i W is summed exactly (integers: every float is m 2^e) and rounded to 200 bits;
    dL/dz_i is taken at 200 bits (mpmath); g_j = sum_i X_ij dL/dz_i is summed exactly and rounded
    once.  relu'(0) is 0, as the package and torch take it.
    """
    import mpmath
    from mpmath.libmp import from_man_exp, to_float

    n, d = X.shape
    X64 = X.astype(np.float64)
    cols = [_integers(X64[:, j]) for j in range(d)]  # X_ij = M_ij 2^(e_j)
    e_x = min(e for _, e in cols)
    Wm, e_w = _integers(W.astype(np.float64))
    Wx = [w << (e - e_x) for w, (_, e) in zip(Wm, cols, strict=True)]  # W_j 2^(e_j - e_x), exact
    rows = zip(*(c for c, _ in cols), strict=True)
    with mpmath.workprec(200):
        dz = [
            _dL_dz(
                mpmath.mpf(from_man_exp(sum(map(operator.mul, row, Wx)), e_x + e_w, 200, "n")),
                mpmath.mpf(yi),
                n,
                loss,
                activation,
            )._mpf_
            for row, yi in zip(rows, y.astype(np.float64).tolist(), strict=True)
        ]
    D, e_d = _common([-m if sign else m for sign, m, _, _ in dz], [e for _, _, e, _ in dz])
    return np.array([to_float(from_man_exp(sum(map(operator.mul, c, D)), e + e_d, 53, "n")) for c, e in cols])


def _integers(v: np.ndarray) -> tuple[list[int], int]:
    # exact integers m_k and one exponent e with v_k = m_k 2^e, for float64 values
    m, e = np.frexp(v)
    return _common((m * 2.0**53).astype(np.int64).tolist(), (e.astype(np.int64) - 53).tolist())


def _common(man: list[int], exp: list[int]) -> tuple[list[int], int]:
    # m_k 2^(e_k) as integers over the smallest exponent of a nonzero m_k
    low = min((e for m, e in zip(man, exp, strict=True) if m), default=0)
    return [m << (e - low) if m else 0 for m, e in zip(man, exp, strict=True)], low


def _dL_dz(z, y, n, loss, activation):
    import mpmath

    if activation == "sigmoid":
        a = 1 / (1 + mpmath.exp(-z))
        da = mpmath.exp(-z) / (1 + mpmath.exp(-z)) ** 2
    elif activation == "tanh":
        a = mpmath.tanh(z)
        da = mpmath.sech(z) ** 2
    elif activation == "relu":
        a = z if z > 0 else mpmath.mpf(0)
        da = mpmath.mpf(1) if z > 0 else mpmath.mpf(0)
    else:
        a, da = z, mpmath.mpf(1)
    if loss == "bce":
        return (a - y) / n
    g = 2 * (a - y) * da
    return g / n if loss == "mse" else g
