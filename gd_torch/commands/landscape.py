"""gd-torch landscape: the loss surface over two weights, squared error beside cross-entropy,
with the descent path of a training run (gd_torch.train.fit) drawn on it."""

from __future__ import annotations

import argparse

from .._errors import bad_value
from ..gradients import METHODS
from ..landscape import landscape, plot
from ..model import ACTIVATIONS, LOSSES, objective, resolve
from ..train import fit
from ._common import add_data_arguments, load_data, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data_arguments(p)
    p.add_argument(
        "--method", default="tutorial", help=f"gradient the path descends with: {', '.join(METHODS)} (tutorial)"
    )
    p.add_argument("--loss", default="sse", help=f"loss the path is trained on: {', '.join(LOSSES)} (sse)")
    p.add_argument("--activation", default="sigmoid", help=f"one of {', '.join(ACTIVATIONS)} (sigmoid)")
    p.add_argument("--alpha", type=float, default=0.01, help="learning rate (0.01)")
    p.add_argument("--epochs", type=positive_int, default=100, help="epochs (100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the uniform [0, 1) initial weights (0)")
    p.add_argument("--weights", default="1,2", help="the two weight indices to vary, 'i,j' (1,2: the feature weights)")
    p.add_argument("--surfaces", default="sse,bce", help="losses drawn side by side (sse,bce)")
    p.add_argument("--resolution", type=positive_int, default=121, help="grid points per axis (121)")
    p.add_argument("--out", default="gd-torch-out/landscape.png", help="PNG to write (%(default)s)")


def run(args: argparse.Namespace) -> int:
    X, y, desc = load_data(args)
    try:
        i, j = (int(t) for t in args.weights.split(","))
    except ValueError:
        raise bad_value("--weights", args.weights, "two weight indices 'i,j', e.g. '1,2'") from None
    surfaces = tuple(s.strip() for s in args.surfaces.split(",") if s.strip())
    for name in surfaces:  # refuse an undefined pair before spending the training run
        resolve(name, args.activation)
    result = fit(
        X,
        y,
        method=args.method,
        loss=args.loss,
        activation=args.activation,
        alpha=args.alpha,
        epochs=args.epochs,
        seed=args.seed,
    )
    label = f"{args.method}, loss={args.loss}, alpha={args.alpha:g}, {args.epochs} epochs"
    scape = landscape(
        result.weights_history,
        X,
        y,
        i=i,
        j=j,
        losses=surfaces,
        activation=args.activation,
        resolution=args.resolution,
        label=label,
    )
    out = plot(scape, args.out, title=f"{desc}")
    start, end = result.weights_history[0], result.weights_history[-1]
    print(f"data: {desc}")
    print(f"path: {label}, W from {start.tolist()} to {end.tolist()}")
    print(
        f"map: w{i} in [{scape.grid_i[0]:.3g}, {scape.grid_i[-1]:.3g}], w{j} in [{scape.grid_j[0]:.3g}, {scape.grid_j[-1]:.3g}], {args.resolution}x{args.resolution} points"
    )
    for name, S in scape.surfaces.items():
        print(
            f"{name}: min {S.min():.4g}, max {S.max():.4g}, at the path's end {objective(end, X, y, loss=name, activation=args.activation):.4g}; "
            f"plateau (flat and high) on {100 * scape.plateau_fraction(name):.1f}% of the map"
        )
    print(f"wrote {out}")
    return 0
