"""Central differences of a black-box function, steps chosen from its measured noise.

Along direction d_j (a coordinate vector e_j, or a given unit vector) with step h:

    D(h) = (f(x + h d) - f(x - h d)) / 2h  =  f' + h^2 f''' / 6 + ...      rounding <= eps_f / h

where eps_f is the noise level of f (gd_torch.verdict.ecnoise).  The step minimising the bound
h^2 mu3 / 6 + eps_f / h, with mu3 = |f'''|, is

    h_opt = (3 eps_f / mu3)^(1/3)

(the central-difference counterpart of the forward-difference step of J. J. Moré and
S. M. Wild, "Estimating Derivatives of Noisy Simulations", ACM TOMS 38(3), 2012).  mu3 is
read off the differences themselves: D(2h) - D(h) = h^2 f''' / 2, once that difference
stands out of its own noise (sqrt(10) / 4 eps_f / h, from the weights 1/2h, 1/4h of four
values); until it does, mu3 is not resolved and the step grows by REDO.  A trial step
eps^(1/3) times the coordinate's scale is tried first; where h_opt is more than REDO times
away from it (or mu3 is unresolved), the direction is differenced again (PASSES in all).

Error estimate of D(h) at the final step, per direction:

    truncation   |D(2h) - D(h)|     (3 h^2 |f'''| / 6: the h^2 term three times over, which
                                     also covers a kink of f between h/2 and h from x)
    kink         (|S(h)| + |S(2h) - 4 S(h)|) / 2h    only where S(2h) - 4 S(h), zero to O(h^4)
                                     for smooth f, exceeds its noise; S(h) = f(x+h) + f(x-h)
                                     - 2 f(x).  A kink of slope jump J at distance d < h from x
                                     moves D(h) by J (h - d) / 2h, and S(h) = h^2 f'' + J (h - d),
                                     S(2h) - 4 S(h) = J (3d - 2h): with the truncation term the
                                     sum bounds J (h - d) even where h^2 f'' cancels it.  Such a
                                     direction is differenced again at h / REDO (never larger).
    rounding     tail * sqrt(2) eps_f / 2h     (the noise of f(x+h) - f(x-h))

with ``tail`` the caller's allowance for the largest of many noise draws.

**No derivative at x.**  Where f is still not smooth within the final step, S(h) and S(2h),
once above their noise (tail sqrt(6) eps_f), tell a kink from a jump by how they scale:

    smooth  S(h) = h^2 f''      S(2h) / S(h) ~ 4
    kink    S(h) = J h          S(2h) / S(h) ~ 2   (J: the jump of the slope at x)
    jump    S(h) = c            S(2h) / S(h) ~ 1   (D(h) = f' + c / 2h grows like 1/h)

A ratio in KINK_RATIO = [1.5, 3) is a kink at (or within h / 2 of) x: the one-sided differences
(f(x + h) - f(x)) / h and (f(x) - f(x - h)) / h are then the ends of the subdifferential,
each with error |R(2h) - R(h)| + tail sqrt(2) eps_f / h (first-order truncation, rounding).
A ratio in JUMP_RATIO = (0.5, 1.5) is a jump: f has no derivative there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: a direction is differenced again when h_opt / h is outside [1/REDO, REDO]
REDO = 4.0
#: at most this many passes (the trial and four redos)
PASSES = 5
#: D(2h) - D(h) resolves mu3 when it exceeds this many times its noise
RESOLVED = 2.0
#: how far one redo may move the step: h_opt is clipped to [h / 1e4, h * 1e2]
SHRINK, GROW = 1e-4, 1e2
#: S(2h) / S(h) in these ranges: a jump of f, or a kink, at x (see the module docstring)
JUMP_RATIO = (0.5, 1.5)
KINK_RATIO = (1.5, 3.0)
#: Differences.kind: f smooth within the step, a kink at x, a jump at x
SMOOTH, KINK, JUMP = 0, 1, 2
#: bytes of perturbed points built at once
_CHUNK_BYTES = 32 << 20


@dataclass(frozen=True)
class Directions:
    """d_j = e_j (``V`` is None: every coordinate) or row j of ``V`` (shape (k, n))."""

    V: np.ndarray | None
    n: int

    @property
    def count(self) -> int:
        return self.n if self.V is None else self.V.shape[0]

    def points(self, x: np.ndarray, x64: np.ndarray, idx: np.ndarray, t: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write x + t_j d_j for j in idx into the rows of ``out`` (x's dtype); return the steps taken."""
        if self.V is None:  # one coordinate moves: the step taken is (x_j + t) - x_j, exactly
            out[:] = x
            moved = (x[idx] + t.astype(x.dtype)).astype(x.dtype)
            out[np.arange(len(idx)), idx] = moved
            return moved.astype(np.float64) - x64[idx]
        row = np.empty_like(x64)
        for r, (j, tj) in enumerate(zip(idx, t, strict=True)):  # one row at a time: no (k, n) temporaries
            np.multiply(self.V[j], tj, out=row)
            row += x64
            out[r] = row
        return t.astype(np.float64)


