"""The library of gradients a learner plausibly computes, as data: one row per candidate, each a
per-sample vector d(z, a) with v = X^T d (or, unpaired, mean_i X_i * sum_i d_i).

A row's ``d`` receives the problem (:class:`Problem`: f, y, N and the derivatives) and the stage
values z and a = f(z), so that the rounding of a can be propagated on its own
(:func:`gd_torch.precision.errormodel.candidate_error`).  :func:`gd_torch.verdict.diagnosis.diagnose` fits each.
The derivatives are never the ones under test: a user's own Activation or Loss is differentiated
by torch autograd of its forward (:func:`problem`), or the table is not built (:func:`unverifiable`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..gradients import tutorial as _tutorial
from ..model.activations import ACTIVATIONS, Activation
from ..model.forward import delta
from ..model.losses import LOSSES, Loss


@dataclass(frozen=True)
class Problem:
    """The activation f, the labels y (N,) and N, with the derivatives the candidates are built
    from, each a function of (z, a): dL/da, f'(z) and dL/dz (the exact gradient's per-sample
    vector).  See :func:`problem`: never the derivatives under test."""

    f: Callable[[np.ndarray], np.ndarray]
    y: np.ndarray
    n: int
    dL_da: Callable[[np.ndarray, np.ndarray], np.ndarray]
    df: Callable[[np.ndarray, np.ndarray], np.ndarray]
    exact: Callable[[np.ndarray, np.ndarray], np.ndarray]

    def sq(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        # (a - y) f'(z): the squared error's chain rule without its constant
        return (a - self.y) * self.df(z, a)


def unverifiable(lo: Loss, act: Activation) -> str:
    """Why no table independent of a user's own derivatives can be built ('' when one can): a
    part of the user's own is differentiated by torch autograd of its forward, which it must have."""
    for part, registry, forward in ((act, ACTIVATIONS, act.torch_f), (lo, LOSSES, lo.torch_terms)):
        if registry.get(part.name) is not part and forward is None:
            kind, what = type(part).__name__.lower(), "torch_f" if part is act else "torch_terms"
            return (
                f"the {kind} {part.name!r} is your own and has no {what}: its hand-written derivative is "
                f"what is under test, and nothing independent derives it here (give it a {what})"
            )
    return ""


def problem(lo: Loss, act: Activation, y: np.ndarray) -> Problem:
    """The problem's derivatives as the candidates use them: a registered part's own (tested
    against autograd and 200-bit references); a user's own part's from torch autograd of its
    forward (``torch_f``, ``torch_terms``), so that a wrong hand derivative is never "the exact
    gradient".  Call only where :func:`unverifiable` is ''."""
    n = y.shape[0]
    own_act, own_loss = ACTIVATIONS.get(act.name) is not act, LOSSES.get(lo.name) is not lo
    df = _torch_df(act.torch_f) if own_act else act.df
    if own_loss:
        partials = _torch_partials(lo, y, n)

        def dL_da(z, a):
            return partials(z, a)[1]

        def exact(z, a):  # dL/dz = dl/dz + dl/da * da/dz, each partial by autograd
            gz, ga = partials(z, a)
            return gz + ga * df(z, a)

    else:

        def dL_da(z, a):
            return lo.dL_da(a, y, n)

        def exact(z, a):  # dL/dz = dL/da * da/dz, or the fused form of the registered pair
            return delta(z, y, lo, act, n, a, df=df if own_act else None)

    return Problem(act.f, y, n, dL_da, df, exact)


def _torch_df(torch_f: Callable) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    # f'(z) elementwise by autograd of torch_f (a is not used: nothing hand-written is); torch is
    # imported here, not at module level, so that the numpy-only paths (the bench's numpy worker) never load it
    import torch

    def df(z: np.ndarray, a: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.array(z, dtype=np.float64)).requires_grad_(True)
        out = torch_f(t)  # a user's part: checked to require grad (gd_torch.model.parts)
        (g,) = torch.autograd.grad(out.sum(), t, allow_unused=True)
        return np.zeros(t.shape) if g is None else g.numpy()

    return df


def _torch_partials(lo: Loss, y: np.ndarray, n: int):
    # (dL/dz, dL/da) of L = reduce_i torch_terms(z_i, a_i, y_i), z and a held apart, by autograd
    import torch

    yt = torch.from_numpy(np.array(y, dtype=np.float64))

    def partials(z: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        zt, at = (torch.from_numpy(np.array(v, dtype=np.float64)).requires_grad_(True) for v in (z, a))
        L = lo.from_total(lo.torch_terms(zt, at, yt).sum(), n)  # checked to require grad (gd_torch.model.parts)
        grads = torch.autograd.grad(L, (zt, at), allow_unused=True)
        return tuple(np.zeros(zt.shape) if g is None else g.numpy() for g in grads)

    return partials


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
    Row("exact", "the exact gradient of {loss}", "X^T dL/dz", lambda p, z, a: p.exact(z, a)),
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
        lambda p, z, a: p.dL_da(z, a),
    ),
    Row(
        "no-dL/da",
        "the {loss} chain rule with the loss's derivative left out",
        "X^T f'(z)",
        lambda p, z, a: p.df(z, a),
    ),
    Row(
        "da/dz-at-z",
        "the {loss} chain rule with da/dz evaluated at z instead of a",
        "X^T [dL/da * f'(a -> z)]  (sigmoid: z (1 - z))",
        lambda p, z, a: p.dL_da(z, a) * p.df(z, z),
    ),
    Row(
        "f'(a)",
        "the {loss} chain rule with the derivative taken at a = f(z) instead of z",
        "X^T [dL/da * f'(f(z))]",
        lambda p, z, a: p.dL_da(z, a) * p.df(a, p.f(a)),
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
        lambda p, z, a: p.exact(z, a),
        paired=False,
    ),
)


def candidates(lo: Loss, act: Activation, y: np.ndarray) -> list[Candidate]:
    """The rows of :data:`TABLE` listed for this loss, bound to the problem (loss, activation, y)
    with derivatives from :func:`problem`."""
    p = problem(lo, act, y)
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
