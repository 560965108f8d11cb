"""A two-layer MLP with hand-written numpy backprop, its bugs, and data to try them on.

    z1 = X W1 + b1,  h = relu(z1),  z2 = h w2 + b2,  a = sigmoid(z2)
    L  = mean_i [softplus(z2_i) - y_i z2_i]          (binary cross-entropy of a, from z2)

    dL/dz2 = (a - y) / N        dw2 = h^T dz2     db2 = sum_i dz2_i
    dL/dh  = dz2 w2^T           dz1 = dL/dh * [z1 > 0]
    dW1    = X^T dz1            db1 = sum_i dz1_i

Shapes: X (N, D), W1 (D, H), b1 (H,), w2 (H,), b2 (), y (N,).  D = H, so that a
transposed dW1 has the right shape and only its values are wrong (the silent case).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy import special

D = H = 5


def loss(p: dict, X: np.ndarray, y: np.ndarray) -> float:
    z2 = np.maximum(X @ p["W1"] + p["b1"], 0) @ p["w2"] + p["b2"]
    return float(np.mean(np.logaddexp(0, z2) - y * z2))


def torch_loss(p: dict, X: np.ndarray, y: np.ndarray) -> torch.Tensor:
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    z2 = torch.relu(Xt @ p["W1"] + p["b1"]) @ p["w2"] + p["b2"]
    return torch.mean(torch.logaddexp(z2, torch.zeros_like(z2)) - yt * z2)


@dataclass(frozen=True)
class Tape:
    """The forward values and the backward pieces of one pass (some possibly replaced by a bug)."""

    X: np.ndarray
    z1: np.ndarray
    h: np.ndarray
    a: np.ndarray
    dz2: np.ndarray
    dz1: np.ndarray
    dh: np.ndarray


def tape(p, X, y, dz2: Callable | None = None, dh: Callable | None = None, dz1: Callable | None = None) -> Tape:
    """The pass, with dz2(a, y, N), dh(dz2, p) and dz1(dh, z1, a, p, X) replaceable."""
    z1 = X @ p["W1"] + p["b1"]
    h = np.maximum(z1, 0)
    a = special.expit(h @ p["w2"] + p["b2"])
    d2 = (a - y) / X.shape[0] if dz2 is None else dz2(a, y, X.shape[0])
    dh_ = np.outer(d2, p["w2"]) if dh is None else dh(d2, p)
    d1 = dh_ * (z1 > 0) if dz1 is None else dz1(dh_, z1, a, p, X)
    return Tape(X, z1, h, a, d2, d1, dh_)


def grads(t: Tape, **replace) -> dict:
    g = {"W1": t.X.T @ t.dz1, "b1": t.dz1.sum(axis=0), "w2": t.h.T @ t.dz2, "b2": np.array(t.dz2.sum())}
    g.update(replace)
    return {k: np.asarray(v, dtype=t.X.dtype) for k, v in g.items()}


def backprop(p, X, y) -> dict:
    return grads(tape(p, X, y))


Kind = Literal["gross", "small"]


@dataclass(frozen=True)
class Bug:
    kind: Kind
    grad: Callable[[dict, np.ndarray, np.ndarray], dict]


def _g(dz2=None, dh=None, dz1=None, **replace_fns):
    # a bug: a changed dz2, dh or dz1, and/or gradients recomputed from the tape
    def grad(p, X, y):
        t = tape(p, X, y, dz2, dh, dz1)
        return grads(t, **{k: fn(t, p) for k, fn in replace_fns.items()})

    return grad


def _one_coordinate(rel: float) -> Callable:
    def grad(p, X, y):
        g = backprop(p, X, y)
        g["W1"][0, 0] *= 1 + rel
        return g

    return grad


def _in_float32(p, X, y):
    g = backprop({k: v.astype(np.float32) for k, v in p.items()}, X.astype(np.float32), y.astype(np.float32))
    return {k: v.astype(X.dtype) for k, v in g.items()}


def _stale_W1(p, X, y):
    return backprop({**p, "W1": p["W1"] * 0.99}, X, y)


BUGS: dict[str, Bug] = {
    "missing transpose in dW1": Bug("gross", _g(W1=lambda t, p: (t.X.T @ t.dz1).T)),
    "forgotten bias gradient b1": Bug("gross", _g(b1=lambda t, p: np.zeros(H))),
    "forgotten bias gradient b2": Bug("gross", _g(b2=lambda t, p: 0.0)),
    # z2 > 0 exactly where a > 0.5: the output layer's mask applied to the hidden layer
    "ReLU mask from the output layer": Bug("gross", _g(dz1=lambda dh, z1, a, p, X: dh * (a > 0.5)[:, None])),
    "ReLU mask from X W1 (no bias)": Bug("gross", _g(dz1=lambda dh, z1, a, p, X: dh * (X @ p["W1"] > 0))),
    "no ReLU mask": Bug("gross", _g(dz1=lambda dh, z1, a, p, X: dh)),
    "inverted ReLU mask": Bug("gross", _g(dz1=lambda dh, z1, a, p, X: dh * (z1 <= 0))),
    "tanh derivative for ReLU": Bug("gross", _g(dz1=lambda dh, z1, a, p, X: dh * (1 - np.tanh(z1) ** 2))),
    "sum instead of mean": Bug("gross", _g(dz2=lambda a, y, n: a - y)),
    "1/N twice": Bug("gross", _g(dz2=lambda a, y, n: (a - y) / n**2)),
    "y - a": Bug("gross", _g(dz2=lambda a, y, n: (y - a) / n)),
    "extra sigmoid derivative": Bug("gross", _g(dz2=lambda a, y, n: (a - y) * a * (1 - a) / n)),
    "factor 2 in dw2": Bug("gross", _g(w2=lambda t, p: 2 * t.h.T @ t.dz2)),
    "dW1 from h instead of X": Bug("gross", _g(W1=lambda t, p: t.h.T @ t.dz1)),
    "dw2 from z1 instead of h": Bug("gross", _g(w2=lambda t, p: t.z1.T @ t.dz2)),
    "dh without w2": Bug("gross", _g(dh=lambda dz2, p: np.outer(dz2, np.ones(H)))),
    "db1 without the mask": Bug("gross", _g(b1=lambda t, p: t.dh.sum(axis=0))),
    "db1 as a mean": Bug("gross", _g(b1=lambda t, p: t.dz1.mean(axis=0))),
    "db2 as a mean": Bug("gross", _g(b2=lambda t, p: t.dz2.mean())),
    "extra 1/N in dW1": Bug("gross", _g(W1=lambda t, p: t.X.T @ t.dz1 / t.X.shape[0])),
    "first sample only": Bug("gross", _g(W1=lambda t, p: np.outer(t.X[0], t.dz1[0]))),
    "db1 summed over units": Bug("gross", _g(b1=lambda t, p: np.full(H, t.dz1.sum()))),
    "db2 without y": Bug("gross", _g(b2=lambda t, p: t.a.sum() / t.X.shape[0])),
    "stale W1 (1% older)": Bug("gross", _stale_W1),
    "one coordinate 1e-3 off": Bug("small", _one_coordinate(1e-3)),
    "one coordinate 1e-5 off": Bug("small", _one_coordinate(1e-5)),
    "computed in float32": Bug("small", _in_float32),
}


def _data(rng, n, scale_cols=None):
    X = rng.standard_normal((n, D))
    if scale_cols is not None:
        X *= scale_cols
    teacher = rng.standard_normal(D) / np.sqrt(D)
    y = (rng.uniform(size=n) < special.expit(3 * (X / X.std(axis=0).clip(1e-300)) @ teacher)).astype(float)
    return X, y


FAMILIES: dict[str, Callable] = {
    "normal": lambda rng: _data(rng, 32),
    "badly scaled": lambda rng: _data(rng, 32, np.logspace(-3, 3, D)),
    "saturated": lambda rng: _data(rng, 32, np.full(D, 6.0)),
    "one sample": lambda rng: _data(rng, 1),
}


def problem(family: str, dtype: str, rng: np.random.Generator) -> tuple[dict, np.ndarray, np.ndarray]:
    """(params, X, y) in dtype: W1 ~ N(0, 1/D), the rest N(0, 1)."""
    X, y = FAMILIES[family](rng)
    p = {
        "W1": rng.standard_normal((D, H)) / np.sqrt(D),
        "b1": 0.1 * rng.standard_normal(H),
        "w2": rng.standard_normal(H),
        "b2": np.array(0.1 * rng.standard_normal()),
    }
    return {k: v.astype(dtype) for k, v in p.items()}, X.astype(dtype), y.astype(dtype)
