"""gd-torch explain: the chain-rule ledger of one gradient, and torch's backward graph."""

from __future__ import annotations

import argparse

from ..explain import explain
from ..model import ACTIVATIONS, LOSSES, init_weights
from ._common import add_data_arguments, load_data


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data_arguments(p)
    p.add_argument("--loss", default="sse", help=f"one of {', '.join(LOSSES)} (sse)")
    p.add_argument("--activation", default="sigmoid", help=f"one of {', '.join(ACTIVATIONS)} (sigmoid)")
    p.add_argument("--seed", type=int, default=0, help="seed of the uniform [0, 1) weights W explained at (0)")
    p.add_argument("--dot", default=None, metavar="FILE.dot", help="also write torch's backward graph as Graphviz dot")


def run(args: argparse.Namespace) -> int:
    X, y, desc = load_data(args)
    W = init_weights(X.shape[1], "uniform", args.seed, X.dtype)
    result = explain(W, X, y, loss=args.loss, activation=args.activation)
    if args.dot is not None:
        path = result.write_dot(args.dot)  # before printing: an unwritable path fails with nothing half done
    print(f"data: {desc}")
    print(f"W: uniform [0, 1) with seed {args.seed}: {W.tolist()}")
    print(result)
    if args.dot is not None:
        print(f"\ngraph written to {path} (render: dot -Tpng {path} -o graph.png)")
    return 0 if result.ok else 1
