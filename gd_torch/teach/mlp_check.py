"""The two-layer ledger's witnesses: torch autograd on the same graph, central differences of
the downstream computation, and the rounding error of each hand-derived gradient.

Shapes: X (N, D), W1 (D, H), b1 (H,), z1 and h (N, H), w2 (H,), b2 (), z2 and a (N,), L ().

**Rounding of the hand gradients** (u = the unit roundoff of X's dtype; everything below in
float64 on the values cast exactly).  The forward values carry (rounding's z_error, a_error)

    e_z1 = sqrt(D + 1) u (|X| |W1| + |b1|)             a dot product of D terms plus the bias
    e_h  = a_error(z1, h) + |f'(z1)| e_z1               h's own rounding, and z1's through f
    e_z2 = sqrt(H + 1) u (|h| |w2| + |b2|) + e_h |w2|
    e_a  = a_error(z2, a)

and each backward factor d(z, a) computed from rounded z, a errs by rounding.factor_error
(C_LOCAL u |d| plus z's and a's rounding taken through d).  A product p = q r of two rounded
factors errs by u |p| + err(q) |r| + |q| err(r); a sum over N samples g = sum_i x_i d_i by
rounding.sum_error, u sqrt(N) sum |x_i d_i| + sum |x_i| err(d_i) (+ the rounding of x itself,
sum err(x_i) |d_i|).  Autograd computes the same products independently: hand and autograd are
held to SAFETY (err + err), as the checker holds two exact methods.

**Central differences** of L as a function of one stage T, in float64, step s = u^(1/3) max(1, |T|):
for the per-sample stages (a, z2: one entry moves one term; h, z1: a whole column k moves, and
entry (i, k) still moves term i only) all entries at once from per-sample terms; for the
parameters one entry at a time through the whole downstream network.  The error of each is
difference_error.difference_error: truncation |D(s) - D(2s)| / 3 plus noise / s, noise the rounding
of the values subtracted (C_LOCAL u times the terms' pieces, z2's rounding through dL/dz2).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..gradients.schemes import SCHEMES
from ..model.activations import ACTIVATIONS, Activation
from ..model.forward import reduce
from ..model.losses import Loss
from ..precision import rounding
from ..precision.difference_error import difference_error

SIGMOID = ACTIVATIONS["sigmoid"]


def forward(p: dict[str, Any], X, y, lo: Loss, f: Activation, sig=SIGMOID) -> dict[str, Any]:
    """z1 = X W1 + b1, h = f(z1), z2 = h w2 + b2, a = sigmoid(z2), L = loss(a, y) (numpy or torch)."""
    z1 = X @ p["W1"] + p["b1"]
    h = f.f(z1) if isinstance(z1, np.ndarray) else f.torch_f(z1)
    z2 = h @ p["w2"] + p["b2"]
    a = sig.f(z2) if isinstance(z2, np.ndarray) else sig.torch_f(z2)
    terms = lo.terms(z2, a, y) if isinstance(z2, np.ndarray) else lo.torch_terms(z2, a, y)
    return {"z1": z1, "h": h, "z2": z2, "a": a, "L": terms.sum() if lo.reduction == "sum" else terms.mean()}


def autograd(p: dict[str, np.ndarray], X, y, lo: Loss, f: Activation) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """dL/dT from torch for every stage: ``retain_grad`` on z1, h, z2, a, L, ``.grad`` of the leaves."""
    import torch

    leaves = {k: torch.from_numpy(np.array(v)).requires_grad_(True) for k, v in p.items()}
    fw = forward(leaves, torch.from_numpy(X), torch.from_numpy(y), lo, f)
    for t in fw.values():
        t.retain_grad()  # keep .grad of the non-leaf tensors
    fw["L"].backward()
    out, notes = {}, {}
    for name, t in {**fw, **leaves}.items():
        if t.grad is None:  # the cross-entropy is computed from the logit z2: a is off L's path
            notes[name] = f"torch never forms dL/d{name}: the loss is computed from the logit z2, softplus(z2) - y z2"
        else:
            out[name] = t.grad.numpy()
    return out, notes


def hand_errors(v: dict[str, np.ndarray], g: dict[str, np.ndarray], X, y, lo, f, dtype) -> dict[str, np.ndarray]:
    """The rounding error of each hand gradient, per entry (see the module docstring), float64."""
    u, s = rounding.unit_roundoff(dtype), float(np.finfo(dtype).smallest_subnormal)
    n, absX = X.shape[0], np.abs(X)
    ones = np.ones((n, 1))
    e_z1 = rounding.z_error(np.hstack([X, ones]), np.vstack([v["W1"], v["b1"]]), u)
    df1 = f.df(v["z1"], v["h"])
    e_h = rounding.a_error(v["z1"], v["h"], f, u) + np.abs(df1) * e_z1
    e_z2 = rounding.z_error(np.hstack([v["h"], ones]), np.append(v["w2"], v["b2"]), u) + e_h @ np.abs(v["w2"])
    e_a = rounding.a_error(v["z2"], v["a"], SIGMOID, u)
    inside = (0.0, 1.0) if lo.binary else None
    err = {"L": np.zeros(())}
    err["a"] = rounding.factor_error(lambda z, a: lo.dL_da(a, y, n), v["z2"], v["a"], SIGMOID, u, e_z2, e_a, inside)
    d2 = rounding._delta_of(y, lo, SIGMOID, n)
    err["z2"] = rounding.factor_error(d2, v["z2"], v["a"], SIGMOID, u, e_z2, e_a, inside)
    gz2 = np.abs(g["z2"])
    err["w2"] = rounding.sum_error(np.abs(v["h"]), g["z2"], err["z2"], u, s) + e_h.T @ gz2
    err["b2"] = rounding.sum_error(ones, g["z2"], err["z2"], u, s)[0]
    err["h"] = u * np.abs(g["h"]) + np.outer(err["z2"], np.abs(v["w2"]))
    e_df1 = rounding.factor_error(lambda z, a: f.df(z, a), v["z1"], v["h"], f, u, e_z1, e_h - np.abs(df1) * e_z1)
    err["z1"] = u * np.abs(g["z1"]) + err["h"] * np.abs(df1) + np.abs(g["h"]) * e_df1
    err["W1"] = rounding.sum_error(absX, g["z1"], err["z1"], u, s)
    err["b1"] = rounding.sum_error(ones, g["z1"], err["z1"], u, s)[0]
    return err


def kink_reach(v, X, step: dict[str, np.ndarray], u: float) -> dict[str, np.ndarray]:
    """How far each z1_ik may be moved by each witness: autograd by z1's rounding, a difference
    in z1 by 2 s, one in W1_jk by 2 |X_ij| s_jk, one in b1_k by 2 s_k (plus z1's rounding)."""
    e_z1 = rounding.z_error(np.hstack([X, np.ones((X.shape[0], 1))]), np.vstack([v["W1"], v["b1"]]), u)
    return {
        "autograd": e_z1,
        "z1": e_z1 + 2 * step["z1"],
        "W1": e_z1 + 2 * np.abs(X) @ step["W1"],
        "b1": e_z1 + 2 * step["b1"],
    }


def kink_allowance(v, g, f: Activation, X, reach: np.ndarray) -> dict[str, np.ndarray]:
    """What samples within ``reach`` of the hidden activation's kink can move dL/dz1, dL/dW1,
    dL/db1 by: f' jumps there by |f'(z1 + r) - f'(z1 - r)|, times dL/dh (and summed like the gradient)."""
    if not f.kinks:
        return {}
    up, down = v["z1"] + reach, v["z1"] - reach
    jump = np.abs(f.df(up, f.f(up)) - f.df(down, f.f(down))) * np.abs(g["h"])
    return {"z1": jump, "W1": np.abs(X).T @ jump, "b1": jump.sum(axis=0)}


def differences(v: dict[str, np.ndarray], g: dict[str, np.ndarray], X, y, lo: Loss, f: Activation) -> dict[str, tuple]:
    """Central differences of L with respect to every stage, float64: {stage: (values, error, step)}.

    ``g`` (the hand gradients, float64) sizes the noise: a value recomputed downstream of the
    moved stage carries its rounding through dL/d(value): a = sigmoid(z2) by 2 u |a| |dL/da|,
    z2 by e_z2 |dL/dz2|, h = f(z1) by 2 u |h| |dL/dh|.
    """
    u = float(np.finfo(np.float64).eps)
    n = X.shape[0]
    r = lo.from_total(1.0, n)  # each term's weight in L
    params = {k: v[k] for k in ("W1", "b1", "w2", "b2")}

    def terms_z2(z2):
        return lo.terms(z2, SIGMOID.f(z2), y)

    def terms_a(a):
        return lo.terms(np.log(a) - np.log1p(-a) if lo.binary else a, a, y)

    def terms_h(h):
        return terms_z2(h @ v["w2"] + v["b2"])

    def terms_z1(z1):
        return terms_h(f.f(z1))

    def whole(name):
        def L_of(t):
            fw = forward({**params, name: t}, X, y, lo, f)
            return reduce(lo, lo.terms(fw["z2"], fw["a"], y))

        return L_of

    e_z2 = u * (np.abs(v["h"]) @ np.abs(v["w2"]) + abs(v["b2"])) * np.sqrt(v["h"].shape[1] + 1)
    ga = np.abs(g["a"]) if "a" in g else np.zeros_like(v["a"])
    x_a = 2 * u * np.abs(v["a"]) * ga
    x_z2 = x_a + np.abs(g["z2"]) * e_z2
    x_z1 = x_z2[:, None] + 2 * u * np.abs(v["h"]) * np.abs(g["h"])
    room = 0.25 * np.minimum(v["a"], 1 - v["a"]) if lo.binary else None  # log(a), log(1 - a) stay defined
    out = {"L": (np.ones(()), np.zeros(()), np.zeros(()))}
    out["a"] = _per_sample(terms_a, v["a"], r, u, 0.0, room)
    out["z2"] = _per_sample(terms_z2, v["z2"], r, u, x_a)
    out["h"] = _per_sample(terms_h, v["h"], r, u, x_z2[:, None])
    out["z1"] = _per_sample(terms_z1, v["z1"], r, u, x_z1)
    noise = u * (np.sqrt(n) * abs(float(v["L"])) + rounding.C_LOCAL * r * lo.terms_abs(v["z2"], v["a"], y).sum())
    noise += float(x_z1.sum())
    for name in params:
        out[name] = _whole(whole(name), np.asarray(v[name], dtype=np.float64), u, noise)
    return out


def _steps(T, u, room=None):
    s = u ** (1 / 3) * np.maximum(1.0, np.abs(T))
    return s if room is None else np.minimum(s, room)


def _per_sample(terms, T, r, u, extra, room=None):
    # entry (i, k) moves term i only: move every entry of a column at once, read all N differences
    T = np.asarray(T, dtype=np.float64)
    s = _steps(T, u, room)
    d1, d2, noise = np.empty_like(T), np.empty_like(T), np.empty_like(T)
    cols = [slice(None)] if T.ndim == 1 else [(slice(None), k) for k in range(T.shape[1])]
    for c in cols:
        for step, d in ((s, d1), (2 * s, d2)):
            up, down = T.copy(), T.copy()
            up[c] += step[c]
            down[c] -= step[c]
            tu, td = terms(up), terms(down)
            d[c] = r * (tu - td) / (up[c] - down[c])
        big = np.maximum(np.abs(tu), np.abs(td))  # the values the difference cancels (at 2 s)
        noise[c] = rounding.C_LOCAL * u * r * big + np.broadcast_to(extra, T.shape)[c]
    err = difference_error(d1, d2, SCHEMES["central"], noise, s)
    return d1, err, s


def _whole(L_of, P, u, noise):
    # one entry at a time through the whole downstream network
    s = _steps(P, u)
    d1, d2 = np.empty_like(P), np.empty_like(P)
    for idx in np.ndindex(P.shape):
        for step, d in ((s, d1), (2 * s, d2)):
            up, down = P.copy(), P.copy()
            up[idx] += step[idx]
            down[idx] -= step[idx]
            d[idx] = (L_of(up) - L_of(down)) / (up[idx] - down[idx])
    return d1, difference_error(d1, d2, SCHEMES["central"], noise, s), s
