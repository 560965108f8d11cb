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
error model (:func:`gd_torch.errormodel.stage_errors`), not a guessed one, by the checker's one
comparison (:func:`gd_torch.check.compare`) and kink detection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special

from . import _finite, _validate, errormodel
from ._errors import GdTorchError, bad_value
from ._io import write_text
from .check import compare, kink_allowance, kink_deviation
from .gradients import numeric as _numeric
from .model import Activation, Loss, delta, prepare, reduce

#: entries of each N-vector stage printed (plus the one with the largest gradient)
SHOWN = 3


@dataclass(frozen=True)
class Comparison:
    """One method's dL/dT against the hand-derived one, entry by entry.

    ``values`` are the method's at the entries ``index``.  ``rel_err`` is normwise,
    max_i |g_i - hand_i| / max_i |hand_i|; ``agree`` is True when every compared entry satisfies
    |g_i - hand_i| <= tol_i, the tolerance predicted for the pair; ``ratio`` is |g_i - hand_i| / tol_i
    at the entry that decides (see :class:`gd_torch.check.Agreement`).  A value that is not finite
    is never agreement (``status`` 'non-finite').
    """

    values: np.ndarray
    index: np.ndarray
    rel_err: float
    ratio: float
    agree: bool
    #: outside the tolerance only by what samples at the activation's kink can contribute
    kink: bool = False
    #: entries left out because the value is not defined in floating point there (a cross-entropy's
    #: dL/da where a rounds to exactly 0 or 1; a step in a that cannot be taken so close to it)
    skipped: int = 0
    #: indices of the entries outside their tolerance (or not finite)
    failing: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    #: the checker's status: 'agree', 'disagree', 'kink' or 'non-finite'; '' when nothing was compared
    status: str = ""

    @property
    def ok(self) -> bool:
        """Agrees, or differs only across a kink, or had no defined entry to compare (see ``skipped``)."""
        return self.agree or self.kink or (self.status == "" and self.skipped > 0)


@dataclass(frozen=True)
class Stage:
    """One tensor of the forward pass and the gradient dL/dT flowing into it.

    ``hand``, ``value`` have the stage's shape ((N,), (D,) or () for L).  ``autograd`` is None
    when torch never forms dL/dT (``note`` says why); ``numeric`` holds central differences
    at the entries ``numeric.index``.
    """

    name: str
    forward: str
    local: str
    upstream: str
    value: np.ndarray
    hand: np.ndarray
    autograd: Comparison | None
    numeric: Comparison
    note: str = ""


@dataclass(frozen=True)
class GraphNode:
    """One backward node of torch's graph: its class name, the shape of the forward output it
    differentiates, the named tensor it produced (z, a, e, L, W or ''), and the ids of the
    nodes it passes gradients on to (None: an input that needs no gradient, such as X, y or a constant)."""

    id: int
    kind: str
    shape: tuple[int, ...]
    tensor: str
    inputs: tuple[int | None, ...]


