"""Gradient forensics: given a vector someone computed, say which gradient it is.

A learner's gradient is fitted against a library of candidates (the table in
gd_torch.verdict.candidates), each a D-vector v computed from the same W, X, y: the exact gradient of
the chosen loss, the tutorial's X^T (a - y) / N (the mean cross-entropy's gradient with the
sigmoid), the squared error halved or averaged, the chain rule with a factor left out, the
activation's derivative evaluated at the wrong point, a sign error, a missing or extra 1/N,
the samples of X and dL/dz not paired.

For each candidate the least-squares factor and the relative residual are

    c = (v . g) / (v . v),        r = ||g - c v|| / ||g||

and g *is* c v when every |g_j - c v_j| stays within SAFETY (|c| err_j + error_j): err_j the
rounding error of computing v in g's precision, by the checker's own model
(:func:`gd_torch.precision.errormodel.candidate_error`: the candidate's per-sample vector d, v = X^T d,
through its factors and the sum), error_j g's own (a finite difference's estimate).  Both are
computed after scaling g and v to a largest entry of 1, so that X near 1e-310 or 1e308 gives
a clean answer.  A candidate that is zero to rounding matches a g that is zero to rounding,
with factor 1 (a correct gradient at a stationary point is all zeros).

The candidates never come from the derivative under test: with your own Activation or Loss, f'
and dL/da come from torch autograd of its ``torch_f`` / ``torch_terms`` (a wrong ``df`` is then
not "the exact gradient"); a part of your own without one gives "cannot tell" (``correct`` False).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import GdTorchError, bad_value
from ..base import validate as _validate
from ..model.activations import Activation
from ..model.forward import prepare
from ..model.losses import Loss
from ..precision import errormodel
from .candidates import Candidate, candidates, combine, unverifiable

__all__ = ["Diagnosis", "Fit", "diagnose"]


@dataclass(frozen=True)
class Fit:
    """One candidate fitted to g: g ~ factor * v, with the relative residual and its tolerance."""

    key: str
    description: str
    formula: str
    factor: float
    residual: float
    tolerance: float
    match: bool
    vector: np.ndarray
    #: the candidate is zero to rounding at this W (it then matches only a zero g, factor 1)
    zero: bool = False


@dataclass
class Diagnosis:
    """What :func:`diagnose` found.

    ``best`` is the matching candidate whose factor is closest to 1 (None when nothing
    matches: ``recognised`` is then False); ``nearest`` is the candidate with the smallest
    relative residual, matching or not; ``fits`` lists every candidate, best first;
    ``correct`` says that g is the exact gradient (factor 1 within tolerance; an all-zero g
    where the exact gradient is zero to rounding is correct too); it is never True where the
    exact gradient could not be formed independently of your own parts' derivatives (``note``
    then says why).
    """

    loss: str
    activation: str
    dtype: str
    fits: list[Fit]
    best: Fit | None
    nearest: Fit | None
    recognised: bool
    note: str = ""
    #: the best match is the exact gradient of the loss, with factor 1 within its tolerance
    correct: bool = False

    @property
    def factor(self) -> float | None:
        """The best match's factor (None when unrecognised)."""
        return self.best.factor if self.best else None

    def summary(self) -> str:
        if self.note:
            return self.note
        if self.best is not None and self.best.zero:
            return f"g is all zeros, and so is {self.best.description} at this W (to rounding): {self.best.formula}"
        if self.best is not None:
            b = self.best
            return (
                f"{b.description}: {b.formula}, times {b.factor:.3f} "
                f"(relative residual {b.residual:.1e} within rounding tolerance {b.tolerance:.1e})"
            )
        n = self.nearest
        if n is None:
            return "unrecognised: no candidate is defined and non-zero at this W"
        return (
            f"unrecognised: no candidate matches to rounding; nearest is {n.description} times {n.factor:.3g} "
            f"with relative residual {n.residual:.2g} (tolerance {n.tolerance:.1e})"
        )

    def __str__(self) -> str:
        lines = [f"diagnosis (loss={self.loss}, activation={self.activation}, dtype={self.dtype}): {self.summary()}"]
        if self.fits:
            width = max(len(f.key) for f in self.fits)
            lines.append(f"  {'candidate':<{width}}  {'factor':>10}  {'rel resid':>9}  {'tol':>8}  formula")
            for f in self.fits:
                mark = "  <- match" if f.match else ""
                lines.append(
                    f"  {f.key:<{width}}  {f.factor:>10.4g}  {f.residual:>9.2e}  {f.tolerance:>8.1e}  {f.formula}{mark}"
                )
        return "\n".join(lines)


