"""Backprop through two layers, stage by stage, with every factor's shape, checked three ways.

    z1 = X W1 + b1     (N, H)        h = f(z1)        (N, H)
    z2 = h w2 + b2     (N,)          a = sigmoid(z2)  (N,)          L = loss(a, y)   ()

Backwards, each gradient is the one after it times that later stage's local derivative (the
derivative of a stage's output with respect to its input, as the one-neuron ledger means it;
``BACKWARD``, one rule per stage, the shapes printed from the arrays actually computed):

    dL/da  = loss'(a)                       dL/dz2 = dL/da * a (1 - a)          (N,)
    dL/dw2 = h^T (H, N) @ dL/dz2 (N,)       dL/db2 = sum_i dL/dz2_i
    dL/dh  = dL/dz2 (N, 1) * w2^T (1, H)    dL/dz1 = dL/dh * f'(z1)             (N, H)
    dL/dW1 = X^T (D, N) @ dL/dz1 (N, H)     dL/db1 = sum_i dL/dz1_i             (H,)

Each by hand (numpy, X's dtype), by torch autograd on the same graph (``retain_grad``) and by
central differences of the downstream computation (float64), held to rounding tolerances from
gd_torch.teach.mlp_check's error model by the engine's one comparison (gd_torch.verdict.compare.compare).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import GdTorchError, bad_value
from ..base import memory as _memory
from ..base import validate as _validate
from ..model.activations import ACTIVATIONS, Activation
from ..model.forward import _part, check_labels, delta, resolve
from ..precision import errormodel
from ..precision.rounding import unit_roundoff
from . import mlp_check as mc
from .graph_plot import GraphStage
from .ledger_text import status_text
from .records import Comparison, Ledger, Witnessed, comparison

#: the stages from L back to the first layer's parameters
ORDER = ("L", "a", "z2", "w2", "b2", "h", "z1", "W1", "b1")


@dataclass(frozen=True)
class Rule:
    """One stage: its forward formula, its local derivative (of the stage's output with respect
    to each of its inputs, as in the one-neuron ledger; a leaf has none), and dL/d(stage) as a
    rule on the arrays ``ns`` computed so far (``chain`` names them in braces; they are printed
    with their shapes)."""

    forward: str
    local: str
    chain: str
    grad: Callable[[dict[str, Any]], Any]


#: a leaf's local derivative: nothing below it
_LEAF = "none (a leaf: nothing below it)"

BACKWARD: dict[str, Rule] = {
    "L": Rule("L = loss(a, y)", "dL/da = loss'(a)", "dL/dL = 1", lambda ns: np.ones((), ns["a"].dtype)),
    "a": Rule("a = sigmoid(z2)", "da/dz2 = a (1 - a)", "dL/da = loss'(a) -> {=dL/da}", lambda ns: ns["loss'(a)"]),
    "z2": Rule("z2 = h w2 + b2", "dz2/dh = w2, dz2/dw2 = h, dz2/db2 = 1", "dL/dz2 = {dL/da} * {a(1-a)} -> {=dL/dz2}", lambda ns: ns["delta"]),
    "w2": Rule("w2 (a leaf)", _LEAF, "dL/dw2 = {h^T} @ {dL/dz2} -> {=dL/dw2}", lambda ns: ns["h^T"] @ ns["dL/dz2"]),
    "b2": Rule("b2 (a leaf)", _LEAF, "dL/db2 = sum_i {dL/dz2} -> {=dL/db2}", lambda ns: ns["dL/dz2"].sum()),
    "h": Rule(
        "h = f(z1)", "dh/dz1 = f'(z1)", "dL/dh = {dL/dz2[:, None]} * {w2[None, :]} -> {=dL/dh}",
        lambda ns: ns["dL/dz2[:, None]"] * ns["w2[None, :]"],
    ),  # fmt: skip
    "z1": Rule("z1 = X W1 + b1", "dz1/dW1 = X, dz1/db1 = 1", "dL/dz1 = {dL/dh} * {f'(z1)} -> {=dL/dz1}", lambda ns: ns["dL/dh"] * ns["f'(z1)"]),
    "W1": Rule("W1 (a leaf)", _LEAF, "dL/dW1 = {X^T} @ [{dL/dh} * {f'(z1)}] -> {=dL/dW1}", lambda ns: ns["X^T"] @ ns["dL/dz1"]),
    "b1": Rule("b1 (a leaf)", _LEAF, "dL/db1 = sum_i {dL/dz1} -> {=dL/db1}", lambda ns: ns["dL/dz1"].sum(axis=0)),
}  # fmt: skip
_SLOT = re.compile(r"\{(=?)([^}]+)\}")


@dataclass(frozen=True)
class MLPStage(Witnessed):
    """One stage: ``value`` and ``hand`` have the stage's shape; ``factors`` are the (name, shape)
    of every array in the chain rule as computed; ``chain`` is the rule written with them."""

    name: str
    forward: str
    local: str
    chain: str
    factors: tuple[tuple[str, tuple[int, ...]], ...]
    value: np.ndarray
    hand: np.ndarray
    autograd: Comparison | None
    numeric: Comparison
    note: str = ""


@dataclass
class MLPExplanation(Ledger[MLPStage]):
    """What :func:`explain_mlp` found: the stages from L back to b1, and the parameters used."""

    loss: str
    activation: str
    dtype: str
    shape: tuple[int, int]
    hidden: int
    stages: list[MLPStage]
    X: np.ndarray
    y: np.ndarray

    def graph_stages(self) -> list[GraphStage]:
        """The forward graph as boxes for gd_torch.teach.graph_plot.draw_graph."""
        st = {s.name: s for s in self.stages}
        parents = {"z1": ("X", "W1", "b1"), "h": ("z1",), "z2": ("h", "w2", "b2"), "a": ("z2",), "L": ("a", "y")}
        out = [GraphStage("X", self.X, None, (), "X (the data)"), GraphStage("y", self.y, None, (), "y (the labels)")]
        for name in ("W1", "b1", "z1", "h", "w2", "b2", "z2", "a", "L"):
            s = st[name]
            out.append(GraphStage(name, s.value, s.hand, parents.get(name, ()), s.forward, _checked(s)))
        return out

    def __str__(self) -> str:
        n, d = self.shape
        lines = [
            f"two layers: loss={self.loss} hidden activation f={self.activation} dtype={self.dtype} "
            f"N={n} D={d} H={self.hidden}",
            "each stage: forward formula, local derivative (of the stage's output with respect to its inputs),",
            "dL/d(stage) by the chain rule with every factor's shape;",
            "rel err = max|g - hand| / max|hand| for autograd and central differences",
        ]
        for s in self.stages:
            lines += ["", f"stage {s.name}: {s.forward}    shape {_shape(s.value.shape)}", f"  local     {s.local}"]
            lines.append(f"  gradient  {s.chain}")
            a = s.autograd
            a_txt = f"autograd -: {s.note}" if a is None else f"autograd {a.rel_err:.2e} ({status_text(a)})"
            m = s.numeric
            lines.append(f"  rel err   {a_txt};  finite diff {m.rel_err:.2e} ({status_text(m)})")
        bad = [s.name for s in self.stages if not s.ok]
        lines += ["", "OK: hand, autograd and finite differences agree at every stage" if not bad else
                  "MISMATCH at stage(s): " + ", ".join(bad)]  # fmt: skip
        return "\n".join(lines)


def _shape(shape: tuple[int, ...]) -> str:
    return "()" if not shape else f"({shape[0]},)" if len(shape) == 1 else "(" + "x".join(map(str, shape)) + ")"


def _checked(s: MLPStage) -> str:
    auto = "not formed" if s.autograd is None else "agrees" if s.autograd.ok else "DISAGREES"
    return f"autograd {auto}, finite diff {'agrees' if s.numeric.ok else 'DISAGREES'}"


#: arrays of N x H and of (D + 1) x H that explain_mlp holds at its peak (an upper estimate: numpy's
#: traced peak is about 37 N x H arrays of float64, the resident growth about 40, at N = 1000)
ARRAYS_NH = 48
ARRAYS_DH = 8
#: float64 arrays of N x D held at once besides: X's float64 copies (the ledger's, the
#: differences', torch's) whatever H (tracemalloc: 3.5 to 3.98 for H = 1 to 4; one spare)
ARRAYS_ND = 5


def init_params(d: int, hidden: int, seed: int, dtype: Any) -> dict[str, np.ndarray]:
    """W1 ~ N(0, 1/D), b1 ~ N(0, 0.1^2), w2 ~ N(0, 1/H), b2 ~ N(0, 0.1^2), from ``seed``, in ``dtype``."""
    rng = np.random.default_rng(seed)
    p = {
        "W1": rng.normal(0, 1 / np.sqrt(d), (d, hidden)),
        "b1": rng.normal(0, 0.1, hidden),
        "w2": rng.normal(0, 1 / np.sqrt(hidden), hidden),
        "b2": rng.normal(0, 0.1, ()),
    }
    return {k: np.asarray(v, dtype=dtype) for k, v in p.items()}


def backprop(p: dict[str, np.ndarray], fw: dict[str, np.ndarray], X, y, lo, f: Activation) -> dict[str, Any]:
    """Every array of the hand backward pass by name (the factors the rules print), in X's dtype."""
    ns: dict[str, Any] = {"X^T": X.T, "w2[None, :]": p["w2"][None, :], "h^T": fw["h"].T, "a": fw["a"]}
    ns["loss'(a)"] = lo.dL_da(fw["a"], y, X.shape[0])  # dL/da
    ns["a(1-a)"] = mc.SIGMOID.df(fw["z2"], fw["a"])  # da/dz2
    ns["delta"] = delta(fw["z2"], y, lo, mc.SIGMOID, a=fw["a"])  # dL/dz2 = dL/da * da/dz2 (fused for bce)
    ns["f'(z1)"] = f.df(fw["z1"], fw["h"])  # dh/dz1
    for name in ORDER:
        ns[f"dL/d{name}"] = np.asarray(BACKWARD[name].grad(ns))
        if name == "z2":
            ns["dL/dz2[:, None]"] = ns["dL/dz2"][:, None]
    return ns