@dataclass
class Explanation:
    """What :func:`explain` found: the stages from L back to W and torch's backward graph."""

    loss: str
    activation: str
    dtype: str
    shape: tuple[int, int]
    stages: list[Stage]
    graph: list[GraphNode]

    @property
    def ok(self) -> bool:
        """Every available comparison agrees within its predicted tolerance."""
        return all(s.numeric.ok and (s.autograd is None or s.autograd.ok) for s in self.stages)

    def stage(self, name: str) -> Stage:
        """The stage named 'L', 'e', 'a', 'z' or 'W'."""
        for s in self.stages:
            if s.name == name:
                return s
        raise bad_value("name", name, "one of " + ", ".join(repr(s.name) for s in self.stages))

    def graph_text(self) -> str:
        """torch's backward graph as an indented tree from L's node to W's (shared nodes once)."""
        nodes = {n.id: n for n in self.graph}
        lines: list[str] = []
        seen: set[int] = set()

        def show(nid: int | None, prefix: str, last: bool, top: bool) -> None:
            branch = "" if top else ("`- " if last else "|- ")
            if nid is None:
                lines.append(f"{prefix}{branch}(input that needs no gradient: X, y or a constant)")
                return
            n = nodes[nid]
            label = f"#{n.id} {n.kind}  {_shape_text(n.shape)}" + (f"  -> {n.tensor}" if n.tensor else "")
            if nid in seen:
                lines.append(f"{prefix}{branch}#{n.id} {n.kind} (shown above)")
                return
            seen.add(nid)
            lines.append(prefix + branch + label)
            child_prefix = prefix + ("" if top else ("   " if last else "|  "))
            for k, child in enumerate(n.inputs):
                show(child, child_prefix, k == len(n.inputs) - 1, False)

        if self.graph:
            show(self.graph[0].id, "", True, True)
        return "\n".join(lines)

    def to_dot(self) -> str:
        """The backward graph in Graphviz's dot language (render with ``dot -Tpng``)."""
        out = [
            "digraph autograd {",
            '  rankdir=TB; node [shape=box, fontname="monospace"];',
            f'  label="torch backward graph: loss={self.loss}, activation={self.activation}, N={self.shape[0]}, D={self.shape[1]}";',
        ]
        consts = 0
        for n in self.graph:
            text = f"{n.kind}\\n{_shape_text(n.shape)}" + (f"\\n{n.tensor}" if n.tensor else "")
            style = ", style=filled, fillcolor=lightblue" if n.tensor else ""
            out.append(f'  n{n.id} [label="{text}"{style}];')
        for n in self.graph:
            for child in n.inputs:
                if child is None:
                    out.append(f'  c{consts} [label="no grad (X or y)", shape=plaintext, fontcolor=gray];')
                    out.append(f"  n{n.id} -> c{consts} [color=gray];")
                    consts += 1
                else:
                    out.append(f"  n{n.id} -> n{child};")
        out.append("}")
        return "\n".join(out) + "\n"

    def write_dot(self, path: str | Path) -> Path:
        """Write :meth:`to_dot` to ``path`` atomically; a path that cannot be written is a GdTorchError."""
        try:
            return write_text(path, self.to_dot())
        except GdTorchError as exc:
            raise GdTorchError(f"path must be a writable file for the dot graph: {exc}") from None

    def __str__(self) -> str:
        n, d = self.shape
        lines = [
            f"loss={self.loss} activation={self.activation} dtype={self.dtype} N={n} D={d}",
            "each stage: the forward formula, its local derivative, the gradient dL/d(stage) by hand,",
            "by torch autograd and by central differences of the downstream computation;",
            "rel err = max|g - hand| / max|hand|; agree = every entry within its predicted rounding tolerance",
        ]
        for s in self.stages:
            lines.append("")
            lines.extend(_stage_lines(s))
        lines.append("")
        lines.append("autograd graph (backward nodes from L to W; shape = the forward output each one differentiates):")
        lines.append(self.graph_text())
        lines.append("")
        lines.append(
            "OK: hand, autograd and finite differences agree at every stage"
            if self.ok
            else "MISMATCH at stage(s): "
            + ", ".join(s.name for s in self.stages if not (s.numeric.ok and (s.autograd is None or s.autograd.ok)))
        )
        return "\n".join(lines)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _stage_lines(s: Stage) -> list[str]:
    lines = [
        f"stage {s.name}: {s.forward}    shape {_shape_text(s.value.shape)}",
        f"  local     {s.local}",
        f"  gradient  {s.upstream}",
    ]
    hand = np.atleast_1d(s.hand)
    value = np.atleast_1d(s.value)
    shown = list(range(min(SHOWN, hand.shape[0])))
    if hand.shape[0] > SHOWN and np.isfinite(hand).any():
        big = int(np.nanargmax(np.abs(hand)))
        if big not in shown:
            shown.append(big)
    num = dict(zip(s.numeric.index.tolist(), np.atleast_1d(s.numeric.values).tolist(), strict=True))
    aut = {}
    if s.autograd is not None:
        aut = dict(zip(s.autograd.index.tolist(), np.atleast_1d(s.autograd.values).tolist(), strict=True))
    head = "" if s.value.ndim == 0 else "i"
    lines.append(f"  {head:>5} {s.name:>23} {'hand':>23} {'autograd':>23} {'finite diff':>23}")
    for i in shown:
        a_txt = f"{aut[i]:>23.15e}" if i in aut else f"{'-':>23}"
        n_txt = f"{num[i]:>23.15e}" if i in num else f"{'-':>23}"
        label = "" if s.value.ndim == 0 else str(i)
        lines.append(f"  {label:>5} {value[i]:>23.15e} {hand[i]:>23.15e} {a_txt} {n_txt}")
    if s.autograd is not None:
        a = s.autograd
        a_txt = f"autograd {a.rel_err:.2e} ({_status_text(a)}, |diff|/tol {a.ratio:.2g})"
    else:
        a_txt = f"autograd -: {s.note}"
    if s.autograd is not None and s.note:
        lines_note = f"  note      {s.note}"
    else:
        lines_note = ""
    m = s.numeric
    lines.append(f"  rel err   {a_txt};  finite diff {m.rel_err:.2e} ({_status_text(m)}, |diff|/tol {m.ratio:.2g})")
    if lines_note:
        lines.append(lines_note)
    skipped = {"autograd": s.autograd.skipped if s.autograd else 0, "finite diff": m.skipped}
    for who, k in skipped.items():
        if k:
            lines.append(
                f"  skipped   {who}: {k} entries not compared, a value is not finite there "
                "(a rounds to exactly 0 or 1, or a step in a cannot be taken so close to it)"
            )
    if m.kink or (s.autograd is not None and s.autograd.kink):
        lines.append(
            "  kink      the entries that differ have z within two steps (or z's rounding) of the activation's "
            "kink: each side takes its own one-sided slope there, and the difference is within what those "
            "samples can contribute; this is not a wrong derivation"
        )
    for who, c in (("autograd", s.autograd), ("finite diff", m)):
        if c is not None and c.status == "non-finite":
            lines.append(f"  not finite {who}: inf or NaN at entries {c.failing[:5].tolist()} (never agreement)")
    return lines


