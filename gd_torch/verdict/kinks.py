"""The one kink rule of the one-neuron model: what samples at (or near) a kink of the activation
can move a method's gradient by, and which branches of the derivative the data exercised.

A sample whose z_i lies within a method's reach of a kink k (z's rounding for an exact method, a
finite difference's steps) may see either one-sided slope: :func:`kink_allowance` is what those
samples can contribute, the allowance a pair may differ by on top of its tolerance
(:func:`gd_torch.verdict.compare.compare`'s 'kink').  :func:`sides`, :func:`one_sided` and
:func:`unseen` count the samples on each side of each kink that some pair can see.
"""

from __future__ import annotations

import numpy as np

from ..gradients import Estimate
from ..model.activations import Activation
from ..model.forward import delta
from ..model.losses import Loss
from ..precision import errormodel


def kink_deviation(
    z: np.ndarray, reach: np.ndarray, y: np.ndarray, lo: Loss, act: Activation, *, steps: bool, n: int | None = None
) -> np.ndarray:
    """How far a method that reads dL/dz_i within ``reach`` of z_i can be from the slope s(z_i)
    (s = dL/dz as a function of z_i), where a kink of the activation lies within that reach.

    z, y : (N,); reach : (N,) or (N, K) (one column per coordinate), >= 0; n: the loss's sample
    count when z and y are some of its samples (default N).  Returns an array of
    reach's shape, 0 where [z_i - reach, z_i + reach] holds no kink (or reach is 0).  The spread of
    s over that interval is read at its ends, at z_i and on both sides of the kink (s is monotone
    between kinks for the registered pairs).  ``steps=False``: a point that rounding may carry to
    the other side (an exact method, reach = z's rounding): the whole spread.  ``steps=True``: a
    difference quotient is the mean of s over its interval, so it is off by at most the share
    w = (reach - |z_i - k|) / reach of the interval beyond the kink times the spread, plus the
    spread on z_i's own side times the rest.
    """
    reach = np.asarray(reach, dtype=np.float64)
    out = np.zeros(reach.shape)
    zz = np.broadcast_to(z if reach.ndim == 1 else z[:, None], reach.shape)
    for k in act.kinks:
        near = (reach > 0) & (np.abs(zz - k) <= reach)
        if near.any():
            rows = np.nonzero(near)[0]
            dev = _deviation(zz[near], reach[near], y[rows], k, n or y.shape[0], lo, act, steps)
            out[near] = np.maximum(out[near], dev)
    return out


def _deviation(t0, r, yy, k, n, lo, act, steps):
    # kink_deviation for samples at t0 with reach r around the kink k (flat arrays)
    def s(t):
        return delta(t, yy, lo, act, n=n)

    with np.errstate(over="ignore", invalid="ignore"):
        ends = (s(t0 - r), s(t0 + r))
        at = s(t0)
        sides = (s(np.full_like(t0, np.nextafter(k, -np.inf))), s(np.full_like(t0, np.nextafter(k, np.inf))))
    every = np.stack([*ends, at, *sides])
    spread = every.max(axis=0) - every.min(axis=0)
    if not steps:
        return spread
    right = t0 > k  # z's own side: its end of the interval and its side of the kink
    own = np.stack([at, np.where(right, ends[1], ends[0]), np.where(right, sides[1], sides[0])])
    own_spread = np.where(t0 == k, spread, own.max(axis=0) - own.min(axis=0))
    with np.errstate(invalid="ignore", over="ignore"):  # an infinite reach (X near the largest float):
        w = (r - np.abs(t0 - k)) / r
        return np.where(np.isinf(r), spread, w * spread + (1 - w) * own_spread)  # the whole spread


