"""The error source of the one-neuron check: tolerances predicted by the rounding error model.

:class:`Predicted` holds a pair (A, B) to tol_j = model.tolerance(err_A, err_B) (SAFETY (err_A +
err_B), :mod:`gd_torch.precision.errormodel`) with the sum of the two methods' kink allowances on
top (:func:`gd_torch.verdict.kinks.kink_allowance`).  :func:`unresolved` finds where an
agreement could not have caught an error; :func:`report` is the verdict.  :func:`gd_torch.check`
and the check on ranks (:mod:`gd_torch.distributed.checking`) both report through it, so that
both judge alike.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..base import finite as _finite
from ..gradients import Estimate
from ..model.activations import Activation
from ..model.losses import Loss
from ..precision import errormodel
from .compare import compare
from .engine import Terms, judge
from .kinks import one_sided, unseen
from .report import CheckReport, Unresolved
from .report_text import MODEL_TEXT


@dataclass(frozen=True)
class Predicted:
    """Each method's estimate (its values and predicted error) and kink allowance, and the model."""

    model: errormodel.ErrorModel
    estimates: dict[str, Estimate]
    allowances: dict[str, np.ndarray]

    def terms(self, a: str, b: str, index: np.ndarray | None = None) -> Terms:
        """A and B against tol = model.tolerance(err_A, err_B), allowance = allowance_A + allowance_B."""
        ea, eb = self.estimates[a], self.estimates[b]
        sl = slice(None) if index is None else index
        tol = _finite.quietly(lambda: self.model.tolerance(ea.error[sl], eb.error[sl]))
        allowance = np.broadcast_to(self.allowances[a] + self.allowances[b], ea.grad.shape)[sl]
        return Terms(ea.grad[sl], eb.grad[sl], tol, allowance)


@dataclass(frozen=True)
class Problem:
    """What the report says of the one-neuron problem checked: its loss and activation, dtype,
    mode ('full' or 'directional', along the unit vector ``v``) and (N, D)."""

    lo: Loss
    act: Activation
    dtype: str
    mode: str
    shape: tuple[int, int]
    v: np.ndarray | None = None


def report(
    names: list[str],
    source: Predicted,
    problem: Problem,
    witnesses: frozenset[str],
    kinks: np.ndarray,
    sides: tuple[np.ndarray, np.ndarray],
) -> CheckReport:
    """Every pair of ``names`` judged by the engine against ``source``, and what the data left
    unverified: ``witnesses`` are the finite differences, ``kinks`` the samples near a kink,
    ``sides`` the counts (:func:`gd_torch.verdict.kinks.sides`) of the samples some pair can see
    on each side of each kink and of every sample."""
    values = {spec: e.grad for spec, e in source.estimates.items()}
    seen, every = sides
    return CheckReport(
        dtype=problem.dtype,
        mode=problem.mode,
        gradients=values,
        errors={spec: e.error for spec, e in source.estimates.items()},
        pairs=judge(names, values, source),
        text=MODEL_TEXT,
        loss=problem.lo.name,
        activation=problem.act.name,
        shape=problem.shape,
        kinks=kinks,
        unexercised=one_sided(seen, problem.act),
        unresolved=unresolved(names, source, problem.v, witnesses),
        unseen=unseen(seen, every, problem.act),
    )


def unresolved(
    methods: list[str],
    source: Predicted,
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
    model = source.model
    size = model.size if v is None else np.array([np.abs(v) @ model.size])
    floor = np.full(size.shape, model.floor * (1.0 if v is None else float(np.abs(v).sum())))
    floor_tol = _finite.quietly(lambda: model.tolerance(floor, floor))
    tolerances = {(a, b): _tolerance(source.terms(a, b)) for a, b in itertools.combinations(methods, 2)}
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


def _tolerance(t: Terms) -> tuple[np.ndarray, np.ndarray]:
    # a pair's tolerance per coordinate and where it agrees (within the tolerance plus the kink allowance)
    res = compare(t.values, t.reference, t.tol, t.allowance)
    with np.errstate(invalid="ignore"):
        return res.tol, np.isfinite(res.diff) & np.isfinite(res.tol) & (res.diff <= res.tol + res.allowance)