def _status_text(c: Comparison) -> str:
    return {"agree": "agree", "kink": "kink", "non-finite": "NOT FINITE", "": "not compared"}.get(c.status, "DISAGREE")


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
        z = X @ W
        _validate.finite_z(z)
        n = X.shape[0]
        a = act.f(z)
        e = a - y
        L = reduce(lo, lo.terms(z, a, y))
        if not np.isfinite(L):
            raise GdTorchError(_finite.overflow_text("the loss", X.dtype, f"at W: L = {L}"))

        # ---- by hand: each gradient is the next one times the local derivative ----------------
        g_e = lo.dL_da(a, y, n)  # dL/de = dL/da (de/da = 1)
        g_e = _saturated_dL_da(g_e, z, a, y, lo, notes := {})  # a cross-entropy's, where a is 0 or 1
        g_a = g_e * 1  # dL/da = dL/de * de/da
        g_z = delta(z, y, lo, act)  # dL/dz = dL/da * da/dz (fused where it simplifies)
        g_W = X.T @ g_z  # dL/dW = X^T dL/dz
        hand = {"L": np.asarray(1.0, dtype=X.dtype), "e": g_e, "a": g_a, "z": g_z, "W": g_W}
        values = {"L": np.asarray(L, dtype=X.dtype), "e": e, "a": a, "z": z, "W": W}

        auto, torch_notes, graph = _autograd(W, X, y, lo, act)
        notes = {k: "; ".join(filter(None, (torch_notes.get(k), notes.get(k)))) for k in {*torch_notes, *notes}}
        model = errormodel.build(W, X, y, lo, act)
        tol_hand = {**errormodel.stage_errors(W, X, y, lo, act), "L": np.zeros(1), "W": model.exact}
        # dL/da of a cross-entropy at a rounded to exactly 0 or 1 is not defined in floating point
        undefined = lo.binary & ((a == 0) | (a == 1))
        skip = {"e": undefined, "a": undefined}

        # finite differences always in float64, at the stage values cast exactly from X's dtype:
        # a float32 ledger is measured against an accurate reference, not float32's u^(2/3)
        f64 = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
        W64, X64, y64 = W.astype(np.float64), X.astype(np.float64), y.astype(np.float64)
        numeric, steps = _finite_differences(W64, X64, y64, lo, act, f64, errormodel.build(W64, X64, y64, lo, act))
        kinks = _kink_allowances(model, X64, y64, lo, act, steps)

        stages = []
        for name in ("L", "e", "a", "z", "W"):
            h = np.atleast_1d(hand[name])
            tol = np.atleast_1d(tol_hand[name])
            safety = errormodel.SAFETY[str(X.dtype)]
            ag = auto.get(name)
            auto_cmp = None
            if ag is not None:
                index = np.arange(h.size)
                auto_cmp = _comparison(ag, h, index, safety * 2 * tol, kinks.get((name, "autograd")), skip.get(name))
            fd_vals, fd_index, fd_err, fd_skip = numeric[name]
            fd_tol = safety * (np.broadcast_to(tol, h.shape)[fd_index] + fd_err)
            undefined_fd = fd_skip | (skip[name][fd_index] if name in skip else False)
            fd_cmp = _comparison(fd_vals, h, fd_index, fd_tol, kinks.get((name, "numeric")), undefined_fd)
            f_text, local, up = _formulas(name, lo, act)
            note = notes.get(name, "")
            stages.append(Stage(name, f_text, local, up, values[name], hand[name], auto_cmp, fd_cmp, note))
        return Explanation(lo.name, act.name, str(X.dtype), X.shape, stages, graph)


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
    r = 1.0 / z.shape[0] if lo.reduction == "mean" else 1.0
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