@dataclass(frozen=True)
class Differences:
    """D(h) per direction, its estimated error, the step h and the kink flag; where f has no
    derivative at x, ``kind`` (KINK or JUMP, else SMOOTH), the one-sided differences ``left`` and
    ``right`` with their error ``side_error``, D(2h) (``wide``), and |S(2h) - 4 S(h)| (``residual``,
    what made a direction not smooth)."""

    values: np.ndarray
    error: np.ndarray
    steps: np.ndarray
    nonsmooth: np.ndarray
    evaluations: int
    kind: np.ndarray
    left: np.ndarray
    right: np.ndarray
    side_error: np.ndarray
    wide: np.ndarray
    residual: np.ndarray
    #: D at the final step and at the trial step differ by more than their errors: f is not
    #: what the error model assumes between those scales (a part of it moves in steps)
    unsteady: np.ndarray
    #: |S(2h) - 4 S(h)| at the trial step
    trial_residual: np.ndarray


def central(
    evaluate: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    f0: float,
    noise: float,
    dirs: Directions,
    trial: np.ndarray,
    tail: float,
) -> Differences:
    """Central differences along every direction of ``dirs``; see the module docstring.

    evaluate : maps points (B, n) in x's dtype to f there, (B,) in float64.
    f0 : f(x).  noise : eps_f > 0.  trial : the first step per direction, shape (count,).
    """
    idx = np.arange(dirs.count)
    res = _pass(evaluate, x, f0, noise, dirs, idx, trial, tail)
    first = {key: res[key].copy() for key in ("D", "error", "residual")}
    evaluations = 4 * dirs.count
    ceiling = np.full(dirs.count, np.inf)  # f was not smooth within 2h: no step >= h again
    for _ in range(PASSES - 1):
        ceiling = np.where(res["nonsmooth"], res["h"] / REDO, ceiling)
        want = np.minimum(_next_step(res, noise), ceiling)
        redo = np.flatnonzero(want != res["h"])
        if redo.size == 0:
            break
        again = _pass(evaluate, x, f0, noise, dirs, redo, want[redo], tail)
        for key, value in again.items():
            res[key][redo] = value
        evaluations += 4 * redo.size
    return Differences(
        res["D"],
        res["error"],
        res["h"],
        res["nonsmooth"],
        evaluations,
        res["kind"],
        res["left"],
        res["right"],
        res["side_error"],
        res["D2"],
        res["residual"],
        np.abs(res["D"] - first["D"]) > res["error"] + first["error"],
        first["residual"],
    )


def _next_step(res: dict[str, np.ndarray], noise: float) -> np.ndarray:
    # h_opt = (3 eps_f / mu3)^(1/3), mu3 = 2 |D(2h) - D(h)| / h^2 where resolved, clipped to
    # [h SHRINK, h GROW], kept at h when within a factor REDO; h REDO where mu3 is unresolved;
    # h / REDO where f is not smooth within 2h, or not finite there (the step left f's domain)
    h, diff = res["h"], np.abs(res["D2"] - res["D"])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        resolved = diff > RESOLVED * np.sqrt(10.0) / 4 * noise / h
        ratio = np.where(resolved, np.clip(np.cbrt(3 * noise / (2 * diff * h)), SHRINK, GROW), REDO)
    ratio = np.where((ratio > 1 / REDO) & (ratio < REDO), 1.0, ratio)
    ratio = np.where(res["nonsmooth"], 1 / REDO, ratio)
    return np.where(np.isfinite(diff), h * ratio, h / REDO)


