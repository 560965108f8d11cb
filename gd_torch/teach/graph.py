"""torch's backward graph as :func:`gd_torch.explain` records it, and its two exports: an indented
tree of text (:func:`graph_text`) and Graphviz's dot language (:func:`to_dot`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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


def shape_text(shape: tuple[int, ...]) -> str:
    """(3,) for a 1-tuple, (2, 3) otherwise: the shape as Python writes it."""
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def graph_text(graph: Sequence[GraphNode]) -> str:
    """The graph as an indented tree from its first node (L's) to the leaves (shared nodes once)."""
    nodes = {n.id: n for n in graph}
    lines: list[str] = []
    seen: set[int] = set()

    def show(nid: int | None, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("`- " if last else "|- ")
        if nid is None:
            lines.append(f"{prefix}{branch}(input that needs no gradient: X, y or a constant)")
            return
        n = nodes[nid]
        label = f"#{n.id} {n.kind}  {shape_text(n.shape)}" + (f"  -> {n.tensor}" if n.tensor else "")
        if nid in seen:
            lines.append(f"{prefix}{branch}#{n.id} {n.kind} (shown above)")
            return
        seen.add(nid)
        lines.append(prefix + branch + label)
        child_prefix = prefix + ("" if top else ("   " if last else "|  "))
        for k, child in enumerate(n.inputs):
            show(child, child_prefix, k == len(n.inputs) - 1, False)

    if graph:
        show(graph[0].id, "", True, True)
    return "\n".join(lines)


def to_dot(graph: Sequence[GraphNode], label: str) -> str:
    """The graph in Graphviz's dot language under the title ``label`` (render with ``dot -Tpng``)."""
    out = [
        "digraph autograd {",
        '  rankdir=TB; node [shape=box, fontname="monospace"];',
        f'  label="{label}";',
    ]
    for n in graph:
        text = f"{n.kind}\\n{shape_text(n.shape)}" + (f"\\n{n.tensor}" if n.tensor else "")
        style = ", style=filled, fillcolor=lightblue" if n.tensor else ""
        out.append(f'  n{n.id} [label="{text}"{style}];')
    consts = 0
    for n in graph:
        for child in n.inputs:
            if child is None:
                out.append(f'  c{consts} [label="no grad (X or y)", shape=plaintext, fontcolor=gray];')
                out.append(f"  n{n.id} -> c{consts} [color=gray];")
                consts += 1
            else:
                out.append(f"  n{n.id} -> n{child};")
    out.append("}")
    return "\n".join(out) + "\n"