def diagnose(
    g: Any,
    W: Any,
    X: Any,
    y: Any,
    *,
    loss: str = "sse",
    activation: str = "sigmoid",
    error: Any = None,
) -> Diagnosis:
    r"""Say which known gradient ``g`` is, and by what constant factor.

    Parameters
    ----------
    g : array of shape (n_features,): the gradient someone computed at W
    W : array of shape (n_features,)
    X : array of shape (n_samples, n_features), float32 or float64
    y : array of shape (n_samples,)
    loss, activation : the model g was meant to be the gradient of (see :func:`gd_torch.objective`)
    error : None, or an array of shape (n_features,) of g's own absolute error per entry when g is
        an approximation (a finite difference's error estimate); it is added to the tolerance

    Returns
    -------
    Diagnosis: every candidate with its least-squares factor c = (v . g) / (v . v), relative
    residual ||g - c v|| / ||g|| and the tolerance from the rounding model (module docstring);
    ``best`` (factor closest to 1 among the matches) or ``recognised = False``.
    """
    W, X, y, lo, act = prepare(W, X, y, loss, activation)
    g = _gradient(g, W.shape[0])
    g_err = np.zeros(g.shape[0]) if error is None else _error(error, g.shape[0])
    _validate.z_of(X, W)
    u = max(float(np.finfo(X.dtype).eps), float(np.finfo(g.dtype).eps) if g.dtype.kind == "f" else 0.0)
    X64, W64, y64, g64 = X.astype(np.float64), W.astype(np.float64), y.astype(np.float64), g.astype(np.float64)
    safety = errormodel.SAFETY[str(X.dtype)]
    why = unverifiable(lo, act)
    if why:  # every candidate would be built from the derivative under test
        note = f"cannot tell what g is: {why}"
        return Diagnosis(lo.name, act.name, str(X.dtype), [], None, None, False, note, False)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        fits, correct = _fits(candidates(lo, act, y64), g64, g_err, W64, X64, lo, act, u, safety)
    matches = [f for f in fits if f.match]
    best = min(matches, key=_closest_to_one) if matches else None
    correct = correct and best is not None and best.key == "exact"
    order = sorted(fits, key=lambda f: (f is not best, not f.match, f.residual))
    note = _note(fits, matches, g64)
    return Diagnosis(lo.name, act.name, str(X.dtype), order, best, _nearest(fits), best is not None, note, correct)


def _fits(cands: list[Candidate], g64, g_err, W64, X64, lo: Loss, act: Activation, u: float, safety: float):
    # every candidate v = X^T d(z, a) defined and finite at W, with its rounding error, fitted to g;
    # and whether g is the exact gradient itself (factor 1 within its tolerance)
    z = X64 @ W64
    a = act.f(z)
    fits: list[Fit] = []
    kept: list[tuple[np.ndarray, np.ndarray]] = []
    correct = False
    for cand in cands:
        v = combine(X64, cand.d(z, a), cand.paired)
        err = errormodel.candidate_error(cand.d, cand.paired, W64, X64, lo, act, u)
        if not (np.isfinite(v).all() and np.isfinite(err).all()):
            continue  # undefined (saturated a in a division) or overflowed at this W: says nothing
        if any(np.all(np.abs(v - w) <= safety * (err + e2)) for w, e2 in kept):
            continue  # the same vector as an earlier candidate at this W (e.g. identity: f' = 1)
        kept.append((v, err))
        fit = _fit(cand, g64, g_err, v, err, safety, cand.key == "exact")
        if fit is not None:
            fits.append(fit)
            if cand.key == "exact":
                correct = bool(np.all(np.abs(g64 - v) <= safety * (err + g_err)))
    return fits, correct


