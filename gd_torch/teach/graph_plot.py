"""The computational graph drawn with matplotlib (no Graphviz): one box per stage, forward edges.

Each box shows the stage's formula, its shape, a summary of its value and of dL/d(stage), the
gradient flowing back into it.  The forward pass runs top to bottom; a stage sits one row below
its lowest parent, and an input (a stage without parents: X, y, W) one row above its first
consumer.  Any list of :class:`GraphStage` can be drawn (one neuron, two layers, ...);
:func:`stages_from_explanation` turns gd_torch.explain's ledger of one neuron into one.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from .._errors import GdTorchError, bad_value
from ..train.plots import save_figure
from .ledger import Explanation

#: box fill by role (Okabe-Ito hues, light): a leaf with a gradient (weights), an intermediate
#: stage, the output (a stage no other consumes), an input that needs no gradient (data)
FILL = {"leaf": "#E69F00", "stage": "#56B4E9", "output": "#009E73", "constant": "#999999"}
#: characters per line of a box
WIDTH = 46


@dataclass(frozen=True)
class GraphStage:
    """One box: ``value`` (its shape is drawn), ``gradient`` dL/d(stage) of the same shape (None
    for an input that needs no gradient), the names of the stages it is computed from, the
    formula that computes it and an optional one-line note."""

    name: str
    value: np.ndarray
    gradient: np.ndarray | None
    parents: tuple[str, ...] = ()
    formula: str = ""
    note: str = ""


def draw_graph(stages: Sequence[GraphStage], path: str | Path, *, title: str = "") -> Path:
    """Draw the stages as boxes joined by forward edges (parent -> stage) and write a PNG to ``path``."""
    stages = _check(stages)
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise bad_value("path", str(path), "a path ending in .png")
    place = layout(stages)
    rows = max(r for r, _ in place.values()) + 1
    cols = max(sum(1 for r2, _ in place.values() if r2 == r) for r in range(rows))
    fig = Figure(figsize=(max(7.0, 4.6 * cols), 0.6 + 1.55 * rows))
    ax = fig.add_axes((0.01, 0.06, 0.98, 0.86 if title else 0.92))
    ax.set_axis_off()
    ax.set_xlim(-cols / 2, cols / 2)
    ax.set_ylim(-rows + 0.5, 0.5)
    children = {p for s in stages for p in s.parents}
    boxes = {}
    for s in stages:
        r, x = place[s.name]
        role = "constant" if s.gradient is None else "leaf" if not s.parents else "stage"
        role = "output" if s.name not in children and s.parents else role
        boxes[s.name] = ax.text(
            x, -r, box_text(s), ha="center", va="center", ma="left", family="monospace", fontsize=8,
            bbox={"boxstyle": "round,pad=0.45", "fc": to_rgba(FILL[role], 0.28), "ec": FILL[role], "lw": 1.3},
        )  # fmt: skip
    for s in stages:
        for p in s.parents:  # forward: from the parent's bottom edge to this stage's top edge
            ax.annotate(
                "", xy=(0.5, 1.0), xycoords=boxes[s.name], xytext=(0.5, 0.0), textcoords=boxes[p],
                arrowprops={"arrowstyle": "-|>", "color": "0.25", "lw": 1.2, "shrinkA": 6, "shrinkB": 6},
            )  # fmt: skip
    if title:
        fig.suptitle(title, fontsize=10)
    fig.text(
        0.5, 0.015,
        "arrows: the forward pass; dL/d(stage) in each box is the gradient flowing back into it (against the arrows)\n"
        "orange: weights (leaves with a gradient); blue: intermediate stages; green: the output; grey: inputs",
        ha="center", fontsize=8, color="0.3",
    )  # fmt: skip
    return save_figure(fig, path)


def layout(stages: Sequence[GraphStage]) -> dict[str, tuple[int, float]]:
    """(row, x) of each stage: row 0 at the top; x centred, ordered to keep edges short."""
    stages = _check(stages)
    order = [s.name for s in stages]
    parents = {s.name: s.parents for s in stages}
    row: dict[str, int] = {}
    for name in _topological(stages):  # one row below the lowest parent
        row[name] = 1 + max((row[p] for p in parents[name]), default=-1)
    for name in order:  # inputs: one row above their first consumer
        used_by = [row[c] for c in order if name in parents[c]]
        if not parents[name] and used_by:
            row[name] = min(used_by) - 1
    shift = min(row.values())
    rows: dict[int, list[str]] = {}
    for name in order:
        rows.setdefault(row[name] - shift, []).append(name)
    x = {name: i - (len(names) - 1) / 2 for names in rows.values() for i, name in enumerate(names)}
    for _ in range(2):  # order each row by the mean x of its neighbours (barycentre heuristic)
        for names in rows.values():
            names.sort(key=lambda n: _barycentre(n, parents, order, x))
            x.update({n: i - (len(names) - 1) / 2 for i, n in enumerate(names)})
    return {n: (r, x[n]) for r, names in rows.items() for n in names}


def box_text(s: GraphStage) -> str:
    """The lines of one box: formula, shape, value summary, gradient summary, note."""
    head = textwrap.wrap(s.formula or s.name, WIDTH) or [s.name]
    shape = "(" + ", ".join(map(str, s.value.shape)) + ("," if s.value.ndim == 1 else "") + ")"
    k = max(len("value"), len(f"dL/d{s.name}")) + 2  # the two summaries aligned
    lines = [*head, f"shape {shape}", f"{'value':<{k}}{summary(s.value)}"]
    lines.append(f"{'dL/d' + s.name:<{k}}{summary(s.gradient)}" if s.gradient is not None else "no gradient (an input)")
    if s.note:
        lines += textwrap.wrap(s.note, WIDTH)
    return "\n".join(lines)


def summary(a: Any) -> str:
    """A few numbers: every entry of a vector of up to 3, else mean [min, max]."""
    a = np.asarray(a, dtype=np.float64)
    if a.size <= 3:
        return "[" + ", ".join(f"{v:.4g}" for v in a.ravel()) + "]" if a.ndim else f"{float(a):.6g}"
    return f"mean {a.mean():.3g} [min {a.min():.3g}, max {a.max():.3g}]"


def stages_from_explanation(result: Explanation, X: Any = None, y: Any = None) -> list[GraphStage]:
    """The ledger's stages (L, e, a, z, W: each computed from the next) as boxes, with X and y as
    inputs when given; each box notes whether autograd and finite differences agreed there."""
    if not isinstance(result, Explanation):
        raise bad_value("result", type(result).__name__, "an Explanation from gd_torch.explain")
    names = [s.name for s in result.stages]
    extra = {"z": ("X",) if X is not None else (), "e": ("y",) if y is not None else ()}
    out = []
    for k, s in enumerate(result.stages):
        parents = (names[k + 1],) if k + 1 < len(names) else ()
        out.append(GraphStage(s.name, s.value, s.hand, parents + extra.get(s.name, ()), s.forward, _checked(s)))
    if X is not None:
        out.append(GraphStage("X", np.asarray(X), None, (), "X (the data, bias column first)"))
    if y is not None:
        out.append(GraphStage("y", np.asarray(y), None, (), "y (the labels)"))
    return out


def draw_explanation(result: Explanation, path: str | Path, X: Any = None, y: Any = None) -> Path:
    """:func:`draw_graph` of :func:`stages_from_explanation`, titled with the problem."""
    n, d = result.shape if isinstance(result, Explanation) else (0, 0)
    stages = stages_from_explanation(result, X, y)
    title = f"one neuron: loss={result.loss}, activation={result.activation}, {result.dtype}, N={n}, D={d}"
    return draw_graph(stages, path, title=title)


def _checked(s) -> str:
    # one line: how the hand-derived gradient compared with the two other ways
    auto = "not formed" if s.autograd is None else "agrees" if s.autograd.ok else "DISAGREES"
    fd = "agrees" if s.numeric.ok else "DISAGREES"
    return f"autograd {auto}, finite diff {fd}"


def _barycentre(name: str, parents: dict[str, tuple[str, ...]], order: list[str], x: dict[str, float]) -> float:
    near = list(parents[name]) + [c for c in order if name in parents[c]]
    return float(np.mean([x[n] for n in near])) if near else x[name]


def _topological(stages: list[GraphStage]) -> list[str]:
    # Kahn's algorithm; what is left over lies on a cycle
    parents = {s.name: set(s.parents) for s in stages}
    done: list[str] = []
    ready = [s.name for s in stages if not s.parents]
    while ready:
        n = ready.pop(0)
        done.append(n)
        for s in stages:
            if n in parents[s.name]:
                parents[s.name].discard(n)
                if not parents[s.name]:
                    ready.append(s.name)
    if len(done) != len(stages):
        cyc = sorted(set(parents) - set(done))
        raise bad_value("stages", f"a cycle through {cyc}", "a graph without cycles (forward edges only)")
    return done


def _check(stages: Any) -> list[GraphStage]:
    if isinstance(stages, str | bytes) or not isinstance(stages, Sequence) or not stages:
        raise bad_value("stages", stages, "a non-empty list of GraphStage")
    for s in stages:
        if not isinstance(s, GraphStage):
            raise bad_value("stages", f"an item of type {type(s).__name__}", "GraphStage items only")
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise bad_value("stages", names, "stages with distinct names")
    for s in stages:
        unknown = [p for p in s.parents if p not in names]
        if unknown:
            raise bad_value(f"parents of {s.name!r}", unknown, f"names of stages in the list ({', '.join(names)})")
        if s.gradient is not None and np.shape(s.gradient) != np.shape(s.value):
            raise GdTorchError(
                f"gradient of {s.name!r} must have the stage's shape {np.shape(s.value)}; got {np.shape(s.gradient)}"
            )
    return list(stages)