#: what explain_mlp's hidden and seed accept (gd-torch explain's --hidden parses with this constraint)
EXPLAIN_MLP_PARAMS: dict[str, _validate.Constraint] = {
    "hidden": _validate.Integer(minimum=1),
    "seed": _validate.Integer(minimum=0),
}


def explain_mlp(
    X: Any, y: Any, *, hidden: int = 4, activation: str | Activation = "relu", loss: str = "sse", seed: int = 42
) -> MLPExplanation:
    """The two-layer network's backward pass, every stage checked three ways.

    X : (N, D) float32 or float64; y : (N,); hidden : H, the hidden width; activation : the hidden
    layer's f (a name of gd_torch.ACTIVATIONS or an Activation); loss : any loss defined with the
    sigmoid output; seed : of the parameters (:func:`init_params`, in X's dtype).
    """
    lo, _ = resolve(loss, "sigmoid")
    f = _part("activation", activation, ACTIVATIONS, Activation)
    if f.torch_f is None or lo.torch_terms is None:
        raise bad_value("activation", f.name, "an activation (and loss) with a torch version (torch_f) for autograd")
    hidden, seed = _validate.params(EXPLAIN_MLP_PARAMS, hidden=hidden, seed=seed).values()
    _, X, y = _validate.problem(_validate.zero_weights(X), X, y)
    check_labels(lo, y)
    n, d = X.shape
    # about ARRAYS_NH arrays of N x H (z1, h and their gradients, float64 copies, torch's, the
    # differences' moved copies) and ARRAYS_DH of (D + 1) x H (W1, b1, their gradients and steps)
    # and ARRAYS_ND of N x D (X's copies): those alone refuse the data, not the width
    per_unit = (ARRAYS_NH * n + ARRAYS_DH * (d + 1)) * np.dtype(np.float64).itemsize
    data = ARRAYS_ND * d * np.dtype(np.float64).itemsize
    _memory.at_most("len(X)", n, data, f"{ARRAYS_ND} float64 copies of X ({n} x {d}), whatever hidden")
    _memory.at_most("hidden", hidden, per_unit, f"the two-layer ledger on {n} x {d} data", fixed=n * data)
    p = init_params(d, hidden, seed, X.dtype)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        fw = mc.forward(p, X, y, lo, f)
        if not np.isfinite(fw["L"]):
            raise GdTorchError(f"the loss is not finite (L = {fw['L']}): scale X down")
        ns = backprop(p, fw, X, y, lo, f)
    return _ledger(p, fw, ns, X, y, lo, f)


