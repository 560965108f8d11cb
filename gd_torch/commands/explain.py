"""gd-torch explain: the chain-rule ledger of one gradient, and torch's backward graph."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._errors import bad_value
from ..explain import explain
from ..graph_plot import draw_explanation
from ..model import ACTIVATIONS, LOSSES, init_weights
from ._common import add_data_arguments, add_out_argument, add_seed_argument, load_data, one_of, output_folder

#: the library's parameters named by this command's flags
FLAGS = {"path": "--dot"}
#: the files this command writes into --out
FILES = ("graph.dot", "graph.png")
#: what --dot may be called: Graphviz source, never the picture rendered from it
DOT_SUFFIXES = (".dot", ".gv")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data_arguments(p)
    p.add_argument("--loss", type=one_of(LOSSES), default="sse", help=f"one of {', '.join(LOSSES)} (sse)")
    p.add_argument(
        "--activation", type=one_of(ACTIVATIONS), default="sigmoid", help=f"one of {', '.join(ACTIVATIONS)} (sigmoid)"
    )
    add_seed_argument(p, "the uniform [0, 1) weights W explained at")
    add_out_argument(p, "explain", FILES, "none: explain writes files only when asked")
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
    X, y, desc = load_data(args)
    W = init_weights(X.shape[1], "uniform", args.seed, X.dtype)
    result = explain(W, X, y, loss=args.loss, activation=args.activation)
    # the files before printing: an unwritable path fails with nothing half done
    paths = [result.write_dot(args.dot)] if args.dot is not None else []
    with output_folder(args, "explain", FILES, writes=False) as out:
        if out is not None:
            result.write_dot(out.file("graph.dot"))
            draw_explanation(result, out.file("graph.png"), X, y)  # the graph drawn, no Graphviz needed
    paths += [] if out is None else out.written
    print(f"data: {desc}")
    print(f"W: uniform [0, 1) with seed {args.seed}: {W.tolist()}")
    print(result)
    if paths:
        print("")
    for path in paths:
        if str(path).endswith(".png"):
            print(f"graph written to {path} (drawn with matplotlib)")
        else:
            print(f"graph written to {path} (render: dot -Tpng {path} -o graph.png)")
    return 0 if result.ok else 1
