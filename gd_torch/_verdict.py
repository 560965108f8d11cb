"""The verdict of a check: every pair of methods compared, and the odd one out.

:func:`judge` is shared by :func:`gd_torch.check` and the check on ranks
(:mod:`gd_torch.distributed`), so that both judge alike; :class:`CheckReport` is what they return.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from . import _finite
from ._compare import FAILING, Status, compare
from .gradients import Estimate


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
class CheckReport:
    """What :func:`check` found.  ``agree`` is True when every pair agrees (or differs only at a
    kink); ``ok`` when, besides, the data exercised every branch of the activation's derivative
    (``unexercised`` is empty): an agreement that could not have caught a wrong branch is not OK."""

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

    @property
    def agree(self) -> bool:
        """True when no pair disagrees or holds a non-finite value (differing only at a kink is fine)."""
        return all(p.status not in FAILING for p in self.pairs)

    @property
    def ok(self) -> bool:
        """True when every pair agrees and the data exercised every branch of the derivative: False
        where every z_i lies on one side of a kink (the mask was never exercised), as on a failure."""
        return self.agree and not self.unexercised

    def failing(self) -> list[str]:
        """Methods in at least one failing pair."""
        return sorted({m for p in self.pairs if p.status in FAILING for m in (p.a, p.b)})

    def __str__(self) -> str:
        from ._report import check_text

        return check_text(self)

    def summary(self) -> str:
        from ._report import check_summary

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
