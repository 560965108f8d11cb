"""The error source of :func:`gd_torch.check_function`: tolerances from the measured noise of f.

:class:`Measured` holds a pair (A, B) to tol_k = SAFETY (err_A,k + err_B,k) (SAFETY:
:data:`gd_torch.precision.errormodel.SAFETY`, the one safety factor), each error estimate derived
from ECnoise (see :mod:`gd_torch.verdict.function_checker`).  Where a method's values are
finite differences of f, its :class:`Limits` say where they cannot verify another's: at a kink
of f the other's value is held to the subdifferential [lo, hi] widened by SAFETY (spread +
err_other), outside it disagrees, inside it cannot be verified; at a jump nothing can be
verified; where f is ``rough`` or has a ``quantum``, an agreement cannot be verified either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .compare import Status
from .differences import JUMP, KINK
from .engine import Terms

#: why a coordinate where f is rough cannot be verified
ROUGH = (
    "f is not smooth within the finite-difference step there, and it is neither a kink nor a jump: "
    "f changes in steps at this scale (a part of it looks computed in float32 or quantised), so "
    "its differences cannot confirm a gradient there; evaluate all of f in the parameters' dtype"
)


@dataclass(frozen=True)
class Limits:
    """Where a method's values cannot verify another's (finite differences of f: see
    gd_torch.verdict.differences).  Per index: ``kind`` (KINK, JUMP or SMOOTH), the ends ``lo`` <= ``hi``
    of a kink's subdifferential (the one-sided differences) with their error ``spread``, D at the
    doubled step (``wide``), ``rough``: f not smooth within the step there yet neither a kink nor
    a jump (f changes in steps at that scale: part of it quantised, or noisier than measured);
    and for all indices, ``quantum``: why f's resolution leaves the method unable to confirm
    agreement (None when it can)."""

    kind: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    spread: np.ndarray
    wide: np.ndarray
    rough: np.ndarray
    quantum: str | None = None


@dataclass(frozen=True)
class Measured:
    """Each method's values and error estimate per index, the safety factor, and the methods with limits."""

    values: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    safety: float
    limits: dict[str, Limits]

    def terms(self, a: str, b: str, index: np.ndarray | None = None) -> Terms:
        """A and B at ``index`` against SAFETY (err_A + err_B); where one of them has limits, the
        other's value against them (see the module's docstring)."""
        idx = np.arange(self.values[a].size) if index is None else index
        ga, gb = self.values[a][idx], self.values[b][idx]
        tol = self.safety * (self.errors[a][idx] + self.errors[b][idx])
        limited = next(((m, lim) for m, lim in self.limits.items() if m in (a, b)), None)
        if limited is None:
            return Terms(ga, gb, tol)
        m, lim = limited
        other, err_other = (ga, self.errors[a][idx]) if m == b else (gb, self.errors[b][idx])
        own = gb if m == b else ga
        held, tol, unverified = self._held_to(lim, idx, other, own, err_other, tol)
        values, reference = (other, held) if m == b else (held, other)

        def why(status: Status, k: int) -> str:
            return _why(status, lim, int(idx[k]), float(other[k]), float(own[k]))

        return Terms(values, reference, tol, None, unverified, lim.quantum is not None, why)

    def _held_to(self, lim: Limits, idx, other, own, err_other, tol):
        # what the limited method's value is replaced by: at a kink the point of [lo, hi] nearest
        # the other's value (|other - held| is its distance from the subdifferential), held to
        # SAFETY (spread + err_other); at a jump the other's value itself (nothing to hold it to);
        # where f is rough its own value (compared as usual).  Returns held, tol, unverified
        kind = lim.kind[idx]
        kink, jump = kind == KINK, kind == JUMP
        kink_tol = self.safety * (lim.spread[idx] + err_other)
        nearest = np.minimum(np.maximum(other, lim.lo[idx]), lim.hi[idx])
        held = np.where(kink, nearest, np.where(jump, other, own))
        # a value or tolerance that is not finite stays so: never agreement, whatever the limits
        held = np.where(np.isfinite(own), held, own)
        tol = np.where(np.isfinite(tol), np.where(kink, kink_tol, tol), tol)
        return held, tol, kink | jump | lim.rough[idx]


def _why(status: Status, lim: Limits, j: int, value: float, own: float) -> str:
    # the reason text for a pair with a limited method (value: the other's, own: its own): its
    # kink, its jump or f's quantum
    ends = f"[{lim.lo[j]:.6g}, {lim.hi[j]:.6g}]"
    if lim.kind[j] == KINK:
        if status == "disagree":
            return f"f has a kink there, and {value:.6g} is outside its subdifferential {ends} (the one-sided slopes)"
        return (
            f"f has a kink there: {value:.6g} lies in its subdifferential {ends} (the one-sided slopes), "
            "and a derivative cannot be verified beyond that"
        )
    if lim.kind[j] == JUMP:
        return (
            f"f jumps at this point: its central difference grows like 1/h ({lim.wide[j]:.6g} at 2h, "
            f"{own:.6g} at h), so f has no derivative there to check"
        )
    if status == "cannot verify" and lim.rough[j]:
        return ROUGH
    return lim.quantum if status == "cannot verify" and lim.quantum else ""
