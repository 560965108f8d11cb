"""The chain-rule ledger: every stage of the forward pass, its gradient by hand, by autograd
and by finite differences, and the graph torch built.

The forward pass of one neuron, stage by stage (N samples, D weights):

    z = X W          (N,)    local derivative  dz_i/dW_j = X_ij
    a = f(z)         (N,)    local derivative  da/dz = f'(z)       (sigmoid: a (1 - a))
    e = a - y        (N,)    local derivative  de/da = 1
    L = loss(e)      ()      local derivative  dL/de = dL/da       (sse: 2 e)

and backwards, the gradient flowing into each stage is the one after it times the local
derivative (sse with the sigmoid):

    dL/dL = 1,  dL/de = 2 e,  dL/da = dL/de * 1,  dL/dz = dL/da * a (1 - a),  dL/dW = X^T dL/dz

Each gradient is computed three ways: by hand (the formulas above, numpy), by torch autograd on
the forward pass of :mod:`gd_torch.gradients.autograd` (``retain_grad`` on z, a and L, a hook on
the backward node that produced e, ``.grad`` of the leaf W), and by central differences of the
part of the computation downstream of the stage (perturb one entry of z, say, and evaluate
L(z + h e_i)), vectorised over the entries.  Each pair is held to a tolerance from a rounding
error model (:func:`gd_torch.precision.errormodel.stage_errors`), not a guessed one, by the checking
engine's one comparison (:func:`gd_torch.verdict.compare.compare`) and kink detection.

This module assembles the ledger; each witness and each view has its own module:
``records`` (Comparison, Stage), ``ledger_autograd`` (torch's dL/dT and graph),
``ledger_numeric`` (finite differences), ``ledger_text`` (the printout) and
``graph`` (GraphNode, the graph as text and as dot).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import GdTorchError
from ..base import finite as _finite
from ..base import validate as _validate
from ..base.files import write_text
from ..model.activations import Activation
from ..model.forward import delta, prepare, reduce
from ..model.losses import Loss
from ..precision import errormodel
from .graph import GraphNode, graph_text, to_dot
from .ledger_autograd import autograd_stages
from .ledger_numeric import finite_differences, kink_allowances
from .ledger_text import ledger_text
from .records import Ledger, Stage, comparison

__all__ = ["Explanation", "explain"]

#: the stages from L back to W, in the order they are listed
STAGES = ("L", "e", "a", "z", "W")


@dataclass
class Explanation(Ledger[Stage]):
    """What :func:`explain` found: the stages from L back to W and torch's backward graph."""

    loss: str
    activation: str
    dtype: str
    shape: tuple[int, int]
    stages: list[Stage]
    graph: list[GraphNode]

    def graph_text(self) -> str:
        """torch's backward graph as an indented tree from L's node to W's (shared nodes once)."""
        return graph_text(self.graph)

    def to_dot(self) -> str:
        """The backward graph in Graphviz's dot language (render with ``dot -Tpng``)."""
        n, d = self.shape
        title = f"torch backward graph: loss={self.loss}, activation={self.activation}, N={n}, D={d}"
        return to_dot(self.graph, title)

    def write_dot(self, path: str | Path) -> Path:
        """Write :meth:`to_dot` to ``path`` atomically; a path that cannot be written is a GdTorchError."""
        try:
            return write_text(path, self.to_dot())
        except GdTorchError as exc:
            raise GdTorchError(f"path must be a writable file for the dot graph: {exc}", param="path") from None

    def __str__(self) -> str:
        n, d = self.shape
        problem = f"loss={self.loss} activation={self.activation} dtype={self.dtype} N={n} D={d}"
        return ledger_text(problem, self.stages, self.graph_text(), self.ok)


@dataclass(frozen=True)
class _Witnesses:
    # everything a stage is compared with: values and dL/dT by hand, the tolerance of the hand
    # gradient, autograd's dL/dT (and notes where torch forms none), the finite differences, the
    # kink allowances, the entries where dL/dT is undefined, and the dtype's safety factor
    values: dict[str, np.ndarray]
    hand: dict[str, np.ndarray]
    tol_hand: dict[str, np.ndarray]
    auto: dict[str, np.ndarray]
    notes: dict[str, str]
    numeric: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    kinks: dict[tuple[str, str], np.ndarray]
    skip: dict[str, np.ndarray]
    safety: float


