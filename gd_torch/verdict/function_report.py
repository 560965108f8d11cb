"""What :func:`gd_torch.check_function` found: pairs of methods compared, per array and overall."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .compare import FAILING
from .differences import JUMP, KINK
from .pairs import _odd_one_out

#: 'cannot verify': the pair agrees only where one method could not have caught an error (f
#: quantised, a kink or a jump of f): not agreement, and ``ok`` is False
Status = Literal["agree", "disagree", "non-finite", "cannot verify"]
#: multiplies the summed error estimates of two methods into their tolerance
SAFETY = 2.0
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
class Comparison:
    """Two methods compared over some coordinates (or directions): the worst one and the verdict."""

    a: str
    b: str
    status: Status
    #: flat index of the coordinate (or direction) with the largest |diff| / tol
    worst: int
    value_a: float
    value_b: float
    tol: float
    ratio: float
    rel_err: float
    max_rel_err: float
    #: why the pair cannot verify (status 'cannot verify'), or what a disagreement at a kink is held to
    reason: str = ""

    @property
    def tol_rel(self) -> float:
        scale = max(abs(self.value_a), abs(self.value_b))
        return self.tol / scale if scale > 0 else self.tol


def compare(a: str, b: str, values: dict, errors: dict, idx: np.ndarray, limits: dict | None = None) -> Comparison:
    """Coordinates idx of methods a and b: agree where |g_a - g_b| <= SAFETY (err_a + err_b).

    Where a method has :class:`Limits` (``limits[name]``): at a kink the other's value is held to
    the subdifferential, [lo, hi] widened by SAFETY (spread + err_other): outside it disagrees,
    inside it cannot be verified; at a jump nothing can be verified; where f is ``rough`` or has
    a ``quantum``, an agreement cannot be verified either.  Status: non-finite, else disagree, else cannot verify."""
    ga, gb = values[a][idx], values[b][idx]
    tol = SAFETY * (errors[a][idx] + errors[b][idx])
    finite = np.isfinite(ga) & np.isfinite(gb) & np.isfinite(tol)
    if not finite.all():
        k = int(np.flatnonzero(~finite)[0])
        return Comparison(
            a, b, "non-finite", int(idx[k]), float(ga[k]), float(gb[k]), float(tol[k]), np.nan, np.nan, np.nan
        )
    diff = np.abs(ga - gb)
    scale = np.maximum(np.abs(ga), np.abs(gb))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(scale > 0, diff / scale, 0.0)
        ratio = np.where(tol > 0, diff / tol, np.where(diff > 0, np.inf, 0.0))
    limited = next(((m, lim) for m, lim in (limits or {}).items() if m in (a, b)), None)
    unverified, reason = np.zeros(idx.size, dtype=bool), ""
    if limited is not None:
        m, lim = limited
        other, err_other = (gb, errors[b][idx]) if m == a else (ga, errors[a][idx])
        ratio, tol, unverified = _held_to(lim, idx, other, err_other, ratio, tol)
    k = int(np.argmax(ratio))
    status: Status = "disagree" if ratio[k] > 1 else "agree"
    if limited is not None:
        if status == "agree" and (unverified.any() or limited[1].quantum):
            status = "cannot verify"
            k = int(np.flatnonzero(unverified)[0]) if unverified.any() else k
        own = ga[k] if limited[0] == a else gb[k]
        reason = _why(status, limited[1], idx[k], float(other[k]), float(own))
    return Comparison(
        a,
        b,
        status,
        int(idx[k]),
        float(ga[k]),
        float(gb[k]),
        float(tol[k]),
        float(ratio[k]),
        float(rel[k]),
        float(rel.max()),
        reason,
    )


def _held_to(lim: Limits, idx, other, err_other, ratio, tol):
    # at a kink: the distance of the other's value from [lo, hi] over SAFETY (spread + err_other);
    # at a jump: ratio 0 (nothing to hold it to) and unverified; where f is rough (not smooth
    # within the step, unexplained): compared as usual, but an agreement there is unverified;
    # returns ratio, tol, unverified
    kind = lim.kind[idx]
    kink, jump = kind == KINK, kind == JUMP
    kink_tol = SAFETY * (lim.spread[idx] + err_other)
    outside = np.maximum(np.maximum(lim.lo[idx] - other, other - lim.hi[idx]), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kink_ratio = np.where(kink_tol > 0, outside / kink_tol, np.where(outside > 0, np.inf, 0.0))
    ratio = np.where(kink, kink_ratio, np.where(jump, 0.0, ratio))
    return ratio, np.where(kink, kink_tol, tol), kink | jump | lim.rough[idx]


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


@dataclass(frozen=True)
class ArraySummary:
    """One parameter array: every pair compared over its coordinates (or its directions)."""

    name: str
    shape: tuple[int, ...]
    pairs: list[Comparison]

    @property
    def ok(self) -> bool:
        return all(p.status == "agree" for p in self.pairs)


@dataclass(frozen=True)
class FunctionReport:
    """The gradient of f by each method, compared pairwise.  ``ok``: every pair agrees."""

    dtype: str
    mode: str
    size: int
    f_value: float
    torch_value: float | None
    #: noise level of one evaluation of f (ECnoise), and how it was found
    noise: float
    noise_note: str
    #: method name -> what it is
    methods: dict[str, str]
    #: method name -> values per coordinate (mode 'full') or per direction (v . g), float64
    values: dict[str, np.ndarray]
    #: method name -> error estimate per coordinate or direction
    errors: dict[str, np.ndarray]
    pairs: list[Comparison]
    arrays: list[ArraySummary]
    #: flat index -> 'W1[3, 2]' (mode 'full') or 'W1 along v2' (mode 'directional')
    label: Callable[[int], str]
    evaluations: int

    @property
    def ok(self) -> bool:
        """Every pair agrees ('cannot verify' is not agreement)."""
        return all(p.status == "agree" for p in self.pairs)

    @property
    def odd_one_out(self) -> str | None:
        """The one method whose every pair fails while every pair without it agrees (the checker's rule)."""
        return _odd_one_out(list(self.values), self.pairs)

    def failing(self) -> list[str]:
        """Methods in at least one pair that does not agree."""
        return sorted({m for p in self.pairs if p.status in FAILING for m in (p.a, p.b)})

    def summary(self) -> str:
        if self.ok:
            return "OK: all methods agree within tolerances derived from the measured noise of f"
        odd = self.odd_one_out
        if odd:
            others = [m for m in self.values if m != odd]
            out = [f"FAIL: {odd} disagrees with {', '.join(others)}, which agree with each other"]
        elif self.failing():
            out = [f"FAIL: {', '.join(self.failing())} disagree, and no single method is the odd one out"]
        else:
            out = ["CANNOT VERIFY: no pair disagrees, but some pair could not have caught an error"]
        for p in self.pairs:
            where = [
                s.name for s in self.arrays if any(q.a == p.a and q.b == p.b and q.status != "agree" for q in s.pairs)
            ]
            if p.status == "non-finite":
                bad = p.a if not np.isfinite(p.value_a) else p.b if not np.isfinite(p.value_b) else "the tolerance"
                out.append(
                    f"  {p.a} vs {p.b}: {bad} is not finite at {self.label(p.worst)}: {p.a}={p.value_a}, {p.b}={p.value_b}"
                )
            elif p.status == "disagree":
                out.append(
                    f"  {p.a} vs {p.b}: wrong in {', '.join(where)}; worst at {self.label(p.worst)}: {p.a}={p.value_a:.17g}, "
                    f"{p.b}={p.value_b:.17g}, relative error {p.rel_err:.3g} > tolerance {p.tol_rel:.3g}"
                    + (f"; {p.reason}" if p.reason else "")
                )
            elif p.status == "cannot verify":
                out.append(f"  {p.a} vs {p.b}: cannot verify at {self.label(p.worst)}: {p.reason}")
        return "\n".join(out)

    def __str__(self) -> str:
        what = "coordinates" if self.mode == "full" else "directions"
        names = ", ".join(f"{s.name} {s.shape}" for s in self.arrays)
        lines = [f"check_function: dtype={self.dtype} mode={self.mode} parameters={self.size} ({names})"]
        value = f"f(params) = {self.f_value:.10g}"
        if self.torch_value is not None:
            value += f", torch_f(params) = {self.torch_value:.10g}"
        lines += [f"{value}; noise of f = {self.noise:.3g} ({self.noise_note})", ""]
        width = max(len(m) for m in self.methods)
        lines += [f"{m:<{width}}  {text}" for m, text in self.methods.items()] + [""]
        lines += self._worst_table(what) + [""] + self._pair_table() + ["", self.summary()]
        return "\n".join(lines)

    def _worst_table(self, what: str) -> list[str]:
        # per array: the coordinate with the largest |diff| / tol over all pairs, every method's value there
        names = list(self.values)
        lab = max(len(self.label(max(s.pairs, key=_ratio).worst)) for s in self.arrays)
        head = f"{'worst of ' + what:<{max(lab, 20)}}  " + "  ".join(f"{m:>23}" for m in names)
        lines = [head + f"  {'tolerance':>9}  status"]
        for s in self.arrays:
            p = max(s.pairs, key=_ratio)
            row = "  ".join(f"{self.values[m][p.worst]:>23.15e}" for m in names)
            status = "ok" if s.ok else "FAIL" if any(q.status in FAILING for q in s.pairs) else "unverified"
            lines.append(f"{self.label(p.worst):<{max(lab, 20)}}  {row}  {p.tol:>9.2e}  {status}")
        return lines

    def _pair_table(self) -> list[str]:
        width = max(len(p.a + p.b) for p in self.pairs) + 4
        lines = [f"{'array':<8} {'pair':<{width}} {'max rel err':>11} {'|diff|/tol':>10}  status"]
        for s in self.arrays:
            lines += [
                f"{s.name:<8} {p.a + ' vs ' + p.b:<{width}} {p.max_rel_err:>11.2e} {p.ratio:>10.3g}  {p.status}"
                for p in s.pairs
            ]
        lines += [
            f"{'all':<8} {p.a + ' vs ' + p.b:<{width}} {p.max_rel_err:>11.2e} {p.ratio:>10.3g}  {p.status}"
            for p in self.pairs
        ]
        return lines


def _ratio(p: Comparison) -> float:
    return np.inf if p.status == "non-finite" else p.ratio


def all_pairs(
    values: dict, errors: dict, groups: list[np.ndarray], limits: dict | None = None
) -> tuple[list[Comparison], list[list[Comparison]]]:
    """Every pair over all indices, and over each group of indices (one group per array)."""
    pairs = list(itertools.combinations(values, 2))
    every = np.concatenate(groups)
    return (
        [compare(a, b, values, errors, every, limits) for a, b in pairs],
        [[compare(a, b, values, errors, g, limits) for a, b in pairs] for g in groups],
    )
