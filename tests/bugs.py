"""A catalogue of plausible wrong gradients, for the mutation tests of the checker's verdict.

Each bug is ``grad(W, X, y, lo, act) -> g`` in X's dtype, the signature of a registered method's
``grad``: it is injected into the registry in place of 'analytic' (see test_mutation.py), as a
user's faulty derivation would arrive.  ``GROSS`` are wrong formulas; ``SMALL`` are a single
coordinate off by a relative 1e-3, 1e-5 or 1e-7, and a float64 gradient computed in float32.
Whether a bug changes the gradient at all on a given problem (the tutorial's formula is right
for the cross-entropy; sum and mean agree at N = 1) is decided against the exact gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gd_torch.model.forward import delta


def _parts(W, X, y, lo, act):
    z = X @ W
    a = act.f(z)
    return z, a, X.shape[0]


def _exact(W, X, y, lo, act):
    z, a, n = _parts(W, X, y, lo, act)
    return X.T @ delta(z, y, lo, act)


def _chain(W, X, y, lo, act, dL_da=None, df=None, Xs=None):
    # X^T (dL/da * da/dz) with either factor replaced
    z, a, n = _parts(W, X, y, lo, act)
    p = lo.dL_da(a, y, n) if dL_da is None else dL_da(z, a, n)
    q = act.df(z, a) if df is None else df(z, a)
    return (X if Xs is None else Xs).T @ (p * q)


def _scaled(factor: float) -> Callable:
    return lambda W, X, y, lo, act: (_exact(W, X, y, lo, act) * factor).astype(X.dtype)


def _one_coordinate(rel: float) -> Callable:
    # the coordinate with the largest |g_j| off by a relative ``rel``: a slip in one entry
    def bug(W, X, y, lo, act):
        g = _exact(W, X, y, lo, act)
        j = int(np.argmax(np.abs(g)))
        g[j] = g[j] * (1 + rel)
        return g

    return bug


def _stale(W, X, y, lo, act):
    # the gradient of the previous iterate: W moved by 1% of its size (or 1e-2 / column scale)
    c = np.maximum(np.abs(X).max(axis=0), np.finfo(X.dtype).tiny)
    return _exact((W * 1.01 + 1e-2 / c).astype(X.dtype), X, y, lo, act)


def _in_float32(W, X, y, lo, act):
    # computed in float32 and handed back in X's dtype
    f = np.float32
    return _exact(W.astype(f), X.astype(f), y.astype(f), lo, act).astype(X.dtype)


def _y_minus_a(W, X, y, lo, act):
    z, a, n = _parts(W, X, y, lo, act)
    if lo.dL_dz is not None:
        return X.T @ lo.dL_dz(2 * y - a, y, n)  # (y - a) / N in place of (a - y) / N
    return X.T @ (lo.dL_da(2 * y - a, y, n) * act.df(z, a))


def _tutorial(W, X, y, lo, act):
    z, a, n = _parts(W, X, y, lo, act)
    return X.T @ (a - y) / n


def _unpaired(W, X, y, lo, act):
    z, a, n = _parts(W, X, y, lo, act)
    return X.mean(axis=0) * delta(z, y, lo, act).sum()


def _rolled(W, X, y, lo, act):
    # samples and dL/dz off by one row
    z, a, n = _parts(W, X, y, lo, act)
    return X.T @ np.roll(delta(z, y, lo, act), 1)


def _drop_last(W, X, y, lo, act):
    z, a, n = _parts(W, X, y, lo, act)
    return X[:-1].T @ delta(z, y, lo, act, n=n)[:-1]


def _half_batch(W, X, y, lo, act):
    # the first half of the samples only, as if a mini-batch leaked in
    z, a, n = _parts(W, X, y, lo, act)
    k = max(1, n // 2)
    return X[:k].T @ delta(z[:k], y[:k], lo, act, n=n)


def _flipped_labels(W, X, y, lo, act):
    return _exact(W, X, (1 - y).astype(X.dtype), lo, act)


def _first_zeroed(W, X, y, lo, act):
    g = _exact(W, X, y, lo, act)
    g[0] = 0
    return g


def _swapped(W, X, y, lo, act):
    g = _exact(W, X, y, lo, act)
    if g.shape[0] > 1:
        g[[0, 1]] = g[[1, 0]]
    return g


def _weight_decay(W, X, y, lo, act):
    # an L2 term leaking in: + 1e-2 W (scaled to the gradient's columns)
    return _exact(W, X, y, lo, act) + (1e-2 * W * (np.abs(X) ** 2).sum(axis=0)).astype(X.dtype)


def _clipped(W, X, y, lo, act):
    g = _exact(W, X, y, lo, act)
    s = float(np.max(np.abs(g))) / 2
    return np.clip(g, -s, s) if s > 0 else g


def _abs(W, X, y, lo, act):
    return np.abs(_exact(W, X, y, lo, act))


def _per_feature_mean(W, X, y, lo, act):
    return _exact(W, X, y, lo, act) / X.shape[1]


def _a_for_z_in_derivative(W, X, y, lo, act):
    # the forward pass skipped inside the derivative: dL/da evaluated at z instead of a = f(z)
    return _chain(W, X, y, lo, act, dL_da=lambda z, a, n: lo.dL_da(z, y, n))


def _extra_factor_a(W, X, y, lo, act):
    # da/dz with a stray factor of a: sigmoid a^2 (1 - a), tanh a (1 - a^2)
    return _chain(W, X, y, lo, act, df=lambda z, a: act.df(z, a) * a)


#: wrong formulas: any of them moving the gradient by more than rounding must be caught
GROSS: dict[str, Callable] = {
    "no da/dz": lambda W, X, y, lo, act: _chain(W, X, y, lo, act, df=lambda z, a: np.ones_like(a)),
    "no dL/da": lambda W, X, y, lo, act: _chain(W, X, y, lo, act, dL_da=lambda z, a, n: np.ones_like(a)),
    "f'(a) for f'(z)": lambda W, X, y, lo, act: _chain(W, X, y, lo, act, df=lambda z, a: act.df(a, act.f(a))),
    "f' formula at z": lambda W, X, y, lo, act: _chain(W, X, y, lo, act, df=lambda z, a: act.df(z, z)),
    "half (no factor 2)": _scaled(0.5),
    "double": _scaled(2.0),
    "sum for mean": lambda W, X, y, lo, act: _scaled(X.shape[0] if lo.reduction == "mean" else 1 / X.shape[0])(
        W, X, y, lo, act
    ),
    "sign": _scaled(-1.0),
    "y - a": _y_minus_a,
    "stale W": _stale,
    "tutorial formula": _tutorial,
    "unpaired samples": _unpaired,
    "rows off by one": _rolled,
    "last sample dropped": _drop_last,
    "half the batch": _half_batch,
    "labels flipped": _flipped_labels,
    "bias coordinate zeroed": _first_zeroed,
    "coordinates swapped": _swapped,
    "weight decay leaked": _weight_decay,
    "clipped": _clipped,
    "abs": _abs,
    "mean over features": _per_feature_mean,
    "dL/da at z": _a_for_z_in_derivative,
    "stray factor a in f'": _extra_factor_a,
}

#: one coordinate slightly off, or the right formula in the wrong precision
SMALL: dict[str, Callable] = {
    "one coordinate 1e-3": _one_coordinate(1e-3),
    "one coordinate 1e-5": _one_coordinate(1e-5),
    "one coordinate 1e-7": _one_coordinate(1e-7),
    "float32 for float64": _in_float32,
}

BUGS: dict[str, Callable] = {**GROSS, **SMALL}
