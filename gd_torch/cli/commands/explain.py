"""gd-torch explain: the chain-rule ledger of one gradient, and torch's backward graph."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..._errors import GdTorchError, bad_value
from ...model.forward import init_weights
from ...teach.graph_plot import draw_explanation, draw_graph
from ...teach.ledger import explain
from ...teach.mlp import EXPLAIN_MLP_PARAMS, explain_mlp
from . import _common
from ._types import flag_type

#: the library's parameters named by this command's flags
FLAGS = {"path": "--dot"}
#: the files this command writes into --out
FILES = ("graph.dot", "graph.png")
#: with --hidden: the two-layer graph drawn (no .dot: torch's graph text is written for the neuron only)
FILES_MLP = ("graph.png",)
#: what --dot may be called: Graphviz source, never the picture rendered from it
DOT_SUFFIXES = (".dot", ".gv")


def add_arguments(p: argparse.ArgumentParser) -> None:
    _common.add_data_arguments(p)
    _common.add_loss_argument(p, "one of {names} (sse)")
    _common.add_activation_argument(
        p, "one of {names}: the neuron's (sigmoid), or with --hidden the hidden layer's f (relu)", default=None
    )
    p.add_argument(
        "--hidden",
        type=flag_type(EXPLAIN_MLP_PARAMS["hidden"]),
        default=None,
        metavar="H",
        help="explain a two-layer network h = f(X W1 + b1), a = sigmoid(h w2 + b2) with H hidden units "
        "(absent: one neuron); with --out, only graph.png is written (the .dot graph is for the neuron only)",
    )
    _common.add_init_argument(p, "the neuron's weights W explained at (not with --hidden)")
    _common.add_seed_argument(p, "the weights W (with --hidden: the normal W1, b1, w2, b2) explained at")
    _common.add_out_argument(p, "explain", FILES, "none: explain writes files only when asked")
    p.add_argument(
        "--dot",
        default=None,
        metavar="FILE.dot",
        help="also write torch's backward graph as Graphviz source to FILE.dot",
    )


def run(args: argparse.Namespace) -> int:
    if args.dot is not None and Path(args.dot).suffix.lower() not in DOT_SUFFIXES:
        raise bad_value(
            "--dot",
            args.dot,
            "a file name ending in .dot or .gv (Graphviz source; dot -Tpng FILE.dot -o graph.png draws it)",
        )
    _common.use_parts(args)
    if args.hidden is not None:
        return _run_mlp(args)
    args.activation = args.activation or "sigmoid"
    X, y, desc = _common.load_data(args)
    W = init_weights(X.shape[1], args.init, args.seed, X.dtype)
    result = explain(W, X, y, loss=args.loss, activation=args.activation)
    # the files before printing: an unwritable path fails with nothing half done
    paths = [result.write_dot(args.dot)] if args.dot is not None else []
    with _common.output_folder(args, "explain", FILES, writes=False) as out:
        if out is not None:
            result.write_dot(out.file("graph.dot"))
            draw_explanation(result, out.file("graph.png"), X, y)  # the graph drawn, no Graphviz needed
    paths += [] if out is None else out.written
    print(f"data: {desc}")
    print("W: " + _common.INIT_TEXT[args.init].format(seed=args.seed) + f": {W.tolist()}")
    print(result)
    if paths:
        print("")
    for path in paths:
        if str(path).endswith(".png"):
            print(f"graph written to {path} (drawn with matplotlib)")
        else:
            print(f"graph written to {path} (render: dot -Tpng {path} -o graph.png)")
    return 0 if result.ok else 1


def _run_mlp(args: argparse.Namespace) -> int:
    if args.init != "uniform":  # the two layers are drawn by explain_mlp.init_params
        raise bad_value("--init", args.init, "no --init with --hidden (W1, b1, w2, b2 are drawn normal)")
    if args.dot is not None:
        raise GdTorchError(
            f"--dot is not available with --hidden; got --dot {args.dot!r} with --hidden {args.hidden}: torch's "
            "graph is written as Graphviz source for the one neuron only (drop --hidden), and the two-layer "
            "graph is drawn by --out DIR into DIR/graph.png"
        )
    X, y, desc = _common.load_data(args)
    seed = 42 if args.seed is None else args.seed
    result = explain_mlp(X, y, hidden=args.hidden, activation=args.activation or "relu", loss=args.loss, seed=seed)
    with _common.output_folder(args, "explain", FILES_MLP, writes=False) as out:
        if out is not None:
            title = (
                f"two layers: loss={result.loss}, hidden f={result.activation}, {result.dtype}, "
                f"N={result.shape[0]}, D={result.shape[1]}, H={result.hidden}"
            )
            draw_graph(result.graph_stages(), out.file("graph.png"), title=title)
    print(f"data: {desc}")
    print(f"W1, b1, w2, b2: normal with seed {seed} (see gd_torch.teach.mlp.init_params)")
    print(result)
    if out is not None:
        for path in out.written:
            print(f"\ngraph written to {path} (drawn with matplotlib)")
    return 0 if result.ok else 1
