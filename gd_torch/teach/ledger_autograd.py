"""The ledger's autograd witness: dL/dT from torch for every stage T, and the backward graph.

On the forward pass of :mod:`gd_torch.gradients.autograd`, ``retain_grad`` keeps ``.grad`` of z,
a and L; e = a - y is formed inside the loss, so a hook on the backward node that produced it
reads dL/de; W's ``.grad`` is dL/dW.  Walking ``grad_fn.next_functions`` from L numbers the nodes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .graph import GraphNode

#: why a stage has no autograd value (the loss is computed from the logit z)
_ABSENT = {
    "e": "torch never forms e: this loss is computed from the logit z, softplus(z) - y z",
    "a": "a is not on torch's path to L: the loss is computed from the logit z, softplus(z) - y z",
}


def autograd_stages(W, X, y, lo, act) -> tuple[dict[str, np.ndarray], dict[str, str], list[GraphNode]]:
    """dL/dT from torch for T in L, e, a, z, W; notes for the ones torch never forms; the graph."""
    import torch

    from ..gradients.autograd import forward

    Wt = torch.from_numpy(W.copy()).requires_grad_(True)
    z, a, L = forward(Wt, torch.from_numpy(X), torch.from_numpy(y), lo, act)
    for t in (z, a, L):
        t.retain_grad()  # keep .grad of non-leaf tensors
    order, ids = _walk(L.grad_fn)
    named = _names(order, z, a, L)
    shapes, captured = _backward(L, order, named)

    out = {"L": L.grad.numpy(), "z": z.grad.numpy(), "W": Wt.grad.numpy()}
    if "e" in captured:
        out["e"] = captured["e"]
    if a.grad is not None:
        out["a"] = a.grad.numpy()
    notes = {k: why for k, why in _ABSENT.items() if k not in out}
    return out, notes, _nodes(order, ids, named, shapes, Wt)


def _walk(root) -> tuple[list[Any], dict[Any, int]]:
    # breadth-first along grad_fn.next_functions from L to the leaves, numbering nodes in the order met
    order: list[Any] = []
    ids: dict[Any, int] = {}
    queue = [root]
    while queue:
        node = queue.pop(0)
        if node in ids:
            continue
        ids[node] = len(order)
        order.append(node)
        queue.extend(nxt for nxt, _ in node.next_functions if nxt is not None)
    return order, ids


def _names(order: list[Any], z, a, L) -> dict[Any, str]:
    # backward node -> the stage its forward op produced ('z = a' when f is the identity)
    named = {L.grad_fn: "L", z.grad_fn: "z"}
    named[a.grad_fn] = "z = a" if a.grad_fn is z.grad_fn else "a"
    # e = a - y is formed inside the loss: the node that consumes a's output produced it
    e_node = next((nd for nd in order if any(nxt is a.grad_fn for nxt, _ in nd.next_functions)), None)
    if e_node is not None and e_node is not L.grad_fn:
        named[e_node] = "e"
    return named


def _backward(L, order: list[Any], named: dict[Any, str]) -> tuple[dict[Any, tuple[int, ...]], dict[str, np.ndarray]]:
    # L.backward() with a hook on every node: the shape of each forward output, and dL/de
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
    return shapes, captured


def _nodes(order, ids, named, shapes, Wt) -> list[GraphNode]:
    # one GraphNode per backward node; the AccumulateGrad of W is named 'W'
    graph = []
    for nd in order:
        tensor = named.get(nd, "W" if hasattr(nd, "variable") and nd.variable is Wt else "")
        inputs = tuple(None if nxt is None else ids[nxt] for nxt, _ in nd.next_functions)
        kind = type(nd).__name__ if "AccumulateGrad" not in nd.name() else "AccumulateGrad"
        graph.append(GraphNode(ids[nd], kind, shapes.get(nd, ()), tensor, inputs))
    return graph