def _ledger(p, fw, ns, X, y, lo, f) -> MLPExplanation:
    v = {k: np.asarray(val) for k, val in {**p, **fw}.items()}
    hand = {name: ns[f"dL/d{name}"] for name in ORDER}
    for name in ORDER:
        if hand[name].shape != v[name].shape:
            raise GdTorchError(f"dL/d{name} has shape {hand[name].shape}, {name} has {v[name].shape}")
    v64 = {k: val.astype(np.float64) for k, val in v.items()}
    g64 = {k: val.astype(np.float64) for k, val in hand.items()}
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    err = mc.hand_errors(v64, g64, X64, y64, lo, f, X.dtype)
    auto, notes = mc.autograd(p, X, y, lo, f)
    fd = mc.differences(v64, g64, X64, y64, lo, f)
    u = unit_roundoff(X.dtype)
    reach = mc.kink_reach(v64, X64, {k: fd[k][2] for k in ("z1", "W1", "b1")}, u)
    allow_auto = mc.kink_allowance(v64, g64, f, X64, reach["autograd"])
    safety = errormodel.SAFETY[str(X.dtype)]
    stages = []
    for name in ORDER:
        h = np.atleast_1d(g64[name]).ravel()
        tol = np.atleast_1d(err[name]).ravel()
        idx = np.arange(h.size)
        a_cmp = None
        if name in auto:
            a_cmp = comparison(np.ravel(auto[name]), h, idx, safety * 2 * tol, _flat(allow_auto.get(name)))
        vals, fd_err, _ = fd[name]
        allow = mc.kink_allowance(v64, g64, f, X64, reach[name]).get(name) if name in reach else None
        n_cmp = comparison(np.ravel(vals), h, idx, safety * (tol + np.ravel(fd_err)), _flat(allow))
        r = BACKWARD[name]
        chain, factors = _written(r.chain, ns)
        stages.append(
            MLPStage(name, r.forward, r.local, chain, factors, v[name], hand[name], a_cmp, n_cmp, notes.get(name, ""))
        )
    return MLPExplanation(lo.name, f.name, str(X.dtype), X.shape, p["w2"].shape[0], stages, X, y)


def _flat(a):
    return None if a is None else np.ravel(a)


def _written(chain: str, ns: dict[str, Any]) -> tuple[str, tuple[tuple[str, tuple[int, ...]], ...]]:
    # each {name} becomes 'name (shape)', {=name} the shape alone, from the arrays in ns
    factors = []

    def fill(m: re.Match) -> str:
        shape = tuple(np.shape(ns[m[2]]))
        factors.append((m[2], shape))
        return _shape(shape) if m[1] else f"{m[2]} {_shape(shape)}"

    return _SLOT.sub(fill, chain), tuple(factors)
