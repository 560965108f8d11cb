"""The verdict of a check: every pair of methods compared, the odd one out, and what no pair resolves.

:func:`judge` and :func:`unresolved` are shared by :func:`gd_torch.check` and the check on ranks
(:mod:`gd_torch.distributed`), so that both judge alike; :class:`CheckReport` is what they return.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from ..base import finite as _finite
from ..gradients import Estimate
from .compare import FAILING, Status, compare


@dataclass(frozen=True)
class PairResult:
    """Two methods compared coordinate by coordinate (or along one direction)."""

    a: str
    b: str
    #: 'agree', 'disagree', 'kink' (outside the tolerance only by what kinked samples explain)
    #: or 'non-finite' (a value or error estimate is inf or NaN)
    status: Status
    #: the largest relative error over all coordinates
    max_rel_err: float
    #: the coordinate that decides the status (see :class:`Agreement`), its values, its relative
    #: error, the relative tolerance it was held to and |diff| / tolerance there
    worst: int
    value_a: float
    value_b: float
    rel_err: float
    tol_rel: float
    ratio: float


@dataclass(frozen=True)
class Unresolved:
    """The coordinates (or the direction, coordinate 0 in directional mode) where ``method`` agrees
    with some method but no such pair resolves the coordinate: each agreeing pair's tolerance is
    at least S_j, the largest size the gradient coordinate can have (:func:`unresolved`).
    ``tol`` is the smallest such tolerance at each coordinate, ``size`` S_j.  ``witness``: the
    method is a finite difference (an error estimate of its own), a witness rather than a gradient
    under test, so its being unresolved where the others resolve each other is a note, not a
    reason to call the check unverified (a method under test with no other resolving partner is
    listed in its own right)."""

    method: str
    coords: tuple[int, ...]
    tol: tuple[float, ...]
    size: tuple[float, ...]
    witness: bool = False


@dataclass(frozen=True)
class CheckReport:
    """What :func:`check` found.  ``agree`` is True when every pair agrees (or differs only at a
    kink); ``ok`` when, besides, the data exercised every branch of the activation's derivative
    (``unexercised`` is empty) and every method under test agrees with some method at every
    coordinate within a tolerance smaller than the gradient's largest possible size there
    (``unverified``, the entries of ``unresolved`` that are not finite-difference witnesses, is
    empty): an agreement that could not have caught an error is not OK."""

    loss: str
    activation: str
    dtype: str
    mode: str
    shape: tuple[int, int]
    gradients: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    pairs: list[PairResult]
    odd_one_out: str | None
    kinks: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    #: the activation's kinks that no sample crosses, as (k, side): every z_i > k ('>'), < k ('<')
    #: or = k ('='); the derivative's branch beyond them was never exercised (see _compare.one_sided)
    unexercised: tuple[tuple[float, str], ...] = ()
    #: the methods and coordinates that agree only within a tolerance as large as the gradient can be
    #: there (any value of that size would have agreed), see :func:`unresolved`
    unresolved: tuple[Unresolved, ...] = ()
    #: for each unexercised kink, the samples on its missing side that no pair of methods can see
    #: there (within a finite difference's reach of it, or z's rounding): see _compare.hiding
    unseen: tuple[int, ...] = ()

    @property
    def agree(self) -> bool:
        """True when no pair disagrees or holds a non-finite value (differing only at a kink is fine)."""
        return all(p.status not in FAILING for p in self.pairs)

    @property
    def ok(self) -> bool:
        """True when every pair agrees, the data exercised every branch of the derivative and some
        agreeing pair resolves each method at each coordinate: False where every z_i lies on one
        side of a kink (the mask was never exercised) or a method's only agreements are within a
        tolerance as large as the gradient can be, as on a failure."""
        return self.agree and not self.unexercised and not self.unverified

    @property
    def unverified(self) -> tuple[Unresolved, ...]:
        """The unresolved methods under test (not finite-difference witnesses): what makes an
        agreeing check NOT VERIFIED besides an unexercised kink."""
        return tuple(u for u in self.unresolved if not u.witness)

    def failing(self) -> list[str]:
        """Methods in at least one failing pair."""
        return sorted({m for p in self.pairs if p.status in FAILING for m in (p.a, p.b)})

    def __str__(self) -> str:
        from .report_text import check_text

        return check_text(self)

    def summary(self) -> str:
        from .report_text import check_summary

        return check_summary(self)


def judge(
    methods: list[str], estimates: dict[str, Estimate], model, allowances: dict[str, np.ndarray]
) -> tuple[list[PairResult], str | None]:
    """Every pair of methods compared (:func:`compare`, the pair's tolerance from ``model`` and
    the sum of its two kink allowances), and the odd one out among them, if any."""
    pairs = [
        _pair(a, b, estimates, model, allowances[a] + allowances[b]) for a, b in itertools.combinations(methods, 2)
    ]
    return pairs, _odd_one_out(methods, pairs)


def unresolved(
    methods: list[str],
    estimates: dict[str, Estimate],
    model,
    allowances: dict[str, np.ndarray],
    v=None,
    witnesses: frozenset[str] = frozenset(),
) -> tuple[Unresolved, ...]:
    """Where a method's agreement could not have caught an error: the coordinates j at which some
    pair containing it agrees (|g_A - g_B| <= tol + kink allowance) but none resolves j.

    A pair resolves j when its tolerance tol_j is below S_j = sum_i |X_ij| |d_i| (``model.size``;
    sum_j |v_j| S_j along a unit direction v, which bounds |v . g| alike): since |g_j| <= S_j, a
    tolerance tol_j >= S_j cannot tell g_j from 0, -g_j or anything in between.  A tolerance no
    larger than two exact methods' subnormal floor (SAFETY 2 N s) resolves whatever a sum over N
    samples can: where every d_i is 0 (S_j = 0) that is as fine as the dtype tells values apart.
    A kink allowance on top is the 'kink' status's own qualification, not counted here.
    Sums over samples: block and rank sums of S_j add up, so the distributed check rules alike.
    ``witnesses``: the finite-difference methods; an entry of one is marked ``witness`` (a note,
    not NOT VERIFIED) only where two methods under test agree and resolve each other at every
    coordinate it cannot resolve: with finite differences alone, nothing is excused.
    """
    size = model.size if v is None else np.array([np.abs(v) @ model.size])
    floor = np.full(size.shape, model.floor * (1.0 if v is None else float(np.abs(v).sum())))
    floor_tol = _finite.quietly(lambda: model.tolerance(floor, floor))
    tolerances = {
        (a, b): _tolerance(estimates[a], estimates[b], model, allowances[a] + allowances[b])
        for a, b in itertools.combinations(methods, 2)
    }
    with np.errstate(invalid="ignore"):
        resolves = {pair: agrees & ((tol < size) | (tol <= floor_tol)) for pair, (tol, agrees) in tolerances.items()}
    # where two methods under test resolve each other: there, and only there, a witness may fail to
    excused = np.zeros(size.shape, dtype=bool)
    for (a, b), r in resolves.items():
        if a not in witnesses and b not in witnesses:
            excused |= r
    out = []
    for m in methods:
        mine = [(tol, agrees) for pair, (tol, agrees) in tolerances.items() if m in pair]
        best = np.min([np.where(agrees, tol, np.inf) for tol, agrees in mine], axis=0)
        with np.errstate(invalid="ignore"):
            coords = np.flatnonzero(np.isfinite(best) & (best >= size) & (best > floor_tol))
        if coords.size:
            witness = m in witnesses and bool(excused[coords].all())
            out.append(
                Unresolved(
                    m, tuple(coords.tolist()), tuple(best[coords].tolist()), tuple(size[coords].tolist()), witness
                )
            )
    return tuple(out)


def _tolerance(ea: Estimate, eb: Estimate, model, allowance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # a pair's tolerance per coordinate and where it agrees (within the tolerance plus the kink allowance)
    res = compare(ea.grad, eb.grad, _finite.quietly(lambda: model.tolerance(ea.error, eb.error)), allowance)
    with np.errstate(invalid="ignore"):
        return res.tol, np.isfinite(res.diff) & np.isfinite(res.tol) & (res.diff <= res.tol + res.allowance)


def _pair(a: str, b: str, estimates: dict[str, Estimate], model, allowance: np.ndarray) -> PairResult:
    ea, eb = estimates[a], estimates[b]
    res = compare(ea.grad, eb.grad, _finite.quietly(lambda: model.tolerance(ea.error, eb.error)), allowance)
    j = res.worst
    ga, gb = ea.grad, eb.grad
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        scale = np.maximum(np.abs(ga), np.abs(gb))
        rel = np.where(scale > 0, res.diff / np.where(scale > 0, scale, 1.0), 0.0)
        limit = res.limit[j]
        tol_rel = float(limit / scale[j]) if scale[j] > 0 else float(limit)
    max_rel = float(np.max(rel)) if res.status != "non-finite" else float("nan")
    return PairResult(a, b, res.status, max_rel, j, float(ga[j]), float(gb[j]), float(rel[j]), tol_rel, res.ratio)


def _odd_one_out(methods: list[str], pairs: list[PairResult]) -> str | None:
    # the one method whose every pair fails while all pairs without it agree
    if len(methods) < 3:
        return None
    failing = {(p.a, p.b) for p in pairs if p.status in FAILING}
    if not failing:
        return None
    for m in methods:
        with_m = {(p.a, p.b) for p in pairs if m in (p.a, p.b)}
        if with_m == failing:
            return m
    return None
