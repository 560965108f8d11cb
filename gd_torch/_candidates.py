"""The library of gradients a learner plausibly computes, as data: one row per candidate, each a
per-sample vector d(z, a) with v = X^T d (or, unpaired, mean_i X_i * sum_i d_i).

A row's ``d`` receives the problem (:class:`Problem`: the loss, the activation, y and N) and the
stage values z and a = f(z), so that the rounding of a can be propagated on its own
(:func:`gd_torch.errormodel.candidate_error`).  :func:`gd_torch.diagnose.diagnose` fits each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from .gradients import tutorial as _tutorial
from .model import Activation, Loss


@dataclass(frozen=True)
class Problem:
    """The loss, the activation, the labels y (N,) and N, with the factors the candidates share."""

    lo: Loss
    act: Activation
    y: np.ndarray
    n: int

    def exact(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        # dL/dz = dL/da * da/dz, or the fused form where it simplifies
        lo = self.lo
        return lo.dL_dz(a, self.y, self.n) if lo.dL_dz is not None else lo.dL_da(a, self.y, self.n) * self.act.df(z, a)

    def dL_da(self, a: np.ndarray) -> np.ndarray:
        return self.lo.dL_da(a, self.y, self.n)

    def sq(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        # (a - y) f'(z): the squared error's chain rule without its constant
        return (a - self.y) * self.act.df(z, a)


@dataclass(frozen=True)
class Row:
    """One candidate of the table: ``description`` may name {loss} and {tutorial} (filled in per
    problem); ``when`` says for which losses it is listed."""

    key: str
    description: str
    formula: str
    d: Callable[[Problem, np.ndarray, np.ndarray], np.ndarray]
    paired: bool = True
    when: Callable[[Loss], bool] = lambda lo: True


@dataclass(frozen=True)
class Candidate:
    """One candidate for a problem: d(z, a) is the per-sample vector (float64)."""

    key: str
    description: str
    formula: str
    #: per-sample vector d(z, a) (float64); v = X^T d, or mean_i X_i * sum_i d_i when ``paired`` is False
    d: Callable[[np.ndarray, np.ndarray], np.ndarray]
    paired: bool = True


def _mean(lo: Loss) -> bool:
    return lo.reduction == "mean"


#: the candidates in the order they are tried (an earlier one wins a tie at the same vector)
TABLE: tuple[Row, ...] = (
    Row("exact", "the exact gradient of {loss}", "X^T dL/dz", Problem.exact),
    Row("mean-bce", "{tutorial}", "X^T (a - y) / N", lambda p, z, a: (a - p.y) / p.n),
    Row("sse", "the sse gradient", "X^T [2 (a - y) f'(z)]", lambda p, z, a: 2 * p.sq(z, a)),
    Row("half-sse", "the gradient of sse / 2", "X^T [(a - y) f'(z)]", Problem.sq),
    Row("mse", "the mean-squared-error gradient", "X^T [2 (a - y) f'(z)] / N", lambda p, z, a: 2 * p.sq(z, a) / p.n),
    Row("half-mse", "the gradient of mse / 2", "X^T [(a - y) f'(z)] / N", lambda p, z, a: p.sq(z, a) / p.n),
    Row("sum-bce", "the tutorial's formula without the 1/N (summed BCE)", "X^T (a - y)", lambda p, z, a: a - p.y),
    Row(
        "no-da/dz",
        "the {loss} chain rule with the activation's derivative left out",
        "X^T dL/da",
        lambda p, z, a: p.dL_da(a),
    ),
    Row(
        "no-dL/da",
        "the {loss} chain rule with the loss's derivative left out",
        "X^T f'(z)",
        lambda p, z, a: p.act.df(z, a),
    ),
    Row(
        "da/dz-at-z",
        "the {loss} chain rule with da/dz evaluated at z instead of a",
        "X^T [dL/da * f'(a -> z)]  (sigmoid: z (1 - z))",
        lambda p, z, a: p.dL_da(a) * p.act.df(z, z),
    ),
    Row(
        "f'(a)",
        "the {loss} chain rule with the derivative taken at a = f(z) instead of z",
        "X^T [dL/da * f'(f(z))]",
        lambda p, z, a: p.dL_da(a) * p.act.df(a, p.act.f(a)),
    ),
    Row(
        "sign",
        "the exact gradient of {loss} with the sign flipped",
        "-X^T dL/dz  (y - a for a - y)",
        lambda p, z, a: -p.exact(z, a),
    ),
    Row(
        "no-1/N",
        "the exact gradient of {loss} without the 1/N",
        "N X^T dL/dz",
        lambda p, z, a: p.n * p.exact(z, a),
        when=_mean,
    ),
    Row(
        "extra-1/N",
        "the exact gradient of {loss} with an extra 1/N",
        "X^T dL/dz / N",
        lambda p, z, a: p.exact(z, a) / p.n,
        when=lambda lo: not _mean(lo),
    ),
    Row(
        "unpaired",
        "the samples of X and dL/dz not paired (a sum of each instead of X^T dL/dz)",
        "mean_i X_i * sum_i dL/dz_i",
        Problem.exact,
        paired=False,
    ),
)


def candidates(lo: Loss, act: Activation, y: np.ndarray) -> list[Candidate]:
    """The rows of :data:`TABLE` listed for this loss, bound to the problem (loss, activation, y)."""
    p = Problem(lo, act, y, y.shape[0])
    tutorial = (
        "the mean-BCE gradient (the tutorial's formula)"
        if _tutorial.gradient_of(lo, act)[1] == "bce"  # what the tutorial's rule is, said once there
        else "the tutorial's formula (with the sigmoid it is the mean-BCE gradient)"
    )
    return [
        Candidate(r.key, r.description.format(loss=lo.name, tutorial=tutorial), r.formula, partial(r.d, p), r.paired)
        for r in TABLE
        if r.when(lo)
    ]


def combine(X: np.ndarray, d: np.ndarray, paired: bool) -> np.ndarray:
    """v = X^T d, or mean_i X_i * sum_i d_i for a candidate whose samples are not paired."""
    return X.T @ d if paired else X.mean(axis=0) * d.sum()