def explain(
    W: Any,
    X: Any,
    y: Any,
    *,
    loss: str = "sse",
    activation: str = "sigmoid",
) -> Explanation:
    r"""Backpropagation of one neuron written out stage by stage and checked three ways.

    Parameters
    ----------
    W : array of shape (n_features,)
    X : array of shape (n_samples, n_features), float32 or float64
    y : array of shape (n_samples,)
    loss, activation : see :func:`gd_torch.objective`

    Returns
    -------
    Explanation with ``stages`` L, e, a, z, W (each: forward formula, local derivative, dL/dT by
    hand, autograd's dL/dT, central differences, relative errors) and ``graph``, torch's backward
    nodes with shapes (``graph_text()``, ``to_dot()``, ``write_dot(path)``).
    """
    W, X, y, lo, act = prepare(W, X, y, loss, activation)
    # saturated a (exactly 0 or 1) makes the cross-entropy's dL/da infinite: shown and skipped, not warned
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        values = _forward(W, X, y, lo, act)
        hand, hand_notes = _by_hand(values, X, y, lo, act)
        auto, torch_notes, graph = autograd_stages(W, X, y, lo, act)
        notes = {
            k: "; ".join(filter(None, (torch_notes.get(k), hand_notes.get(k)))) for k in {*torch_notes, *hand_notes}
        }
        model = errormodel.build(W, X, y, lo, act)
        tol_hand = {**errormodel.stage_errors(W, X, y, lo, act), "L": np.zeros(1), "W": model.exact}
        # dL/da of a cross-entropy at a rounded to exactly 0 or 1 is not defined in floating point
        undefined = lo.binary & ((values["a"] == 0) | (values["a"] == 1))
        numeric, kinks = _differences(model, values, W, X, y, lo, act)
        safety = errormodel.SAFETY[str(X.dtype)]
        wit = _Witnesses(values, hand, tol_hand, auto, notes, numeric, kinks, {"e": undefined, "a": undefined}, safety)
        stages = [_stage(name, wit, lo, act) for name in STAGES]
        return Explanation(lo.name, act.name, str(X.dtype), X.shape, stages, graph)


def _forward(W, X, y, lo: Loss, act: Activation) -> dict[str, np.ndarray]:
    # z = X W, a = f(z), e = a - y, L = reduce(terms): every stage's value
    z = X @ W
    _validate.finite_z(z)
    a = act.f(z)
    L = reduce(lo, lo.terms(z, a, y))
    if not np.isfinite(L):
        raise GdTorchError(_finite.overflow_text("the loss", X.dtype, f"at W: L = {L}", L))
    return {"L": np.asarray(L, dtype=X.dtype), "e": a - y, "a": a, "z": z, "W": W}


def _by_hand(values, X, y, lo: Loss, act: Activation) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    # each gradient is the next one times the local derivative; and notes on stages
    a, z = values["a"], values["z"]
    g_e = lo.dL_da(a, y, X.shape[0])  # dL/de = dL/da (de/da = 1)
    g_e = _saturated_dL_da(g_e, z, a, y, lo, notes := {})  # a cross-entropy's, where a is 0 or 1
    g_a = g_e * 1  # dL/da = dL/de * de/da
    g_z = delta(z, y, lo, act)  # dL/dz = dL/da * da/dz (fused where it simplifies)
    g_W = X.T @ g_z  # dL/dW = X^T dL/dz
    return {"L": np.asarray(1.0, dtype=X.dtype), "e": g_e, "a": g_a, "z": g_z, "W": g_W}, notes


def _differences(model, values, W, X, y, lo: Loss, act: Activation):
    # finite differences always in float64, at the stage values cast exactly from X's dtype:
    # a float32 ledger is measured against an accurate reference, not float32's u^(2/3)
    f64 = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
    W64, X64, y64 = W.astype(np.float64), X.astype(np.float64), y.astype(np.float64)
    numeric, steps = finite_differences(W64, X64, y64, lo, act, f64, errormodel.build(W64, X64, y64, lo, act))
    return numeric, kink_allowances(model, X64, y64, lo, act, steps)