def _autograd(W, X, y, lo, act):
    """dL/dT from torch for T in L, e, a, z, W; notes for the ones torch never forms; the graph."""
    import torch

    from .gradients.autograd import forward

    Wt = torch.from_numpy(W.copy()).requires_grad_(True)
    z, a, L = forward(Wt, torch.from_numpy(X), torch.from_numpy(y), lo, act)
    for t in (z, a, L):
        t.retain_grad()  # keep .grad of non-leaf tensors
    named = {L.grad_fn: "L", z.grad_fn: "z"}
    named[a.grad_fn] = "z = a" if a.grad_fn is z.grad_fn else "a"

    # walk grad_fn.next_functions from L to the leaves, numbering nodes in the order met
    order: list[Any] = []
    ids: dict[Any, int] = {}
    stack = [L.grad_fn]
    while stack:
        node = stack.pop(0)
        if node in ids:
            continue
        ids[node] = len(order)
        order.append(node)
        stack.extend(nxt for nxt, _ in node.next_functions if nxt is not None)

    # e = a - y is formed inside the loss: the node that consumes a's output produced it
    e_node = next((nd for nd in order if any(nxt is a.grad_fn for nxt, _ in nd.next_functions)), None)
    if e_node is not None and e_node is not L.grad_fn:
        named[e_node] = "e"

    shapes: dict[Any, tuple[int, ...]] = {}
    captured: dict[str, np.ndarray] = {}

    def hook(node):
        def fn(grad_inputs, grad_outputs):
            # grad_outputs[0] = dL/d(output of this node's forward op)
            shapes[node] = tuple(grad_outputs[0].shape)
            if named.get(node) == "e":
                captured["e"] = grad_outputs[0].detach().numpy().copy()

        return fn

    handles = [nd.register_hook(hook(nd)) for nd in order]
    L.backward()
    for hd in handles:
        hd.remove()

    out = {"L": L.grad.numpy(), "z": z.grad.numpy(), "W": Wt.grad.numpy()}
    notes = {}
    if "e" in captured:
        out["e"] = captured["e"]
    else:
        notes["e"] = "torch never forms e: this loss is computed from the logit z, softplus(z) - y z"
    if a.grad is not None:
        out["a"] = a.grad.numpy()
    else:
        notes["a"] = "a is not on torch's path to L: the loss is computed from the logit z, softplus(z) - y z"
    graph = []
    for nd in order:
        tensor = named.get(nd, "W" if hasattr(nd, "variable") and nd.variable is Wt else "")
        inputs = tuple(None if nxt is None else ids[nxt] for nxt, _ in nd.next_functions)
        kind = type(nd).__name__ if "AccumulateGrad" not in nd.name() else "AccumulateGrad"
        graph.append(GraphNode(ids[nd], kind, shapes.get(nd, ()), tensor, inputs))
    return out, notes, graph


