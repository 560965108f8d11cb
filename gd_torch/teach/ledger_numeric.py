"""The ledger's finite-difference witness: dL/dT for every stage T by central differences of the
computation downstream of T, with error estimates, and what a kink of the activation allows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import special

from ..gradients import numeric as _numeric
from ..gradients.schemes import SCHEMES
from ..precision.difference_error import difference_error, stage_difference_noise
from ..verdict.kinks import kink_allowance, kink_deviation

#: per stage: (values, indices, error estimate, entries whose step could not be taken)
Differences = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def finite_differences(W, X, y, lo, act, values, model) -> tuple[dict[str, Differences], dict[str, np.ndarray]]:
    """Central differences of L with respect to each stage's tensor, with error estimates.

    L = reduce_i l_i depends on T_i (T = e, a or z) only through its own term l_i, so

        L(T + h_i e_i) - L(T - h_i e_i) = r [l_i(T_i + h_i) - l_i(T_i - h_i)]   (r = 1 for a sum, 1/N for a mean)

    exactly: all N differences come from two evaluations of the per-sample terms, at T + h and
    T - h (every entry moved at once), free of the cancellation of the other N - 1 terms.
    The terms as functions of each stage: l(e) = l(a = e + y), l(a) = terms(a), l(z) = terms(f(z)).
    For W, on which every sample depends, the numeric method of gd_torch.gradients.numeric.
    Returns, per stage, (values, indices, error estimate, entries whose step could not be taken),
    and the steps per stage (for kink detection).
    """
    out, steps = {}, {}
    for name, l in _terms(X, y, lo, act).items():
        out[name], steps[name] = _stage(name, l, X, y, lo, values)
    res = _numeric.estimate(W, X, y, lo, act, scheme="central", f_noise=model.f_noise, f_rel=model.f_rel)
    out["W"] = (res.grad, np.arange(W.shape[0]), res.error, np.zeros(W.shape[0], dtype=bool))
    steps["W"] = res.steps
    L = float(values["L"])
    hL = np.finfo(X.dtype).eps ** (1 / 3) * max(1.0, abs(L))
    one = ((L + hL) - (L - hL)) / ((L + hL) - (L - hL))  # dL/dL by the same difference
    out["L"] = (np.array([one]), np.array([0]), np.array([0.0]), np.zeros(1, dtype=bool))
    return out, steps


def _terms(X, y, lo, act) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    # the per-sample terms l_i as functions of e, a and z; a cross-entropy's terms are written in
    # the logit z (only the sigmoid is allowed with it), so z = logit(a) there
    def l_of_a(A):
        return lo.terms(special.logit(A) if lo.binary else A, A, y)

    return {"e": lambda E: l_of_a(E + y), "a": l_of_a, "z": lambda Z: lo.terms(Z, act.f(Z), y)}


def _stage(name: str, l, X, y, lo, values) -> tuple[Differences, np.ndarray]:
    # steps h = u^(1/3) max(1, |T|), two step sizes for the truncation error, and the rounding noise
    cross_entropy = lo.binary
    n = X.shape[0]
    r = lo.from_total(1.0, n)  # each term's weight in L
    u = np.finfo(X.dtype).eps
    T = values[name]
    scale = np.maximum(1.0, np.abs(T))
    if cross_entropy and name in ("e", "a"):  # log(a), log(1 - a): stay well inside (0, 1)
        a = values["a"]
        scale = np.minimum(scale, np.minimum(a, 1 - a))
    h = (u ** (1 / 3) * scale).astype(X.dtype)
    shift = y if name == "e" else 0
    d1, d2 = _central(l, T, h, shift) * r, _central(l, T, 2 * h, shift) * r
    # rounding of l_i(T_i +- h_i): see precision.difference_error.stage_difference_noise
    seen = np.abs(T + shift) if name == "e" else np.abs(T)
    subtracted = np.maximum(np.abs(l(T + h)), np.abs(l(T - h)))  # the two values the difference cancels
    extra = r * np.abs(values["z"]) if cross_entropy else np.zeros_like(T)
    if name == "z" and not cross_entropy:  # a = f(z +- h) inside the terms is rounded by u |a|
        extra = extra + np.abs(lo.dL_da(values["a"], y, n)) * np.abs(values["a"])
    noise = stage_difference_noise(lo, u, r, subtracted, seen, d1, extra)
    err = difference_error(d1, d2, SCHEMES["central"], noise, h)
    vanished = ((T + h) + shift) - ((T - h) + shift) == 0  # a +- h rounds to a: no difference to take
    return (d1, np.arange(T.shape[0]), err, vanished), h


def _central(l: Callable[[np.ndarray], np.ndarray], T: np.ndarray, h: np.ndarray, shift: Any = 0) -> np.ndarray:
    # (l_i(T_i + h_i) - l_i(T_i - h_i)) / (realised 2 h_i) for every i at once; the realised step is
    # measured after ``shift`` is added (e + y = a), as the terms see it; a step that vanishes
    # there (a so close to 0 or 1 that a +- h rounds to a) gives nan, reported as not compared
    up, down = T + h, T - h
    step = (up + shift) - (down + shift)
    return np.where(step != 0, (l(up) - l(down)) / np.where(step != 0, step, 1), np.nan)


def kink_allowances(model, X, y, lo, act, steps) -> dict[tuple[str, str], np.ndarray]:
    """What samples at the activation's kink can move each entry of dL/dz and dL/dW by, for each
    witness: autograd reads z within z's rounding, a central difference within 2 h."""
    if not act.kinks:
        return {}
    absX = np.abs(X)
    return {
        ("z", "autograd"): kink_deviation(model.z, model.ez, y, lo, act, steps=False),
        ("z", "numeric"): kink_deviation(model.z, model.ez + 2 * steps["z"], y, lo, act, steps=True),
        ("W", "autograd"): kink_allowance(model, absX, None, None, y, lo, act),
        ("W", "numeric"): kink_allowance(model, absX, steps["W"], None, y, lo, act),
    }