def _pass(evaluate, x, f0, noise, dirs, idx, t, tail) -> dict[str, np.ndarray]:
    # f at x +- t d_j and x +- 2t d_j for j in idx, in chunks of bounded memory
    chunk = max(1, _CHUNK_BYTES // (4 * x.size * x.itemsize))
    x64 = x.astype(np.float64)
    vals, steps = [], []
    for s in range(0, len(idx), chunk):
        j, tj = idx[s : s + chunk], t[s : s + chunk]
        rows = np.empty((4, len(j), x.size), dtype=x.dtype)  # +t, -t, +2t, -2t
        taken = [dirs.points(x, x64, j, c * tj, rows[q]) for q, c in enumerate((1, -1, 2, -2))]
        vals.append(np.asarray(evaluate(rows.reshape(4 * len(j), x.size)), dtype=np.float64).reshape(4, len(j)))
        steps.append(np.abs(np.stack(taken)))
    fp, fm, f2p, f2m = np.concatenate(vals, axis=1)
    hp, hm, h2p, h2m = np.concatenate(steps, axis=1)
    with np.errstate(invalid="ignore", over="ignore"):
        D, D2 = (fp - fm) / (hp + hm), (f2p - f2m) / (h2p + h2m)
        S1, S2 = fp + fm - 2 * f0, f2p + f2m - 2 * f0
        # S(2h) - 4 S(h) of pure noise: weights (1, 1, -4, -4, 6) on five values, std sqrt(70) eps_f
        residual = np.abs(S2 - 4 * S1)
        nonsmooth = residual > tail * np.sqrt(70.0) * noise
        kink = np.where(nonsmooth, (np.abs(S1) + np.abs(S2 - 4 * S1)) / (hp + hm), 0.0)
        rounding = tail * np.sqrt(2.0) * noise / (hp + hm)
        error = np.abs(D2 - D) + kink + rounding
        sides = _one_sided(fp, fm, f2p, f2m, f0, (hp, hm, h2p, h2m), noise, tail)
    kind = np.where(nonsmooth, _kind(S1, S2, noise, tail), SMOOTH)
    return {
        "D": D,
        "D2": D2,
        "h": (hp + hm) / 2,
        "error": error,
        "nonsmooth": nonsmooth,
        "kind": kind,
        "residual": residual,
        **sides,
    }


def _kind(S1: np.ndarray, S2: np.ndarray, noise: float, tail: float) -> np.ndarray:
    # S(2h) / S(h) ~ 1: a jump, ~ 2: a kink, once S(h) stands out of its noise (weights 1, 1, -2)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(np.abs(S1) > tail * np.sqrt(6.0) * noise, S2 / S1, np.inf)
    jump = (r > JUMP_RATIO[0]) & (r < JUMP_RATIO[1])
    kink = (r >= KINK_RATIO[0]) & (r < KINK_RATIO[1])
    return np.where(jump, JUMP, np.where(kink, KINK, SMOOTH))


def _one_sided(fp, fm, f2p, f2m, f0, steps, noise, tail) -> dict[str, np.ndarray]:
    # R(h) = (f(x + h) - f(x)) / h, L(h) = (f(x) - f(x - h)) / h, each with error
    # |R(2h) - R(h)| (first-order truncation) + tail sqrt(2) eps_f / h (rounding)
    hp, hm, h2p, h2m = steps
    right, left = (fp - f0) / hp, (f0 - fm) / hm
    trunc = np.maximum(np.abs((f2p - f0) / h2p - right), np.abs((f0 - f2m) / h2m - left))
    side_error = trunc + tail * np.sqrt(2.0) * noise / np.minimum(hp, hm)
    return {"left": left, "right": right, "side_error": side_error}