def _note(fits: list[Fit], matches: list[Fit], g64: np.ndarray) -> str:
    # why nothing can be recognised, when that is so for a reason other than a poor fit
    if not fits:
        return "unrecognised: no candidate is defined and finite at this W"
    if not g64.any() and not matches:
        return "unrecognised: g is all zeros, and no candidate is zero at this W (no direction to match)"
    return ""


def _nearest(fits: list[Fit]) -> Fit | None:
    # the smallest residual; among candidates that tie with it, the factor closest to 1
    if not fits:
        return None
    least = min(f.residual for f in fits)
    ties = [f for f in fits if f.residual <= 1.01 * least + f.tolerance] or fits
    return min(ties, key=_closest_to_one)


def _fit(cand: Candidate, g, g_err, v, err, safety, exact: bool) -> Fit | None:
    """g ~ c v by least squares, on g and v scaled to a largest entry of 1 (no underflow or overflow).

    The exact gradient zero to rounding (|v_j| <= SAFETY err_j: W is a stationary point) matches a g
    that is zero to rounding, factor 1; another candidate that is zero here says nothing (None).
    """
    sg, sv = float(np.max(np.abs(g))), float(np.max(np.abs(v)))
    if np.all(np.abs(v) <= safety * err):  # v is zero to rounding: only a zero g is it
        if not exact:
            return None
        match = bool(np.all(np.abs(g) <= safety * (err + g_err)))
        resid = 0.0 if sg == 0 else 1.0
        return Fit(cand.key, cand.description, cand.formula, 1.0, resid, 0.0, match, v, zero=True)
    if sg == 0:  # g = 0 is c v only with c = 0: no recognition
        return Fit(cand.key, cand.description, cand.formula, 0.0, 0.0, 0.0, False, v)
    gs, vs = g / sg, v / sv
    c_s = float(vs @ gs / (vs @ vs))  # the factor between the scaled vectors
    c = c_s * sg / sv
    if not np.isfinite(c):
        return None
    tol_s = safety * (abs(c_s) * err / sv + g_err / sg)  # |g_j - c v_j| <= tol_j, divided by sg
    resid_s = gs - c_s * vs
    match = bool(np.all(np.abs(resid_s) <= tol_s))
    norm = float(np.linalg.norm(gs))
    return Fit(
        cand.key,
        cand.description,
        cand.formula,
        c,
        float(np.linalg.norm(resid_s) / norm),
        float(np.linalg.norm(tol_s) / norm),
        match,
        v,
    )


def _closest_to_one(f: Fit) -> tuple[bool, float]:
    # positive factors first, then |log c|: the candidate that needs the least rescaling
    return (f.factor <= 0, abs(float(np.log(abs(f.factor)))) if f.factor != 0 else np.inf)


def _gradient(g: Any, d: int) -> np.ndarray:
    """g must be a finite real vector of shape (n_features,)."""
    arr = _validate.array("g", g)
    if arr.ndim != 1 or arr.shape[0] != d:
        raise bad_value("g", f"an array of shape {arr.shape}", f"of shape ({d},), one entry per weight (W's shape)")
    if arr.dtype.kind not in "biuf":
        raise bad_value("g", f"an array of dtype {arr.dtype}", "real numbers")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        j = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise GdTorchError(f"g must be finite (no NaN or inf): g[{j}] = {arr[j]}")
    return arr


def _error(error: Any, d: int) -> np.ndarray:
    """error must be a finite, non-negative vector of shape (n_features,)."""
    arr = np.asarray(error, dtype=np.float64) if np.asarray(error).dtype.kind in "biuf" else None
    if arr is None or arr.shape != (d,) or not (np.isfinite(arr).all() and (arr >= 0).all()):
        raise bad_value("error", error, f"None or finite non-negative numbers of shape ({d},)")
    return arr