def kink_allowance(
    model: errormodel.ErrorModel,
    absX: np.ndarray,
    steps: np.ndarray | None,
    v: np.ndarray | None,
    y,
    lo,
    act,
    n: int | None = None,
) -> np.ndarray:
    """What samples at a kink can move one method's gradient by, per coordinate: the sum over i of
    |dz_i/dW_j| kink_deviation_i, with reach z's rounding e_z (an exact method, ``steps`` None) or
    e_z + |X_ij| 2 h_j (a finite difference with steps h, the larger of its two steps).
    Shape (D,), or (1,) along a unit direction v (|dz_i/dt| <= (|X| |v|)_i).

    A sum over samples: on a block of rows (model.z, model.ez, absX and y that block's), with n the
    loss's sample count (default: y's), the blocks' allowances add up to the whole data's."""
    if not act.kinks:
        return np.zeros(1 if v is not None else absX.shape[1])
    if v is not None:
        reach = model.ez + (0 if steps is None else 2 * (absX @ steps))
        dev = kink_deviation(model.z, reach, y, lo, act, steps=steps is not None, n=n)
        return np.array([float((absX @ np.abs(v)) @ dev)])
    # only rows that some coordinate's reach can take to a kink: no (N, D) work on the others
    with np.errstate(over="ignore"):  # an infinite reach takes the row in
        bound = model.ez + (0 if steps is None else 2 * absX.max(axis=1) * float(np.max(steps)))
        rows = np.flatnonzero(np.any([(bound > 0) & (np.abs(model.z - k) <= bound) for k in act.kinks], axis=0))
        sub = absX[rows]
        reach = np.broadcast_to(model.ez[rows, None] + (0 if steps is None else sub * (2 * steps)), sub.shape)
    n = y.shape[0] if n is None else n
    dev = kink_deviation(model.z[rows], reach, y[rows], lo, act, steps=steps is not None, n=n)
    return np.einsum("ij,ij->j", sub, dev)


def kinked_samples(model, absX, estimates: dict[str, Estimate], v, act) -> np.ndarray:
    """The samples (indices into model.z's rows) at a kink, or within some method's reach of one
    (z's rounding, or its steps).  None for an activation without kinks (nothing is computed)."""
    if not act.kinks:
        return np.zeros(0, dtype=int)
    z = model.z
    near = np.isin(z, act.kinks)
    for e in estimates.values():
        r = model.ez.copy()
        if e.steps is not None:
            with np.errstate(over="ignore"):  # an infinite reach takes the row in
                r += 2 * (absX @ e.steps if v is not None else (absX * e.steps).max(axis=1))
        for k in act.kinks:
            near |= (r > 0) & (np.abs(z - k) <= r)
    return np.flatnonzero(near)


def hiding(estimates: dict[str, Estimate], exact: frozenset[str]) -> dict[str, Estimate]:
    """The methods whose kink reach (:func:`kinked_samples`) hides which side of a kink a sample
    exercised.  With two exact methods compared, only theirs (z's rounding: an exact pair sees the
    branch at any distance beyond it, and within it X's dtype may put z_i on the other side);
    else every method's: a sample within a finite difference's reach of a kink is seen by no
    pair of a method whose only partners are finite differences."""
    if len(exact) >= 2:
        return {spec: e for spec, e in estimates.items() if spec in exact}
    return estimates


def sides(z: np.ndarray, act: Activation) -> np.ndarray:
    """How many z_i lie below and above each kink k of the activation: shape (len(kinks), 2),
    [#(z_i < k), #(z_i > k)].  A sum over samples (the counts of row blocks and ranks add up)."""
    return np.array([[np.count_nonzero(z < k), np.count_nonzero(z > k)] for k in act.kinks], dtype=np.float64).reshape(
        -1, 2
    )


def one_sided(counts: np.ndarray, act: Activation) -> tuple[tuple[float, str], ...]:
    """The kinks k with no sample on one of their sides, from :func:`sides`' counts, each as
    (k, side): '>' (every z_i >= k, some > k), '<' (every z_i <= k, some < k) or '=' (every z_i = k).
    The derivative's branch beyond such a kink (a ReLU's mask) was never exercised by these data:
    a wrong branch there would agree with every method."""
    out = []
    for k, (below, above) in zip(act.kinks, counts, strict=True):
        if not (below and above):
            out.append((float(k), ">" if above else "<" if below else "="))
    return tuple(out)


def unseen(seen: np.ndarray, every: np.ndarray, act: Activation) -> tuple[int, ...]:
    """For each of ``one_sided(seen, act)``'s kinks, how many samples lie on its missing side(s)
    where no pair of methods can see them: :func:`sides`' counts of every sample less those of the
    samples counted (``every - seen``)."""
    out = []
    for (below, above), (all_below, all_above) in zip(seen, every, strict=True):
        if not (below and above):
            out.append(int((0 if below else all_below) + (0 if above else all_above)))
    return tuple(out)
