"""The one-neuron model, its hand gradient and its error-model terms in one screen: the spec.

Plain numpy in float64: one pass over X, no row blocks, no threads, sigmoid only (|z| < 700),
and the two losses the tutorial mixes up.  No production code path calls this module; the tests
hold every fast path against it (tests/test_reference.py: blocked and threaded analytic, blocked
finite differences, shards, and errormodel.build; tests/test_distributed.py: the sums on two
ranks).  The error terms are the first order; build also takes second-order secants and keeps
bce's steps in a inside (0, 1), which matter for saturated units only (|z| past ~15 in float32,
~35 in float64).

    z = X W,  a = 1 / (1 + e^-z),  sse: L = sum_i (a_i - y_i)^2,  bce: L = mean_i [-y log a - (1 - y) log(1 - a)]
    dL/dW = X^T dL/dz   with   dL/dz = dL/da * da/dz,  da/dz = a (1 - a)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: per loss: L(a, y), dL/dz (a, y, N) and d(dL/dz)/da (a, y, N), each written out
LOSSES = {
    # dL/da = 2 (a - y), times da/dz = a (1 - a)
    "sse": (
        lambda a, y: np.sum((a - y) ** 2),
        lambda a, y, n: 2 * (a - y) * a * (1 - a),
        lambda a, y, n: 2 * (a * (1 - a) + (a - y) * (1 - 2 * a)),
    ),
    # dL/da = (a - y) / (a (1 - a)) / N, times a (1 - a): the tutorial's (a - y) / N
    "bce": (
        lambda a, y: np.mean(-y * np.log(a) - (1 - y) * np.log(1 - a)),
        lambda a, y, n: (a - y) / n,
        lambda a, y, n: np.full_like(a, 1 / n),
    ),
}
C_LOCAL = 4.0  # the few roundings of forming dL/dz, in units of u |dL/dz|
A_ROUNDING = 1.5  # the sigmoid's own rounding, in units of u |a| (measured against 200-bit values)
C_SAT = 16.0  # ... and at most C_SAT times a's distance to the limit it rounds to


def forward(W, X, y, loss="sse"):
    """(z, a, L) for X of shape (N, D), W of shape (D,), y of shape (N,)."""
    X, W, y = (np.asarray(v, dtype=np.float64) for v in (X, W, y))
    z = X @ W
    a = 1 / (1 + np.exp(-z))
    return z, a, float(LOSSES[loss][0](a, y))


def gradient(W, X, y, loss="sse"):
    """dL/dW = X^T dL/dz, shape (D,)."""
    _, a, _ = forward(W, X, y, loss)
    return np.asarray(X, dtype=np.float64).T @ LOSSES[loss][1](a, np.asarray(y, dtype=np.float64), len(a))


def tutorial_update(W, X, y):
    """The tutorial's X^T (a - y) / N, shape (D,): bce's dL/dW, whatever loss it prints."""
    _, a, _ = forward(W, X, y)
    return np.asarray(X, dtype=np.float64).T @ (a - np.asarray(y, dtype=np.float64)) / len(a)


class Terms(NamedTuple):
    e_z: np.ndarray  # (N,) z_i's rounding: sqrt(D) u (|X| |W|)_i
    e_a: np.ndarray  # (N,) a_i's: min(A_ROUNDING u |a_i|, C_SAT (1 - sigmoid(|z_i|)))
    err_d: np.ndarray  # (N,) dL/dz_i's: C_LOCAL u |d_i| + |dd/da| e_a + |dd/da| a (1 - a) e_z
    size: np.ndarray  # (D,) S_j = sum_i |X_ij| |d_i|
    err_g: np.ndarray  # (D,) g_j's: u sqrt(N) S_j + sum_i |X_ij| err_d_i + N s


def error_terms(W, X, y, loss="sse", dtype=np.float64):
    """The error model's terms, first order, for data held in ``dtype`` (u its eps, s its smallest subnormal)."""
    u, s = float(np.finfo(dtype).eps), float(np.finfo(dtype).smallest_subnormal)
    X, W, y = (np.asarray(v, dtype=np.float64) for v in (X, W, y))
    (n, d), (_, dL_dz, slope) = X.shape, LOSSES[loss]
    z, a, _ = forward(W, X, y, loss)
    e_z = np.sqrt(d) * u * (np.abs(X) @ np.abs(W))
    e_a = np.minimum(A_ROUNDING * u * np.abs(a), C_SAT / (1 + np.exp(np.abs(z))))
    dd_da = np.abs(slope(a, y, n))  # z moves d only through a: dd/dz = dd/da * a (1 - a)
    err_d = C_LOCAL * u * np.abs(dL_dz(a, y, n)) + dd_da * e_a + dd_da * a * (1 - a) * e_z
    size = np.abs(X).T @ np.abs(dL_dz(a, y, n))
    return Terms(e_z, e_a, err_d, size, u * np.sqrt(n) * size + np.abs(X).T @ err_d + n * s)
