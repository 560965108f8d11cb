"""The noise level of a computed function, from a difference table (Moré and Wild's ECnoise).

J. J. Moré and S. M. Wild, "Estimating Computational Noise", SIAM J. Sci. Comput. 33(3),
1292-1314 (2011), doi:10.1137/100786125.

A computed function is modelled as f(t) = f_s(t) + e(t): a smooth part and noise (here,
rounding).  Evaluated at m + 1 equally spaced points t_i = t_0 + i h along a direction, the
k-th differences

    D^k f_i = sum_l (-1)^(k - l) C(k, l) f_(i + l)

of the smooth part are ~ h^k f_s^(k), small for small h, while those of noise with variance
sigma^2 have variance sigma^2 C(2k, k).  With gamma_k = 1 / C(2k, k) = (k!)^2 / (2k)!,

    sigma_k = sqrt( gamma_k / (m + 1 - k) * sum_i (D^k f_i)^2 ),       k = 1 .. m

estimates sigma once the smooth part has fallen below the noise at order k.  The paper's
acceptance tests decide which order to trust: sigma_k is taken at the first k where
sigma_k, sigma_(k+1), sigma_(k+2) agree within a factor 4 and the k-th differences change
sign (noise, not a trend).  h is too small when half or more of the first differences are
exactly 0 (f does not move in its last bits), too large when the values spread over more
than 10% of their size, are not all finite, or no order passes; the caller then retries with
h * 100 or h / 100.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

Status = Literal["ok", "step too small", "step too large"]
#: m + 1 = 9 points along each direction (the paper's examples use m = 8)
POINTS = 9
#: sigma_k .. sigma_(k+2) must agree within this factor
AGREE = 4.0
#: the spread of the values above which the step is too large, relative to the largest |f|
SPREAD = 0.1
#: the step grows or shrinks by this factor between tries
STEP_FACTOR = 100.0
_STATUS: tuple[Status, ...] = ("ok", "step too small", "step too large")


@dataclass(frozen=True)
class Table:
    """ECnoise of each column of a (m + 1, c) table of values: one estimate per column."""

    #: estimated standard deviation of the noise (0.0 where none was accepted)
    level: np.ndarray
    #: the difference order accepted (0 where none)
    order: np.ndarray
    #: index into ('ok', 'step too small', 'step too large')
    code: np.ndarray
    #: sigma_k for k = 1 .. m, shape (m, c)
    levels: np.ndarray

    def status(self, column: int = 0) -> Status:
        return _STATUS[int(self.code[column])]


def table(values: np.ndarray) -> Table:
    """ECnoise of each column of ``values`` (shape (m + 1,) or (m + 1, c), m >= 3), in float64."""
    v = np.asarray(values, dtype=np.float64)
    v = v[:, None] if v.ndim == 1 else v
    m1, c = v.shape
    # a column holding inf or NaN (the step left f's domain, or a gradient overflowed) has no
    # level: 'step too large'.  The others are divided by their largest |value| (sigma_k scales
    # with the values), so that differences and their squares cannot overflow near 1e308
    finite = np.isfinite(v).all(axis=0)
    big = np.where(finite, np.max(np.abs(np.where(finite, v, 0.0)), axis=0), 0.0)
    unit = np.where(big > 0, big, 1.0)
    v = np.where(finite, v, 0.0) / unit
    spread_too_large = ~finite | ((v.max(axis=0) - v.min(axis=0)) > SPREAD * (big / unit))
    levels = np.empty((m1 - 1, c))
    sign_change = np.empty((m1 - 1, c), dtype=bool)
    diff, gamma = v, 1.0
    for k in range(1, m1):
        diff = np.diff(diff, axis=0)  # D^k f_i, i = 0 .. m - k
        if k == 1:
            too_small = np.count_nonzero(diff == 0, axis=0) >= m1 / 2
        gamma *= 0.5 * k / (2 * k - 1)  # gamma_k = gamma_(k-1) k^2 / ((2k)(2k - 1))
        levels[k - 1] = np.sqrt(gamma * np.mean(diff * diff, axis=0))
        sign_change[k - 1] = (diff.min(axis=0) < 0) & (diff.max(axis=0) > 0)
    levels *= unit
    level, order = np.zeros(c), np.zeros(c, dtype=int)
    found = np.zeros(c, dtype=bool)
    for k in range(1, m1 - 2):
        window = levels[k - 1 : k + 2]
        settled = (window.max(axis=0) <= AGREE * window.min(axis=0)) & sign_change[k - 1]
        take = settled & ~found
        level[take], order[take] = levels[k - 1, take], k
        found |= take
    code = np.where(spread_too_large, 2, np.where(too_small, 1, np.where(found, 0, 2)))
    level[code != 0], order[code != 0] = 0.0, 0
    return Table(level, order, code, levels)


@dataclass(frozen=True)
class Noise:
    """The noise of f along one direction, with the step at which it was measured."""

    level: float
    status: Status
    #: the half-width h of the accepted stencil x + s h p, s in [-1, 1]
    step: float
    evaluations: int
    values: np.ndarray


def along(
    evaluate: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    p: np.ndarray,
    step: float,
    tries: int = 4,
) -> Noise:
    """ECnoise of f along p: f at x + s h p for POINTS values of s evenly in [-1, 1].

    evaluate : maps points of shape (POINTS, n) to the values of f there, shape (POINTS,).
    x, p : arrays of shape (n,); the points are formed in float64 and rounded to x's dtype.
    step : the first h; on 'step too small' h grows by STEP_FACTOR, on 'step too large' it
        shrinks, at most ``tries`` times in all and never back to a step already tried.
    """
    tried: set[int] = set()
    power, evaluations = 0, 0  # h = step * STEP_FACTOR**power
    x64 = x.astype(np.float64)
    while True:
        h = float(step) * STEP_FACTOR**power
        vals = np.asarray(evaluate(stencil(x64, p, h, x.dtype)), dtype=np.float64)
        evaluations += POINTS
        t = table(vals)
        status = t.status()
        tried.add(power)
        nxt = power + 1 if status == "step too small" else power - 1
        if status == "ok" or len(tried) >= tries or nxt in tried:
            return Noise(float(t.level[0]), status, h, evaluations, vals)
        power = nxt


def along_columns(
    evaluate: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    p: np.ndarray,
    step: float,
    powers: tuple[int, ...] = (0, 1, 2, -1),
) -> tuple[Table, int]:
    """ECnoise of each output of a vector function (a gradient) along p, column by column.

    evaluate maps points (POINTS, n) to values (POINTS, c).  The stencil is tried at
    h = step * STEP_FACTOR**k for k in ``powers`` in order, a k > 0 only while some column's
    step is too small and a k < 0 only while some column's is too large.  A column keeps
    the first estimate its acceptance tests pass, otherwise the last try in the direction it
    asked for.  Returns the combined table and the number of evaluations.
    """
    best: Table | None = None
    evaluations = 0
    x64 = x.astype(np.float64)
    for k in powers:
        if best is not None and not ((k > 0 and (best.code == 1).any()) or (k < 0 and (best.code == 2).any())):
            continue
        t = table(np.asarray(evaluate(stencil(x64, p, float(step) * STEP_FACTOR**k, x.dtype)), dtype=np.float64))
        evaluations += POINTS
        if best is None:
            best = t
            continue
        asked = (best.code == 1) if k > 0 else (best.code == 2)
        take = (best.code != 0) & ((t.code == 0) | asked)
        best = Table(*(np.where(take, new, old) for new, old in zip(_fields(t), _fields(best), strict=True)))
    assert best is not None
    return best, evaluations


def stencil(x64: np.ndarray, p: np.ndarray, h: float, dtype: np.dtype) -> np.ndarray:
    """The POINTS points x + s h p, s evenly in [-1, 1], formed in float64 and rounded to dtype."""
    pts = np.empty((POINTS, x64.size), dtype=dtype)
    row = np.empty_like(x64)
    for i, s in enumerate(np.linspace(-h, h, POINTS)):  # one row at a time: no (POINTS, n) float64 temporary
        np.multiply(p, s, out=row)
        row += x64
        pts[i] = row
    return pts


def _fields(t: Table) -> tuple[np.ndarray, ...]:
    return (t.level, t.order, t.code, t.levels)