def _finite_differences(W, X, y, lo, act, values, model):
    """Central differences of L with respect to each stage's tensor, with error estimates.

    L = reduce_i l_i depends on T_i (T = e, a or z) only through its own term l_i, so

        L(T + h_i e_i) - L(T - h_i e_i) = r [l_i(T_i + h_i) - l_i(T_i - h_i)]   (r = 1 for a sum, 1/N for a mean)

    exactly: all N differences come from two evaluations of the per-sample terms, at T + h and
    T - h (every entry moved at once), free of the cancellation of the other N - 1 terms.
    The terms as functions of each stage: l(e) = l(a = e + y), l(a) = terms(a), l(z) = terms(f(z)).
    For W, on which every sample depends, the numeric method of gd_torch.gradients.numeric.
    Returns, per stage, (values, indices, error estimate, entries whose step could not be taken),
    and the steps per stage (for kink detection).
    """
    cross_entropy = lo.binary  # its terms are written in the logit z; only the sigmoid is allowed
    n = X.shape[0]
    r = 1.0 if lo.reduction == "sum" else 1.0 / n

    def l_of_a(A):
        return lo.terms(special.logit(A) if cross_entropy else A, A, y)

    def l_of_e(E):
        return l_of_a(E + y)

    def l_of_z(Z):
        return lo.terms(Z, act.f(Z), y)

    u = np.finfo(X.dtype).eps
    u3 = u ** (1 / 3)
    out, steps = {}, {}
    for name, l in (("e", l_of_e), ("a", l_of_a), ("z", l_of_z)):
        T = values[name]
        scale = np.maximum(1.0, np.abs(T))
        if cross_entropy and name in ("e", "a"):  # log(a), log(1 - a): stay well inside (0, 1)
            a = values["a"]
            scale = np.minimum(scale, np.minimum(a, 1 - a))
        h = (u3 * scale).astype(X.dtype)
        shift = y if name == "e" else 0
        d1, d2 = _central(l, T, h, shift) * r, _central(l, T, 2 * h, shift) * r
        # rounding of l_i(T_i +- h_i): see errormodel.stage_difference_noise
        seen = np.abs(T + shift) if name == "e" else np.abs(T)
        subtracted = np.maximum(np.abs(l(T + h)), np.abs(l(T - h)))  # the two values the difference cancels
        extra = r * np.abs(values["z"]) if cross_entropy else np.zeros_like(T)
        if name == "z" and not cross_entropy:  # a = f(z +- h) inside the terms is rounded by u |a|
            extra = extra + np.abs(lo.dL_da(values["a"], y, n)) * np.abs(values["a"])
        noise = errormodel.stage_difference_noise(lo, u, r, subtracted, seen, d1, extra)
        err = errormodel.difference_error(d1, d2, "central", noise, h)
        vanished = ((T + h) + shift) - ((T - h) + shift) == 0  # a +- h rounds to a: no difference to take
        out[name] = (d1, np.arange(T.shape[0]), err, vanished)
        steps[name] = h
    res = _numeric.estimate(W, X, y, lo, act, scheme="central", f_noise=model.f_noise, f_rel=model.f_rel)
    out["W"] = (res.grad, np.arange(W.shape[0]), res.error, np.zeros(W.shape[0], dtype=bool))
    steps["W"] = res.steps
    L = float(values["L"])
    hL = u3 * max(1.0, abs(L))
    one = ((L + hL) - (L - hL)) / ((L + hL) - (L - hL))
    out["L"] = (np.array([one]), np.array([0]), np.array([0.0]), np.zeros(1, dtype=bool))
    return out, steps


def _central(l: Callable[[np.ndarray], np.ndarray], T: np.ndarray, h: np.ndarray, shift: Any = 0) -> np.ndarray:
    # (l_i(T_i + h_i) - l_i(T_i - h_i)) / (realised 2 h_i) for every i at once; the realised step is
    # measured after ``shift`` is added (e + y = a), as the terms see it; a step that vanishes
    # there (a so close to 0 or 1 that a +- h rounds to a) gives nan, reported as not compared
    up, down = T + h, T - h
    step = (up + shift) - (down + shift)
    return np.where(step != 0, (l(up) - l(down)) / np.where(step != 0, step, 1), np.nan)


def _kink_allowances(model, X, y, lo, act, steps) -> dict[tuple[str, str], np.ndarray]:
    # what samples at the activation's kink can move each entry of dL/dz and dL/dW by, for each
    # witness: autograd reads z within z's rounding, a central difference within 2 h
    if not act.kinks:
        return {}
    absX = np.abs(X)
    return {
        ("z", "autograd"): kink_deviation(model.z, model.ez, y, lo, act, steps=False),
        ("z", "numeric"): kink_deviation(model.z, model.ez + 2 * steps["z"], y, lo, act, steps=True),
        ("W", "autograd"): kink_allowance(model, absX, None, None, y, lo, act),
        ("W", "numeric"): kink_allowance(model, absX, steps["W"], None, y, lo, act),
    }


def _comparison(values, hand, index, tol, allowance=None, undefined=None) -> Comparison:
    # the checker's one comparison, on the entries ``index`` that are defined; the others are
    # counted as skipped (a value that overflowed is not skipped: it is not finite, never agreement)
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    index = np.asarray(index)
    ref = np.atleast_1d(np.asarray(hand, dtype=np.float64))[index]
    tol = np.broadcast_to(np.atleast_1d(tol), ref.shape)
    allow = np.zeros(ref.shape) if allowance is None else np.atleast_1d(allowance)[index]
    keep = np.ones(ref.shape, dtype=bool) if undefined is None else ~np.broadcast_to(undefined, ref.shape)
    skipped = int((~keep).sum())
    if not keep.any():
        return Comparison(values, index, float("nan"), float("nan"), False, False, skipped)
    res = compare(values[keep], ref[keep], tol[keep], allow[keep])
    scale = np.max(np.abs(ref[keep]))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rel = float(np.max(res.diff) / scale) if scale > 0 else float(np.max(res.diff))
    failing = index[keep][res.failing]
    return Comparison(
        values, index, rel, res.ratio, res.status == "agree", res.status == "kink", skipped, failing, res.status
    )