def _stage(name: str, wit: _Witnesses, lo: Loss, act: Activation) -> Stage:
    # the hand gradient of one stage held against autograd (tolerance 2 x the hand's rounding)
    # and against the finite differences (the hand's rounding plus the difference's error)
    h = np.atleast_1d(wit.hand[name])
    tol = np.atleast_1d(wit.tol_hand[name])
    skip = wit.skip.get(name)
    auto_cmp = None
    if name in wit.auto:
        index = np.arange(h.size)
        auto_cmp = comparison(wit.auto[name], h, index, wit.safety * 2 * tol, wit.kinks.get((name, "autograd")), skip)
    fd_vals, fd_index, fd_err, fd_skip = wit.numeric[name]
    fd_tol = wit.safety * (np.broadcast_to(tol, h.shape)[fd_index] + fd_err)
    undefined_fd = fd_skip | (skip[fd_index] if skip is not None else False)
    fd_cmp = comparison(fd_vals, h, fd_index, fd_tol, wit.kinks.get((name, "numeric")), undefined_fd)
    f_text, local, up = _formulas(name, lo, act)
    return Stage(name, f_text, local, up, wit.values[name], wit.hand[name], auto_cmp, fd_cmp, wit.notes.get(name, ""))


def _saturated_dL_da(g: np.ndarray, z: np.ndarray, a: np.ndarray, y: np.ndarray, lo: Loss, notes: dict) -> np.ndarray:
    """dL/da (N,) of a cross-entropy where a = sigmoid(z) rounds to exactly 0 or 1, from z.

    There (a - y) / (a (1 - a)) / N is inf or NaN in floating point, but the derivative at the
    exact a = sigmoid(z) is finite: 1 / (1 - a) = 1 + e^z and 1 / a = 1 + e^-z, so

        dL/da = [(1 - y) (1 + e^z) - y (1 + e^-z)] / N     (y = 0 or 1; / N for the mean)

    Those entries are replaced and ``notes`` says so for stages e and a.  Where even that exceeds
    the dtype's range (z beyond ~709 in float64, ~88 in float32) dL/da cannot be stated: a
    GdTorchError naming the sample, never an inf in the ledger.  Other losses: g unchanged.
    """
    at_edge = lo.binary & ((a == 0) | (a == 1)) | ~np.isfinite(g)
    if not (lo.binary and at_edge.any()):
        return g
    ze, ye = z[at_edge], y[at_edge]
    r = lo.from_total(1.0, z.shape[0])  # each term's weight in L
    with np.errstate(over="ignore"):
        exact = np.where(ye == 0, 1 + np.exp(ze), -(1 + np.exp(-ze))) * r
    if not np.isfinite(exact).all():
        i = int(np.flatnonzero(at_edge)[np.flatnonzero(~np.isfinite(exact))[0]])
        raise GdTorchError(
            f"dL/da of the cross-entropy at sample {i} (z = {z[i]:.6g}, y = {y[i]:g}, a rounds to {a[i]:g}) is "
            f"[(1 - y) (1 + e^z) - y (1 + e^-z)] / N, beyond {z.dtype}'s range: explain cannot state it "
            "(dL/dz = (a - y) / N and dL/dW are finite: gd_torch.gradient or gd_torch.check give them)"
        )
    out = g.copy()
    out[at_edge] = exact.astype(g.dtype)
    text = (
        f"dL/da at the {int(at_edge.sum())} entries where a rounds to exactly 0 or 1 is taken from z: "
        "[(1 - y) (1 + e^z) - y (1 + e^-z)] / N"
    )
    notes.update(e=text, a=text)
    return out


def _formulas(name: str, lo: Loss, act: Activation) -> tuple[str, str, str]:
    # (forward formula, local derivative of the stage's output w.r.t. its input, dL/d(stage))
    dL_de = lo.dformula.replace("dL/da", "dL/de", 1)
    fused = " = (a - y) / N (the a (1 - a) cancels)" if lo.dL_dz is not None else ""
    return {
        "L": (lo.formula, f"{dL_de} (de/da = 1, so dL/de = dL/da)", "dL/dL = 1 (where backpropagation starts)"),
        "e": ("e = a - y", "de/da = 1", f"{dL_de} (L's local derivative times dL/dL = 1)"),
        "a": (act.formula, act.dformula, "dL/da = dL/de * de/da = dL/de"),
        "z": ("z = X W", "dz_i/dW_j = X_ij", "dL/dz = dL/da * da/dz" + fused),
        "W": ("W (the weights, a leaf)", "none (nothing below W)", "dL/dW = X^T dL/dz (dL/dW_j = sum_i X_ij dL/dz_i)"),
    }[name]
